#pragma once
/// What the sync and async shells have in common: the driver, the core under its lock, and the
/// mechanics that do not depend on how a shell waits (stats, the return verdict, fork checks,
/// closing connections, close() and its drain, the timer input). A shell derives from it
/// (CRTP) and adds only its way of waiting and running I/O: `execute(todo, lock)` carries out
/// the core's actions and releases the lock, `forget_threads()` drops threads that exist only
/// in the parent after a fork, `on_closing(lock)` stops the shell's own machinery.
///
/// \par Thread safety
/// stats(), holder() and params() are safe from any thread; the protected members are the
/// derived shell's to call as each one documents (most under `mutex_`).

#include <connmgr/detail/fork_guard.hpp>
#include <connmgr/detail/lease_owner.hpp>
#include <connmgr/detail/log.hpp>
#include <connmgr/detail/pool_common.hpp>
#include <connmgr/detail/pool_state.hpp>
#include <connmgr/driver.hpp>
#include <connmgr/lease.hpp>

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>

namespace connmgr::detail {

template <class Shell, class Driver, class Clock>
class pool_shell : public lease_owner<typename Driver::connection>,
                   public std::enable_shared_from_this<Shell> {
public:
    using connection = typename Driver::connection;
    using core_type = pool_state<Clock>;
    using slot_type = conn_slot<connection, Clock>;
    using actions_type = typename core_type::actions_type;
    using job_type = typename core_type::job_type;

    pool_stats stats() const {
        pool_stats st;
        std::lock_guard lock(mutex_);
        if constexpr (requires { driver_.servers(); })
            fill_stats(st, core_, params_, driver_.servers());
        else
            fill_stats(st, core_, params_);
        return st;
    }

    std::string_view holder(const void* token) const noexcept override {
        return static_cast<const slot_type*>(token)->holder;
    }

    const pool_params& params() const noexcept { return params_; }

    /// New acquires fail with shutting_down, waiters are failed with it, idle connections
    /// close now, leased ones when returned; waits up to `drain` for leases. Idempotent.
    close_summary close(std::chrono::milliseconds drain) {
        check_fork();
        std::unique_lock lock(mutex_);
        if (core_.closing()) return {};
        pool_stats before;
        core_.fill(before);
        auto todo = core_.on_close(Clock::now());
        self().on_closing(lock);
        self().execute(todo, lock);
        lock.lock();
        drained_->wait_for(lock, drain, [this] { return core_.in_use() == 0; });
        return make_summary(core_, before.closed_total);
    }

    /// Retires every connection of `server` (DESIGN §12): idle ones close now, leased ones when
    /// returned, connects landing on it are replaced; `failover` opens the failover window.
    void retire_server(server_id server, bool failover) {
        check_fork();
        std::unique_lock lock(mutex_);
        auto todo = core_.on_retire_server(Clock::now(), server, failover);
        self().execute(todo, lock);
    }

    /// Open connections by server id (0 = untagged), for stats.
    std::vector<std::pair<server_id, std::size_t>> open_by_server() const {
        std::lock_guard lock(mutex_);
        return core_.open_by_server();
    }

    /// Feeds the pool's timer now (the shell's own timer does it when due; a test with a
    /// manual Clock calls it after moving the clock).
    void run_timers() {
        std::unique_lock lock(mutex_);
        auto todo = core_.on_timer(Clock::now());
        self().execute(todo, lock);
    }

protected:
    /// Bounded barging (pool_state): a head waiter is served within this many returns + 1.
    static constexpr unsigned max_bypass = 8;

    /// Throws config_error when `params.pool` is invalid.
    pool_shell(Driver driver, pool_params params, flavour f, std::size_t parallel_connects)
        : driver_(std::move(driver)),
          params_(checked(std::move(params))),
          core_(core_settings<Clock>(params_, f, parallel_connects, max_bypass), fork_generation()),
          generation_(core_.generation()) {
        register_fork_handler();
    }
    ~pool_shell() = default;

    /// Whether a returned connection may be kept: never asks the driver about a connection of
    /// the parent process (a forked child must not touch its sockets).
    bool keepable(slot_type& s, bool broken) noexcept {
        return ours(s) && !broken && !driver_.is_broken(*s.conn);
    }
    bool ours(const slot_type& s) const noexcept {
        return s.generation == generation_.load(std::memory_order_relaxed);
    }

    /// At every entry point: in a forked child, the core forgets the parent's connections
    /// (closing none) and the shell its threads, whatever the child calls first.
    void check_fork() {
        const auto now_gen = fork_generation();
        if (generation_.load(std::memory_order_relaxed) == now_gen) [[likely]]
            return;
        std::unique_lock lock(mutex_);
        actions_type todo;
        if (core_.on_fork(now_gen, todo)) {
            self().forget_threads();
            // A parent thread may have waited on it: in the child, signalling it could wait
            // for that phantom waiter forever (glibc), so use a new one (the old one leaks).
            (void)drained_.release();
            drained_ = std::make_unique<std::condition_variable>();
        }
        generation_.store(now_gen, std::memory_order_relaxed);
        self().execute(todo, lock);
    }

    /// Carries out an action that needs only the driver (close, abandon, log), outside the
    /// lock. False for any other action.
    bool dispose(const action<Clock>& a) noexcept {
        if (auto* c = std::get_if<close_slot<Clock>>(&a)) {
            auto* s = static_cast<slot_type*>(c->connection);
            driver_.close(*s->conn);
            delete s;
        } else if (auto* d = std::get_if<abandon_slot<Clock>>(&a)) {
            auto* s = static_cast<slot_type*>(d->connection);
            (void)s->conn.release();  // the parent's socket: never close it here
            delete s;
        } else if (auto* l = std::get_if<log_line>(&a)) {
            log(l->level, l->text);
        } else {
            return false;
        }
        return true;
    }

    /// Under the lock, after carrying out actions: a close() waiting for the drain is woken
    /// once nothing is leased.
    void notify_drained() {
        if (core_.closing() && core_.in_use() == 0) drained_->notify_all();
    }

    Driver driver_;
    const pool_params params_;
    mutable std::mutex mutex_;
    core_type core_;

private:
    Shell& self() noexcept { return static_cast<Shell&>(*this); }

    static pool_params checked(pool_params p) {
        validate(p.pool, "pool");
        return p;
    }

    std::atomic<std::uint64_t> generation_;
    std::unique_ptr<std::condition_variable> drained_{std::make_unique<std::condition_variable>()};
};

/// What sync_pool and async_pool offer alike, over their shared implementation.
template <class Impl, class Driver>
class pool_handle {
public:
    using driver_type = Driver;
    using lease_type = lease<Driver>;

