#pragma once
/// sync_pool<Driver>: a blocking pool over a sync_driver (DESIGN §5).
///
/// Every rule lives in detail::pool_state; this shell only carries out its actions: it feeds
/// the core under one mutex, parks each waiter on its own condition variable, and calls the
/// driver outside the lock. One background thread per pool (started on first need, stopped by
/// close()) runs connects one at a time and is the pool's timer; a waiting thread also feeds
/// the timer when its own deadline passes, so a slow connect never delays a deadline. User
/// threads only ever block on the pool itself, and a waiter takes whichever connection frees
/// first.
///
/// Fairness: FIFO among waiters with bounded barging (8 returns; see pool_state). At max_size
/// an acquirer yields twice before it queues: both avoid a sleep/wake pair per cycle under
/// contention (32 threads on 16 connections: 0.6M → 6.9M cycles/s on 2 cores).
///
/// \par Thread safety
/// Every member is safe to call from any thread at once. Leases may be returned from any thread.
/// After fork(), the child's pool forgets the parent's connections (never closes or reuses them)
/// and its thread, and starts empty; a pool must not be in use by another thread at the moment
/// of fork().

#include <connmgr/detail/pool_shell.hpp>
#include <connmgr/error.hpp>
#include <connmgr/lease.hpp>

#include <boost/system/result.hpp>

#include <chrono>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>

namespace connmgr::detail {

template <class Driver, class Clock>
class sync_pool_impl final : public pool_shell<sync_pool_impl<Driver, Clock>, Driver, Clock> {
    using base = pool_shell<sync_pool_impl, Driver, Clock>;
    using base::core_, base::driver_, base::mutex_, base::params_, base::check_fork;
    using typename base::actions_type, typename base::slot_type;

public:
    static constexpr unsigned max_yields = 2;

    sync_pool_impl(Driver driver, pool_params params)
        : base(std::move(driver), std::move(params), flavour::sync, 1) {}

    ~sync_pool_impl() {
        // Reached only after close() (the pool object) and once the last lease is back.
        check_fork();
        std::unique_lock lock(mutex_);
        stop_worker(lock);
    }

    lease<Driver> acquire(const acquire_options& opts) {
        sync_waiter w;
        run_acquire(opts, false, w);
        if (w.error) throw_error(w.error, w.message.empty() ? w.error.message() : w.message);
        return make_lease(w);
    }

    boost::system::result<lease<Driver>> try_acquire(const acquire_options& opts) {
        sync_waiter w;
        run_acquire(opts, true, w);
        if (w.error) return w.error;
        return make_lease(w);
    }

    void give_back(void* token, bool broken) noexcept override {
        check_fork();
        auto* s = static_cast<slot_type*>(token);
        const bool reusable = this->keepable(*s, broken) && driver_.reset(*s->conn);
        std::unique_lock lock(mutex_);
        auto todo = core_.on_return(Clock::now(), *s, reusable);
        apply(todo, lock);
    }

    using base::close;

    // For pool_shell: the shell's side of close() and check_fork(), and how it carries out
    // the core's actions.
    void on_closing(std::unique_lock<std::mutex>& lock) { stop_worker(lock); }
    void forget_threads() {
        (void)worker_.release();  // that thread exists only in the parent: never join it
        // glibc still counts the parent's worker as waiting on the old condition variable, and
        // signalling it would wait for that waiter forever: use a new one (the old one leaks).
        (void)work_cv_.release();
        work_cv_ = std::make_unique<std::condition_variable>();
        stop_ = false;
        jobs_.clear();
        wake_at_ = Clock::time_point::max();
    }
    void execute(actions_type& todo, std::unique_lock<std::mutex>& lock) {
        apply(todo, lock);
        lock.unlock();
    }

private:
    // The condition variable is made only when the waiter really queues: most acquires find
    // an idle connection and never wait.
    struct sync_waiter : waiter<Clock> {
        std::optional<std::condition_variable> cv;
        std::condition_variable& wait_on() { return cv ? *cv : cv.emplace(); }
        void notify() {
            if (cv) cv->notify_one();
        }
    };

    // One acquire to its end: `w` is done (result or error) on return.
    void run_acquire(const acquire_options& opts, bool try_only, sync_waiter& w) {
        check_fork();
        if (!opts.holder.empty()) w.holder = opts.holder;
        w.timeout = opts.timeout;
        w.try_only = try_only;
        std::unique_lock lock(mutex_);
        // At max_size, let the (likely preempted) holders run before queueing: a sleep/wake
        // pair costs microseconds, a yield far less on a busy machine.
        for (unsigned y = 0; !try_only && y < max_yields && core_.idle() == 0 &&
                             core_.total() >= params_.pool.max_size && !core_.closing();
             ++y) {
            lock.unlock();
            std::this_thread::yield();
            lock.lock();
        }
        auto todo = core_.on_acquire(Clock::now(), w);
        for (;;) {
            if (const auto ping = apply(todo, lock)) {
                const auto deadline = to_steady<Clock>(ping->deadline);
                auto* s = static_cast<slot_type*>(ping->connection);
                lock.unlock();
                const bool ok = !driver_.ping(*s->conn, deadline);
                lock.lock();
                todo = core_.on_ping_result(Clock::now(), *s, ok);
                continue;
            }
            if (w.done) return;
            const auto until = to_steady<Clock>(w.deadline);
            bool timed_out = false;
            auto& cv = w.wait_on();
            if (until == std::chrono::steady_clock::time_point::max())
                cv.wait(lock);
            else
                timed_out = cv.wait_until(lock, until) == std::cv_status::timeout;
            if (w.done) return;
            if (w.woken)
                todo = core_.on_retake(Clock::now(), w);
            else if (timed_out)
                todo = core_.on_timer(Clock::now());
        }
    }

