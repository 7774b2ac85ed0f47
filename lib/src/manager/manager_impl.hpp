#pragma once
// The registry behind connmgr::manager. Private to lib/src/manager.

#include <connmgr/close_summary.hpp>
#include <connmgr/config.hpp>
#include <connmgr/health.hpp>
#include <connmgr/manager.hpp>
#include <connmgr/manager_stats.hpp>
#include <connmgr/store_ref.hpp>

#include <boost/asio/any_io_executor.hpp>

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace connmgr::detail {

/// One database's pool pair behind a backend-independent interface (backends.cpp).
class pools_handle {
public:
    virtual ~pools_handle() = default;
    virtual close_summary close(std::chrono::milliseconds drain) = 0;
    virtual std::vector<pool_stats> stats() = 0;
    virtual bool is_open() = 0;
    /// Borrows and returns one connection of each flavour (throws what acquire throws).
    virtual void open_both() = 0;
    virtual erased_pools erased() = 0;
};

/// The database_pools of `db`'s backend, with no pool created yet.
/// `executors`: where the async pool's connections live (its timer on the first).
std::shared_ptr<pools_handle> make_pools_handle(const database_config& db,
                                                std::vector<boost::asio::any_io_executor> executors,
                                                std::string display_names);

/// One connect and one round trip with the backend's sync driver, bounded by connect_timeout.
database_health probe(const database_config& db);

/// The same check without blocking: a connect and a round trip with the backend's async driver
/// on `executor`, each bounded by connect_timeout; `done` runs there with the outcome. The
/// returned object owns the probe: dropping it abandons the probe and `done` never runs.
std::shared_ptr<void> start_async_probe(const database_config& db,
                                        boost::asio::any_io_executor executor,
                                        std::function<void(database_health)> done);

/// The manager's I/O threads (runtime.io_threads), one io_context each (io_runner.cpp).
class io_runner {
public:
    io_runner();
    ~io_runner();
    io_runner(const io_runner&) = delete;
    io_runner& operator=(const io_runner&) = delete;
    /// How many threads the next start runs (0 = one per core); running threads are kept.
    void set_threads(std::size_t n) noexcept;
    /// The first thread's executor (timers, probes, telemetry); starts the threads on first use.
    boost::asio::any_io_executor executor();
    /// Every thread's executor, the first one first; connections are spread over them.
    std::vector<boost::asio::any_io_executor> executors();
    /// Stops and joins the threads (pending work stays queued for a later start).
    void stop() noexcept;
    /// In a forked child: abandons the parent's io_contexts (their reactors are shared with the
    /// parent) and threads without touching them; the next executor() starts fresh.
    void abandon_after_fork() noexcept;

private:
    struct state;
    void start_locked();
    std::mutex mutex_;
    state* state_{nullptr};
    std::size_t wanted_{0};
};

class telemetry_server;

class manager_impl : public std::enable_shared_from_this<manager_impl> {
public:
    manager_impl();
    ~manager_impl();

    void configure(manager_config config);
    manager_config config() const;
    erased_pools pools_for(std::string_view name, std::optional<backend> client);
    [[noreturn]] void throw_client_mismatch(std::string_view name, backend client);
    store_ref attach(std::string store, std::string_view name);
    void detach(std::uint64_t id) noexcept;
    close_summary close_all();
    manager_stats stats();
    connmgr::health health(std::optional<health_scope> scope,
                           const std::vector<std::string>& names);
    void open(std::string_view name);
    void shutdown() noexcept;

    // The telemetry endpoint (telemetry.cpp).
    std::string serve_telemetry(std::string_view address, health_scope scope);
    void stop_telemetry() noexcept;
    std::string telemetry_address() const;
    /// health() without blocking: async probes on the I/O executor; `done` runs there.
    void async_health(health_scope scope, std::function<void(connmgr::health)> done);

private:
    struct entry {
        database_config config;  ///< of the first name that opened it
        std::shared_ptr<pools_handle> handle;
    };
    struct reference {
        std::string store;
        std::string database;
        std::string key;
    };

    /// A pool of an open entry, with the names and stores of its database filled in.
    struct open_pool {
        std::string key;  ///< "<pool_key>/<flavour>"
        pool_stats stats;
    };

    void check_fork();
    std::vector<database_config> health_targets(std::optional<health_scope> scope,
                                                const std::vector<std::string>& names);
    /// Sorts and counts the results and records them as each database's last health.
    connmgr::health summarize_health(std::vector<database_health> results);
    std::vector<open_pool> collect_open_pools();
    /// Logs one warning per pool crossing 80% utilization (DESIGN §7).
    void warn_on_utilization(const std::vector<open_pool>& pools);

    // The background monitor (monitor.cpp), on the manager's I/O thread.
    struct monitor_state;
    void start_monitor_locked();
    void arm_monitor();
    void monitor_tick();
    void destroy_monitor() noexcept;
    void record_background_health(const std::string& key, const database_health& h);
    [[noreturn]] void throw_mismatch_locked(std::string_view name, backend client);
    const database_config& find_database(std::string_view name) const;
    std::shared_ptr<pools_handle> handle_for(const database_config& db);
    std::string names_of(const std::string& key) const;
    std::vector<std::string> references_of(const std::string& key) const;

    // First member: the pools in entries_ hold I/O objects bound to its io_context, so it must
    // be destroyed after them.
    io_runner io_;

    mutable std::mutex mutex_;  ///< guards everything below
    manager_config config_;
    std::map<std::string, std::vector<std::string>> names_by_key_;  ///< sorted names
    std::map<std::string, entry> entries_;                          ///< by pool_key()
    std::map<std::uint64_t, reference> references_;
    std::uint64_t next_reference_{1};
    std::set<std::string> busy_pools_;                      ///< "<key>/<flavour>" above 80%
    std::map<std::string, bool, std::less<>> last_health_;  ///< by database name
    pid_t pid_;
    /// Null until a database opens. Created under mutex_ and handed to the I/O thread by a
    /// post; from then on its contents are touched only there. Destroyed after that thread
    /// stopped; abandoned after fork.
    monitor_state* monitor_{nullptr};

    /// The endpoint, if one is served; telemetry_listen_ is the address it was asked for.
    std::shared_ptr<telemetry_server> telemetry_;
    std::string telemetry_listen_;
    /// GET /health checks in flight (telemetry.cpp's health_run), by id.
    std::map<std::uint64_t, std::shared_ptr<void>> health_runs_;
    std::uint64_t next_health_run_{1};

    std::mutex close_mutex_;  ///< serializes close_all (concurrent callers wait, then see nothing)
};

}  // namespace connmgr::detail
