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
#include <connmgr/pool_params.hpp>
#include <connmgr/pool_stats.hpp>
#include <connmgr/sync_pool.hpp>

#include <boost/asio/any_io_executor.hpp>

#include <chrono>
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
                   std::string database_names_for_display)
        : config_(config),
          executors_(std::move(executors)),
          names_(std::move(database_names_for_display)) {}

    database_pools(const database_config& config, boost::asio::any_io_executor ex,
                   std::string database_names_for_display)
        : database_pools(config, std::vector<boost::asio::any_io_executor>{std::move(ex)},
                         std::move(database_names_for_display)) {}

    database_pools(const database_pools&) = delete;
    database_pools& operator=(const database_pools&) = delete;

    std::shared_ptr<sync_pool_type> sync() {
        std::lock_guard lock(mutex_);
        if (!sync_)
            sync_ = std::make_shared<sync_pool_type>(SyncDriver(config_, config_.sync_pool),
                                                     params(config_.sync_pool));
        return sync_;
    }

    std::shared_ptr<async_pool_type> async() {
        std::lock_guard lock(mutex_);
        if (!async_)
            async_ = std::make_shared<async_pool_type>(
                executors_, AsyncDriver(config_, config_.async_pool), params(config_.async_pool));
        return async_;
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
        {
            std::lock_guard lock(mutex_);
            s = std::move(sync_);
            a = std::move(async_);
        }
        close_summary sum;
        if (s) sum += s->close(drain);
        if (a) sum += a->close(drain);
        return sum;
    }

    /// One entry per pool created so far (sync first).
    std::vector<pool_stats> stats() const {
        std::shared_ptr<sync_pool_type> s;
        std::shared_ptr<async_pool_type> a;
        {
            std::lock_guard lock(mutex_);
            s = sync_;
            a = async_;
        }
        std::vector<pool_stats> out;
        if (s) out.push_back(s->stats());
        if (a) out.push_back(a->stats());
        return out;
    }

    const database_config& config() const noexcept { return config_; }
    const std::string& display_names() const noexcept { return names_; }

private:
    pool_params params(const pool_options& pool) const {
        return {names_, config_.url.redacted(), backend_name(config_.kind()),
                pool,   config_.retry,          config_.circuit_breaker};
    }

    const database_config config_;
    const std::vector<boost::asio::any_io_executor> executors_;
    const std::string names_;
    mutable std::mutex mutex_;
    std::shared_ptr<sync_pool_type> sync_;
    std::shared_ptr<async_pool_type> async_;
};

}  // namespace connmgr::detail