    pool_handle(const pool_handle&) = delete;
    pool_handle& operator=(const pool_handle&) = delete;

    pool_stats stats() const { return impl_->stats(); }

    /// New acquires fail with shutting_down, waiters are woken with it, idle connections close
    /// now, leased ones when returned; waits up to `drain_timeout` for leases. Idempotent: a
    /// second call returns an empty summary.
    close_summary close(std::chrono::milliseconds drain_timeout) {
        return impl_->close(drain_timeout);
    }

    /// Retires every connection of `server` (see pool_state::on_retire_server). Thread-safe.
    void retire_server(server_id server, bool failover) { impl_->retire_server(server, failover); }

    /// Open connections by server id (0 = untagged). Thread-safe.
    std::vector<std::pair<server_id, std::size_t>> open_by_server() const {
        return impl_->open_by_server();
    }

    /// Runs the pool's timer now: for tests that drive a manual Clock.
    void run_timers() { impl_->run_timers(); }

    const pool_params& params() const noexcept { return impl_->params(); }

protected:
    explicit pool_handle(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}
    /// Closes without waiting for leases (they close their connections when returned).
    ~pool_handle() { close(std::chrono::milliseconds{0}); }

    std::shared_ptr<Impl> impl_;
};

}  // namespace connmgr::detail
