#pragma once
// Host names resolved before libpq connects (internal): PQconnectStartParams resolves them
// itself with a blocking getaddrinfo, on whatever thread calls it, the manager's I/O thread
// included. Asio's resolver runs getaddrinfo on its own thread instead.

#include <connmgr/driver.hpp>
#include <connmgr/pg/sync_driver.hpp>

#include <boost/asio/any_io_executor.hpp>

#include <functional>
#include <string>

namespace connmgr::pg::detail {

using resolved_handler =
    std::function<void(boost::system::error_code, std::string message, conn_params)>;

/// Adds `hostaddr` for every host name in `params` (each address of a name becomes one more
/// host entry, so libpq still tries them in turn; `host` stays for TLS name checks and
/// messages). IP addresses, socket directories and parameters that already carry `hostaddr`
/// pass unchanged. Completes on `ex` by `deadline`; an unresolvable name is an error naming it.
void async_resolve_hosts(boost::asio::any_io_executor ex, conn_params params, steady_time deadline,
                         resolved_handler done);

}  // namespace connmgr::pg::detail