    lease<Driver> make_lease(const sync_waiter& w) {
        auto* s = static_cast<slot_type*>(w.result);
        return lease<Driver>(this->shared_from_this(), s->conn.get(), s);
    }

    static void notify(waiter<Clock>* w) { static_cast<sync_waiter*>(w)->notify(); }

    // Carries out the core's actions. Waiters are notified under the lock (a finished waiter
    // may return and destroy its condition variable as soon as the lock is free); closing
    // connections happens outside it, and the lock is held again on return. Returns the ping
    // the core asked of the calling acquirer, if any.
    std::optional<ping_slot<Clock>> apply(actions_type& todo, std::unique_lock<std::mutex>& lock) {
        std::optional<ping_slot<Clock>> ping;
        actions_type io;
        for (auto& a : todo) {
            if (auto* h = std::get_if<hand_out<Clock>>(&a)) {
                notify(h->to);
            } else if (auto* f = std::get_if<fail_waiter<Clock>>(&a)) {
                notify(f->w);
            } else if (auto* k = std::get_if<wake_waiter<Clock>>(&a)) {
                notify(k->w);
            } else if (auto* p = std::get_if<ping_slot<Clock>>(&a)) {
                ping = *p;
            } else if (auto* c = std::get_if<start_connect<Clock>>(&a)) {
                jobs_.push_back(*c);
                ensure_worker();
            } else if (auto* t = std::get_if<arm_timer<Clock>>(&a)) {
                wake_at_ = t->at;
                ensure_worker();
            } else {
                io.push_back(std::move(a));
            }
        }
        todo.clear();
        this->notify_drained();
        if (!io.empty()) {
            lock.unlock();
            for (auto& a : io) this->dispose(a);
            lock.lock();
        }
        return ping;
    }

    void ensure_worker() {
        if (!worker_ && !core_.closing()) {
            worker_ = std::make_unique<std::thread>([this] { run_worker(); });
        } else {
            work_cv_->notify_one();
        }
    }

    void stop_worker(std::unique_lock<std::mutex>& lock) {
        if (!worker_) return;
        stop_ = true;
        work_cv_->notify_one();
        auto t = std::move(worker_);
        lock.unlock();
        t->join();
        lock.lock();
    }

    // The background thread: connects one at a time, and the pool's timer.
    void run_worker() {
        std::unique_lock lock(mutex_);
        while (!stop_) {
            if (!jobs_.empty()) {
                const auto c = jobs_.front();
                jobs_.pop_front();
                lock.unlock();
                auto outcome = driver_.connect(to_steady<Clock>(c.deadline));
                if (outcome.connection && outcome.error)  // an error that came with a connection
                    driver_.close(*outcome.connection);
                lock.lock();
                actions_type todo;
                if (outcome.connection && !outcome.error) {
                    auto* s = new slot_type;
                    s->conn = std::move(outcome.connection);
                    s->server = outcome.server;
                    todo = core_.on_connected(Clock::now(), c.job, *s);
                } else {
                    todo = core_.on_connect_failed(Clock::now(), c.job, outcome.error,
                                                   outcome.failure, outcome.message);
                }
                apply(todo, lock);
                continue;
            }
            const auto now = Clock::now();
            if (now >= wake_at_) {
                wake_at_ = Clock::time_point::max();
                auto todo = core_.on_timer(now);
                apply(todo, lock);
                continue;
            }
            if (wake_at_ == Clock::time_point::max())
                work_cv_->wait(lock);
            else
                work_cv_->wait_until(lock, to_steady<Clock>(wake_at_));
        }
    }

    std::unique_ptr<std::condition_variable> work_cv_{std::make_unique<std::condition_variable>()};
    std::deque<start_connect<Clock>> jobs_;
    typename Clock::time_point wake_at_{Clock::time_point::max()};
    std::unique_ptr<std::thread> worker_;
    bool stop_{false};
};

}  // namespace connmgr::detail

namespace connmgr {

template <sync_driver Driver, class Clock = std::chrono::steady_clock>
class sync_pool : public detail::pool_handle<detail::sync_pool_impl<Driver, Clock>, Driver> {
public:
    /// Throws config_error when `params.pool` is invalid (see validate()).
    sync_pool(Driver driver, pool_params params)
        : detail::pool_handle<detail::sync_pool_impl<Driver, Clock>, Driver>(
              std::make_shared<detail::sync_pool_impl<Driver, Clock>>(std::move(driver),
                                                                      std::move(params))) {}

    /// Waits up to acquire_timeout. Throws timeout_error (acquire_timeout), connect_error
    /// (connect_failed, circuit_open) or error (pool_exhausted, shutting_down); the message
    /// says why (the pool's numbers, the last connect error, the holders).
    lease<Driver> acquire() { return this->impl_->acquire({}); }
    lease<Driver> acquire(const acquire_options& opts) { return this->impl_->acquire(opts); }

    /// Never waits for other acquirers (it may ping an idle connection): an idle connection,
    /// or pool_exhausted / circuit_open / shutting_down.
    boost::system::result<lease<Driver>> try_acquire() { return this->impl_->try_acquire({}); }
    boost::system::result<lease<Driver>> try_acquire(const acquire_options& opts) {
        return this->impl_->try_acquire(opts);
    }
};

}  // namespace connmgr
