#pragma once
/// The process-wide registry of DESIGN §1: database names resolve to normalized URLs, each URL
/// owns one lazily created pair of pools (sync and async), shared by every name with that URL.
/// The manager runs runtime.io_threads I/O threads, one event loop each: async pools spread
/// their connections over them (each connection stays on its own), and timers, probes and the
/// telemetry endpoint run on the first. Once a database is opened, that thread probes it every
/// health_check_interval (at most once a second, without blocking) and checks pool utilization
/// every second: stats() then shows a current `healthy`, and changes are logged as they happen.
///
/// \par Thread safety
/// Every member may be called from any thread at once, close_all() included (also from a
/// thread that handles signals). Clients returned by get_client are safe to share.

#include <connmgr/close_summary.hpp>
#include <connmgr/config.hpp>
#include <connmgr/error.hpp>
#include <connmgr/health.hpp>
#include <connmgr/manager_stats.hpp>
#include <connmgr/store_ref.hpp>
#include <connmgr/url.hpp>

#include <memory>
#include <string>
#include <string_view>
#include <typeindex>
#include <vector>

namespace connmgr {

class pg_client;
class redis_client;

namespace detail {

class manager_impl;

/// One database's pool pair with its type erased: `pools` points at a
/// `database_pools<SyncDriver, AsyncDriver>` whose type is `type`.
struct erased_pools {
    std::shared_ptr<void> pools;
    std::type_index type{typeid(void)};
};

/// The backend a client type serves: `Client::backend_kind` by default; the library's own
/// clients are named here so that no client header has to know about the manager.
template <class Client>
struct client_backend {
    static constexpr connmgr::backend kind = Client::backend_kind;
};
template <>
struct client_backend<pg_client> {
    static constexpr connmgr::backend kind = connmgr::backend::postgres;
};
template <>
struct client_backend<redis_client> {
    static constexpr connmgr::backend kind = connmgr::backend::redis;
};

/// How get_client builds a Client: from `std::shared_ptr<Client::pools_type>` (its
/// database_pools<...>). Specialize for a client type that differs.
template <class Client>
struct client_traits {
    using pools_type = typename Client::pools_type;
    static constexpr connmgr::backend kind = client_backend<Client>::kind;
    static Client make(std::shared_ptr<pools_type> pools) { return Client(std::move(pools)); }
};

/// A Redis-protocol client also serves falkordb:// databases.
constexpr bool client_accepts(backend client, backend database) noexcept {
    return client == database || (client == backend::redis && database == backend::falkordb);
}

}  // namespace detail

class manager {
public:
    /// An empty manager (no databases) for tests; most programs use instance().
    manager();
    /// Calls close_all() and stops the I/O threads.
    ~manager();
    manager(const manager&) = delete;
    manager& operator=(const manager&) = delete;

    /// The process-wide manager, created on first use and closed at exit.
    static manager& instance();

    /// Replaces the configuration. Pools already open keep their options until close_all();
    /// databases that are no longer configured can no longer be reached by name. A
    /// `runtime.telemetry.listen` address not served yet starts serve_telemetry() there
    /// (throws connmgr::error when it cannot bind). `runtime.log_level` becomes the
    /// process's log level at once (set_log_level(), connmgr/log.hpp).
    void configure(manager_config config);

    /// The configuration last given to configure().
    manager_config config() const;

    /// A client of database `name`, creating its entry (not its pools) on first use.
    /// Throws config_error for an unknown name (listing the known ones) or a database of
    /// another backend (naming both).
    template <class Client>
    Client get_client(std::string_view name) {
        using traits = detail::client_traits<Client>;
        detail::erased_pools p = pools_for(name, traits::kind);
        if (p.type != std::type_index(typeid(typename traits::pools_type)))
            throw_client_mismatch(name, traits::kind);
        return traits::make(std::static_pointer_cast<typename traits::pools_type>(p.pools));
    }

    /// Records `store` as a consumer of database `name` until the returned reference goes.
    /// Throws config_error for an unknown name.
    store_ref attach(std::string store, std::string_view name);

    /// DESIGN §5: new acquires fail with shutting_down, waiters are woken, idle connections
    /// close at once and leased ones when returned; waits up to drain_timeout. Idempotent: a
    /// second call (or a concurrent one) returns an empty summary. get_client works afterwards
    /// and pools open again lazily.
    close_summary close_all();

    /// Every open pool and every configured database. Logs one warning each time a pool's
    /// utilization crosses above 80% (noticed here or by the background check, once).
    manager_stats stats();

    /// Serves this manager's pools over HTTP/1.1 on its I/O thread (DESIGN §7): GET /metrics
    /// (to_prometheus(stats())), GET /health (200 or 503, to_json of a health check of the
    /// databases `health` names, probed without blocking), GET /stats (to_json(stats()), with
    /// the leases out now). Any other path is 404, any other method 405, a header over 8 KiB
    /// 431. A connection lives at most 10 s; at most 64 are open, and beyond that a new one
    /// evicts the oldest still waiting for its request (else it is closed at once), so slow or
    /// stalled clients cannot block the pools or other scrapes.
    ///
    /// `address` is "HOST:PORT" (an IP literal, "[::1]:PORT" or "localhost"); port 0 binds any
    /// free port. Returns the address bound ("127.0.0.1:40123") and logs it. Replaces an
    /// endpoint served before. Stops on close_all(), stop_telemetry() and with the manager.
    /// Throws config_error for a malformed address, connmgr::error when it cannot bind.
    std::string serve_telemetry(std::string_view address,
                                health_scope health = health_scope::opened);

    /// Stops the endpoint, if one is served, and closes its connections.
    void stop_telemetry() noexcept;

    /// The address the endpoint is bound to ("127.0.0.1:40123"), or "" when none is served
    /// (for `runtime.telemetry.listen` with port 0).
    std::string telemetry_address() const;

    /// Probes databases concurrently, each bounded by its connect_timeout, without using
    /// pool capacity.
    connmgr::health health(health_scope scope = health_scope::opened);
    /// Probes the named databases (config_error for an unknown name).
    connmgr::health health(const std::vector<std::string>& names);

    /// Opens both pools of database `name` by borrowing and returning one connection of each
    /// flavour (what `connmgr check` does). Throws what the acquires throw.
    void open(std::string_view name);

private:
    detail::erased_pools pools_for(std::string_view name, backend client);
    [[noreturn]] void throw_client_mismatch(std::string_view name, backend client);

    std::shared_ptr<detail::manager_impl> impl_;
};

}  // namespace connmgr
