#pragma once
/// Everything a user of connmgr needs: the manager, the clients, and the free functions of
/// DESIGN §3 that act on the process-wide manager.
///
/// \par Thread safety
/// The free functions are safe from any thread, as the manager's members are.

#include <connmgr/close_summary.hpp>
#include <connmgr/config.hpp>
#include <connmgr/config_loader.hpp>
#include <connmgr/error.hpp>
#include <connmgr/falkordb/graph_client.hpp>
#include <connmgr/health.hpp>
#include <connmgr/log.hpp>
#include <connmgr/manager.hpp>
#include <connmgr/manager_stats.hpp>
#include <connmgr/pg/pg_client.hpp>
#include <connmgr/redis/redis_client.hpp>
#include <connmgr/store_ref.hpp>

#include <string_view>

namespace connmgr {

/// `manager::instance().get_client<Client>(name)`.
template <class Client>
Client get_client(std::string_view name) {
    return manager::instance().get_client<Client>(name);
}

/// `manager::instance().close_all()`.
inline close_summary close_all() { return manager::instance().close_all(); }

}  // namespace connmgr
