#pragma once
/// The non-blocking PostgreSQL driver: raw libpq on Asio, no thread offload.
///
/// Connects with `PQconnectStartParams` / `PQconnectPoll` driven by Asio readiness waits and
/// bounded by a timer (libpq's own connect_timeout does not apply to polling). Settings are
/// those of `pg::sync_driver`, except statement_timeout: `query_timeout` is enforced by the
/// connection itself (a server-side cancel), which also works through PgBouncer.
///
/// \par Thread safety
/// A driver is immutable after construction: its members may be called from many threads at
/// once. A connection is used by one thread at a time.

#include <connmgr/config.hpp>
#include <connmgr/driver.hpp>
#include <connmgr/pg/async_connection.hpp>
#include <connmgr/pg/sync_driver.hpp>

#include <string>

namespace connmgr::pg {

class async_driver {
public:
    using connection = async_connection;

    async_driver(const database_config& db, const pool_options& options);
    async_driver(conn_params params, std::string name, const pool_options& options,
                 bool pgbouncer = false);

    void async_connect(boost::asio::any_io_executor ex, steady_time deadline,
                       connect_handler<connection> handler) const;
    void async_ping(connection& c, steady_time deadline, ping_handler handler) const;
    bool reset(connection& c) const noexcept;
    bool is_broken(connection& c) const noexcept;
    void close(connection& c) const noexcept;

private:
    conn_params params_;
    std::string name_;
    pool_options options_;
    bool pgbouncer_;
};

static_assert(connmgr::async_driver<async_driver>);

}  // namespace connmgr::pg
