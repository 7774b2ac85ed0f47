// The manager's background monitor. Once a database is opened, a one-second tick on the
// manager's I/O thread logs utilization crossings (without anyone polling stats()) and, every
// health_check_interval, probes each opened database without blocking that thread, so stats(),
// `connmgr stats` and /metrics show a fresh `healthy` and a failover is logged when it happens.
#include "manager_impl.hpp"

#include <connmgr/detail/log.hpp>

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include <algorithm>
#include <chrono>
#include <map>

namespace connmgr::detail {

namespace {

using namespace std::chrono_literals;

constexpr auto tick_period = 1s;

/// How often an opened database is probed: its shorter health_check_interval, at most once a
/// tick (0, "validate on every borrow", would otherwise mean probing without pause).
std::chrono::steady_clock::duration probe_period(const database_config& db) {
    return std::max<std::chrono::steady_clock::duration>(
        std::min(db.sync_pool.health_check_interval, db.async_pool.health_check_interval),
        tick_period);
}

}  // namespace

struct manager_impl::monitor_state {
    explicit monitor_state(const boost::asio::any_io_executor& ex) : timer(ex) {}

    boost::asio::steady_timer timer;
    std::map<std::string, std::chrono::steady_clock::time_point> next_probe;  ///< by pool key
    std::map<std::string, std::shared_ptr<void>> probing;                     ///< by pool key
};

// Code on the I/O thread reaches its executor through the timer, never through io_: io_runner's
// stop() joins that thread while holding its lock.
void manager_impl::start_monitor_locked() {
    if (monitor_) return;
    monitor_ = new monitor_state(io_.executor());  // handed to the I/O thread by the post
    boost::asio::post(monitor_->timer.get_executor(), [weak = weak_from_this()] {
        if (auto self = weak.lock()) self->arm_monitor();
    });
}

void manager_impl::arm_monitor() {
    monitor_->timer.expires_after(tick_period);
    monitor_->timer.async_wait([weak = weak_from_this()](boost::system::error_code ec) {
        if (ec) return;
        auto self = weak.lock();
        if (!self) return;
        self->monitor_tick();
        self->arm_monitor();
    });
}

void manager_impl::monitor_tick() {
    warn_on_utilization(collect_open_pools());

    const auto now = std::chrono::steady_clock::now();
    std::vector<std::pair<std::string, database_config>> due;
    {
        std::lock_guard lock(mutex_);
        for (const auto& [key, e] : entries_) {
            if (!e.handle || !e.handle->is_open()) {
                monitor_->next_probe.erase(key);  // a reopened database waits a full period
                continue;
            }
            // The first probe comes one period after opening: the pool's own connects have
            // just shown the database answering.
            auto [next, first] =
                monitor_->next_probe.try_emplace(key, now + probe_period(e.config));
            if (first || now < next->second || monitor_->probing.contains(key)) continue;
            next->second = now + probe_period(e.config);
            due.emplace_back(key, e.config);
        }
    }
    for (auto& [key, db] : due)
        monitor_->probing[key] =
            start_async_probe(db, monitor_->timer.get_executor(),
                              [weak = weak_from_this(), key = key](const database_health& h) {
                                  if (auto self = weak.lock())
                                      self->record_background_health(key, h);
                              });
}

void manager_impl::record_background_health(const std::string& key, const database_health& h) {
    std::vector<std::string> changed;
    {
        std::lock_guard lock(mutex_);
        auto names = names_by_key_.find(key);
        if (names != names_by_key_.end())
            for (const auto& name : names->second) {
                auto [last, first] = last_health_.try_emplace(name, h.healthy);
                if (first ? !h.healthy : last->second != h.healthy) changed.push_back(name);
                last->second = h.healthy;
            }
    }
    // This runs inside the probe's own completion: it is released on the next turn.
    boost::asio::post(monitor_->timer.get_executor(), [weak = weak_from_this(), key] {
        if (auto self = weak.lock()) self->monitor_->probing.erase(key);
    });
    for (const auto& name : changed) {
        if (h.healthy)
            log(log_level::info, "database " + name + " (" + h.url + ") is healthy again");
        else
            log(log_level::warn, "database " + name + " (" + h.url + ") unhealthy: " + h.error);
    }
}

void manager_impl::destroy_monitor() noexcept {
    delete monitor_;
    monitor_ = nullptr;
}

}  // namespace connmgr::detail
