#pragma once
/// One database's pool pair, each created on its first use (DESIGN §1).
///
/// Clients and the manager hold a `shared_ptr<database_pools<...>>`. Drivers are built as
/// `SyncDriver(config, config.sync_pool)` and `AsyncDriver(config, config.async_pool)`.
///
/// \par Thread safety
/// Every member is safe to call from any thread at once; sync() and async() create their pool
/// exactly once under any race. close() must not be called from a thread running the async
/// pool's executor (see async_pool::close).

#include <connmgr/async_pool.hpp>
#include <connmgr/close_summary.hpp>
#include <connmgr/config.hpp>
#include <connmgr/detail/server_table.hpp>
#include <connmgr/pool_params.hpp>
#include <connmgr/pool_stats.hpp>
#include <connmgr/sync_pool.hpp>

#include <boost/asio/any_io_executor.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace connmgr::detail {

inline const char* backend_name(backend b) noexcept {
    switch (b) {
        case backend::postgres: return "postgres";
        case backend::redis: return "redis";
        case backend::falkordb: return "falkordb";
    }
    return "unknown";
}

template <class SyncDriver, class AsyncDriver>
class database_pools {
public:
    using sync_pool_type = sync_pool<SyncDriver>;
    using async_pool_type = async_pool<AsyncDriver>;

    /// The async pool's connections are spread over `executors` (its timer on the first).
    database_pools(const database_config& config,
                   std::vector<boost::asio::any_io_executor> executors,
                   std::string database_names_for_display, std::string role = "write")
        : config_(config),
          executors_(std::move(executors)),
          names_(std::move(database_names_for_display)),
          role_(std::move(role)) {}

    database_pools(const database_config& config, boost::asio::any_io_executor ex,
                   std::string database_names_for_display)
        : database_pools(config, std::vector<boost::asio::any_io_executor>{std::move(ex)},
                         std::move(database_names_for_display)) {}

    database_pools(const database_pools&) = delete;
    database_pools& operator=(const database_pools&) = delete;

    std::shared_ptr<sync_pool_type> sync() {
        std::lock_guard lock(mutex_);
        if (!sync_) {
            SyncDriver driver(config_, config_.sync_pool);
            auto rule = retire_rule_of(driver);
            sync_ = std::make_shared<sync_pool_type>(std::move(driver), params(config_.sync_pool));
            sync_follows_ = follow(sync_, std::move(rule));
        }
        return sync_;
    }

    std::shared_ptr<async_pool_type> async() {
        std::lock_guard lock(mutex_);
        if (!async_) {
            AsyncDriver driver(config_, config_.async_pool);
            auto rule = retire_rule_of(driver);
            async_ = std::make_shared<async_pool_type>(executors_, std::move(driver),
                                                       params(config_.async_pool));
            async_follows_ = follow(async_, std::move(rule));
        }
        return async_;
    }

    /// The pool pair for reads (pg_client::reader(), DESIGN §12): the database's pool options
    /// over `read_url_of(config)`, created on first use, closed and listed with this pair.
    std::shared_ptr<database_pools> reader() {
        std::lock_guard lock(mutex_);
        if (!reader_) {
            database_config read = config_;
            read.url = read_url_of(config_);
            read.read_url.reset();
            reader_ = std::make_shared<database_pools>(read, executors_, names_, "read");
        }
        return reader_;
    }

    bool has_sync() const {
        std::lock_guard lock(mutex_);
        return sync_ != nullptr;
    }
    bool has_async() const {
        std::lock_guard lock(mutex_);
        return async_ != nullptr;
    }

    /// Closes both pools (each waits up to `drain`); the next sync()/async() creates fresh
    /// ones. Holders of the old shared_ptrs see a closed pool (acquires fail shutting_down).
    close_summary close(std::chrono::milliseconds drain) {
        std::shared_ptr<sync_pool_type> s;
        std::shared_ptr<async_pool_type> a;
        std::shared_ptr<database_pools> r;
        {
            std::lock_guard lock(mutex_);
            s = std::move(sync_);
            a = std::move(async_);
            r = std::move(reader_);
            sync_follows_.reset();
            async_follows_.reset();
        }
        close_summary sum;
        if (r) sum += r->close(drain);
        if (s) sum += s->close(drain);
        if (a) sum += a->close(drain);
        return sum;
    }

    /// One entry per pool created so far (sync first).
    std::vector<pool_stats> stats() const {
        std::shared_ptr<sync_pool_type> s;
        std::shared_ptr<async_pool_type> a;
        std::shared_ptr<database_pools> r;
        {
            std::lock_guard lock(mutex_);
            s = sync_;
            a = async_;
            r = reader_;
        }
        std::vector<pool_stats> out;
        if (s) out.push_back(s->stats());
        if (a) out.push_back(a->stats());
        if (r)
            for (auto& st : r->stats()) out.push_back(std::move(st));
        return out;
    }

    const database_config& config() const noexcept { return config_; }
    const std::string& display_names() const noexcept { return names_; }

private:
    using rule_type = std::function<bool(server_id, server_state)>;

    // A driver of a database with several servers says which state changes retire a server
    // for its pool (DESIGN §12); others have no rule.
    template <class Driver>
    static rule_type retire_rule_of(const Driver& d) {
        if constexpr (requires { d.retire_rule(); })
            return d.retire_rule();
        else
            return {};
    }

    // The pool retires a server whose new state its rule refuses, for as long as the returned
    // subscription lives (the pool itself is held weakly).
    template <class Pool>
    static std::shared_ptr<void> follow(const std::shared_ptr<Pool>& pool, rule_type rule) {
        if (!rule) return nullptr;
        return server_table::instance().subscribe(
            [weak = std::weak_ptr<Pool>(pool), rule = std::move(rule)](
                server_id server, server_state, server_state now) {
                if (!rule(server, now)) return;
                if (auto p = weak.lock()) p->retire_server(server, true);
            });
    }

    pool_params params(const pool_options& pool) const {
        return {names_, config_.url.redacted(), backend_name(config_.kind()),
                pool,   config_.retry,          config_.circuit_breaker,
                role_};
    }

    const database_config config_;
    const std::vector<boost::asio::any_io_executor> executors_;
    const std::string names_;
    const std::string role_;
    mutable std::mutex mutex_;
    std::shared_ptr<sync_pool_type> sync_;
    std::shared_ptr<async_pool_type> async_;
    std::shared_ptr<void> sync_follows_;
    std::shared_ptr<void> async_follows_;
    std::shared_ptr<database_pools> reader_;
};

}  // namespace connmgr::detail
