#pragma once
/// async_pool<Driver>: a non-blocking pool over an async_driver, for Boost.Asio (DESIGN §5).
///
/// The rules live in detail::pool_state; this shell runs them under one short mutex (measured:
/// cheaper than hopping to a strand for every acquire and release, and it lets a lease be
/// returned from any thread without a post). Waiter deadlines are Asio steady_timers on the
/// pool's executor; connects and pings run through the driver on the pool's executor; a
/// completion is always posted to the caller's associated executor (never run inside
/// async_acquire), except that one bound to system_executor (use_future) runs on the pool's
/// executor: see detail/post_completion.hpp. Works with use_awaitable, deferred, use_future and
/// plain callbacks; a waiting async_acquire honours per-operation cancellation (its cancellation
/// slot) and then completes with operation_aborted, leaving nothing behind.
///
/// Waiters are served strictly FIFO (a returned connection is handed to the oldest waiter);
/// at most two connects run at once; a waiting operation keeps outstanding work on the
/// caller's executor until its completion is posted. Waiter deadlines and the sweep use real
/// time (steady_timer) even when Clock is a test clock.
///
/// \par Thread safety
/// Every member is safe to call from any thread at once, except that close() blocks and must not
/// be called from a thread running the pool's executor (leases that thread would return could
/// not come back). Leases may be returned from any thread.

#include <connmgr/detail/fork_guard.hpp>
#include <connmgr/detail/lease_owner.hpp>
#include <connmgr/detail/log.hpp>
#include <connmgr/detail/pool_common.hpp>
#include <connmgr/detail/pool_state.hpp>
#include <connmgr/detail/post_completion.hpp>
#include <connmgr/driver.hpp>
#include <connmgr/error.hpp>
#include <connmgr/lease.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

namespace connmgr {
namespace detail {

template <class Driver, class Clock>
class async_pool_impl final : public lease_owner<typename Driver::connection>,
                              public std::enable_shared_from_this<async_pool_impl<Driver, Clock>> {
public:
    using connection = typename Driver::connection;
    using core_type = pool_state<Clock>;
    using slot_type = conn_slot<connection, Clock>;
    using error_code = boost::system::error_code;
    using job = typename core_type::connect_job;

    /// Connects that may run at once: the async shell has no thread to spare, only sockets.
    static constexpr std::size_t parallel_connects = 2;

    async_pool_impl(boost::asio::any_io_executor ex, Driver driver, pool_params params)
        : ex_(std::move(ex)),
          strand_(boost::asio::make_strand(ex_)),
          driver_(std::move(driver)),
          params_(std::move(params)),
          core_(core_settings<Clock>(params_, parallel_connects, 0)),
          sweep_timer_(strand_),
          retry_timer_(strand_),
          generation_(fork_generation()) {
        register_fork_handler();
    }

    template <class Handler>
    void start_acquire(Handler handler, acquire_options opts) {
        check_fork();
        const auto timeout = opts.timeout.value_or(params_.pool.acquire_timeout);
        std::unique_lock lock(mutex_);
        const auto now = Clock::now();
        auto r = core_.take(now, timeout, opts.holder);
        if (r.error) {
            lock.unlock();
            post_completion(std::move(handler), r.error, lease<Driver>{});
            return;
        }
        if (r.connection) {
            lock.unlock();
            auto* s = static_cast<slot_type*>(r.connection);
            if (r.ping)
                ping_then_complete(std::move(handler), s, std::move(opts));
            else
                post_completion(std::move(handler), error_code{}, make_lease(s));
            return;
        }
        auto w = std::make_shared<waiter_op<Handler>>(std::move(handler), ex_);
        w->holder = std::move(opts.holder);
        w->self = w;
        core_.enqueue(w.get(), now);
        // Arm the deadline and the cancellation hook before anyone can finish the waiter:
        // finishing happens under this lock.
        w->timer.expires_after(core_.wait_limit(opts.timeout));
        w->timer.async_wait([w, weak = this->weak_from_this()](error_code ec) {
            if (ec == boost::asio::error::operation_aborted) return;
            if (auto self = weak.lock()) self->on_deadline(w.get());
        });
        auto slot = boost::asio::get_associated_cancellation_slot(w->handler);
        if (slot.is_connected()) {
            slot.template emplace<cancel_hook>(this->weak_from_this(),
                                               std::weak_ptr<async_waiter>(w));
        }
        auto jobs = due_connects(now);
        ensure_sweeping();
        lock.unlock();
        launch(jobs);
    }

    pool_stats stats() const {
        pool_stats st;
        std::lock_guard lock(mutex_);
        fill_stats(st, core_, params_, flavour::async);
        return st;
    }

    close_summary close(std::chrono::milliseconds drain) {
        std::unique_lock lock(mutex_);
        pool_stats before;
        core_.fill(before);
        auto start = core_.begin_close();
        if (!start.first) return {};
        auto failed = claim(start.failed);
        lock.unlock();
        for (auto& w : failed) finish(w, w->error, {});
        for (auto* s : start.idle) close_slot(static_cast<slot_type*>(s));
        boost::asio::post(strand_, [self = this->shared_from_this()] {
            self->sweep_timer_.cancel();
            self->retry_timer_.cancel();
        });
        lock.lock();
        drained_.wait_for(lock, drain, [this] { return core_.in_use() == 0; });
        return make_summary(core_, before.closed_total, true);
    }

    void give_back(void* token, bool broken) noexcept override {
        auto* s = static_cast<slot_type*>(token);
        if (s->generation != fork_generation()) {  // a forked child: the socket is the parent's
            (void)s->conn.release();
            delete s;
            return;
        }
        if constexpr (async_restorable<Driver>) {
            if (!broken && !driver_.is_broken(*s->conn) && driver_.needs_restore(*s->conn)) {
                const auto deadline =
                    std::chrono::steady_clock::now() + params_.pool.connect_timeout;
                driver_.async_restore(*s->conn, deadline,
                                      [self = this->shared_from_this(), s](error_code ec) {
                                          self->returned(s, !ec);
                                      });
                return;
            }
        }
        returned(s, !broken);
    }

private:
    // The return path once the connection is as clean as the driver can make it.
    void returned(slot_type* s, bool usable) noexcept {
        const bool reusable = usable && !driver_.is_broken(*s->conn) && driver_.reset(*s->conn);
        std::shared_ptr<async_waiter> to;
        std::vector<job> jobs;
        typename core_type::placement p;
        {
            std::lock_guard lock(mutex_);
            const auto now = Clock::now();
            p = core_.on_return(s, reusable, now);
            if (p.handed) to = claim_one(p.handed);
            if (p.close) jobs = due_connects(now);
            if (core_.closing() && core_.in_use() == 0) drained_.notify_all();
        }
        if (to) finish(to, {}, make_lease(s));
        if (p.close) close_slot(s);
        launch(jobs);
    }

public:
    std::string_view holder(const void* token) const noexcept override {
        return static_cast<const slot_type*>(token)->holder;
    }

    const pool_params& params() const noexcept { return params_; }
    const boost::asio::any_io_executor& get_executor() const noexcept { return ex_; }

private:
    /// A queued async_acquire, type-erased over its handler.
    struct async_waiter : waiter<Clock> {
        explicit async_waiter(const boost::asio::any_io_executor& ex) : timer(ex) {}
        virtual ~async_waiter() = default;
        /// Posts the handler to its executor with the result.
        virtual void complete(error_code ec, lease<Driver> l) = 0;
        boost::asio::steady_timer timer;     // the deadline, on the pool's executor
        std::shared_ptr<async_waiter> self;  // owns itself while queued
    };

    template <class Handler>
    struct waiter_op final : async_waiter {
        using executor = boost::asio::associated_executor_t<Handler, boost::asio::any_io_executor>;
        waiter_op(Handler&& h, const boost::asio::any_io_executor& pool_ex)
            : async_waiter(pool_ex),
              handler(std::move(h)),
              work(boost::asio::get_associated_executor(handler, pool_ex)) {}
        void complete(error_code ec, lease<Driver> l) override {
            auto ex = work.get_executor();
            // The work guard travels with the completion and is released on the caller's
            // executor: resetting it here, after the post, could touch an io_context the
            // caller already destroyed once the handler ran (found by ASan).
            post_completion_to(
                ex, this->timer.get_executor(),
                [h = std::move(handler), ec, l = std::move(l), g = std::move(work)]() mutable {
                    // The cancellation hook must not outlive the operation.
                    auto slot = boost::asio::get_associated_cancellation_slot(h);
                    if (slot.is_connected()) slot.clear();
                    std::move(h)(ec, std::move(l));
                    g.reset();
                });
        }
        Handler handler;
        boost::asio::executor_work_guard<executor> work;
    };

    struct cancel_hook {
        std::weak_ptr<async_pool_impl> pool;
        std::weak_ptr<async_waiter> w;
        void operator()(boost::asio::cancellation_type) const {
            auto p = pool.lock();
            auto ww = w.lock();
            if (p && ww) p->on_cancel(ww.get());
        }
    };

    template <class Handler>
    void post_completion(Handler&& handler, error_code ec, lease<Driver> l) {
        auto ex = boost::asio::get_associated_executor(handler, ex_);
        post_completion_to(ex, ex_, [h = std::move(handler), ec, l = std::move(l)]() mutable {
            std::move(h)(ec, std::move(l));
        });
    }

    template <class Handler>
    void ping_then_complete(Handler&& handler, slot_type* s, acquire_options opts) {
        // ping_handler is a std::function (copyable): park the move-only handler beside it.
        auto held = std::make_shared<std::optional<Handler>>(std::move(handler));
        const auto deadline = std::chrono::steady_clock::now() + params_.pool.connect_timeout;
        driver_.async_ping(
            *s->conn, deadline, [self = this->shared_from_this(), s, held, opts](error_code ec) {
                if (!ec) {
                    self->post_completion(std::move(**held), {}, self->make_lease(s));
                    return;
                }
                std::vector<job> jobs;
                {
                    std::lock_guard lock(self->mutex_);
                    self->core_.discard(s, Clock::now());
                    jobs = self->due_connects(Clock::now());
                }
                self->close_slot(s);
                self->launch(jobs);
                self->start_acquire(std::move(**held), opts);  // replaced
            });
    }

    void on_deadline(async_waiter* w) {
        std::shared_ptr<async_waiter> mine;
        {
            std::lock_guard lock(mutex_);
            if (!core_.remove(w)) return;
            core_.count_timeout();
            mine = std::move(w->self);
        }
        mine->complete(make_error_code(errc::acquire_timeout), {});
    }

    void on_cancel(async_waiter* w) {
        std::shared_ptr<async_waiter> mine;
        {
            std::lock_guard lock(mutex_);
            if (!core_.remove(w)) return;
            mine = std::move(w->self);
        }
        finish(mine, boost::asio::error::operation_aborted, {});
    }

    // Under the lock: takes ownership of waiters the core finished.
    std::shared_ptr<async_waiter> claim_one(waiter<Clock>* w) {
        return std::move(static_cast<async_waiter*>(w)->self);
    }
    std::vector<std::shared_ptr<async_waiter>> claim(const std::vector<waiter<Clock>*>& ws) {
        std::vector<std::shared_ptr<async_waiter>> out;
        out.reserve(ws.size());
        for (auto* w : ws) out.push_back(claim_one(w));
        return out;
    }

    void finish(const std::shared_ptr<async_waiter>& w, error_code ec, lease<Driver> l) {
        w->timer.cancel();
        w->complete(ec, std::move(l));
    }

    // Under the lock: connects the core wants started now; arms the retry timer for later ones.
    std::vector<job> due_connects(typename Clock::time_point now) {
        std::vector<job> jobs;
        while (auto j = core_.next_connect(now)) jobs.push_back(*j);
        if (core_.has_pending_connects() && core_.in_flight() < parallel_connects) {
            const auto due = core_.next_connect_due();
            if (due > now)
                arm_retry(std::chrono::duration_cast<std::chrono::nanoseconds>(due - now));
        }
        return jobs;
    }

    void arm_retry(std::chrono::nanoseconds in) {
        boost::asio::post(strand_, [weak = this->weak_from_this(), in] {
            auto self = weak.lock();
            if (!self) return;
            self->retry_timer_.expires_after(in);
            self->retry_timer_.async_wait([weak](error_code ec) {
                if (ec) return;
                if (auto s = weak.lock()) s->launch_due();
            });
        });
    }

    void launch_due() {
        std::vector<job> jobs;
        {
            std::lock_guard lock(mutex_);
            jobs = due_connects(Clock::now());
        }
        launch(jobs);
    }

    // Outside the lock.
    void launch(const std::vector<job>& jobs) {
        for (const auto& j : jobs) {
            const auto deadline = std::chrono::steady_clock::now() + params_.pool.connect_timeout;
            driver_.async_connect(
                ex_, deadline,
                [self = this->shared_from_this(), j, started = Clock::now()](
                    connect_outcome<connection> o) { self->on_connect(j, std::move(o), started); });
        }
    }

    void on_connect(job j, connect_outcome<connection> o, typename Clock::time_point started) {
        std::vector<std::shared_ptr<async_waiter>> failed;
        std::shared_ptr<async_waiter> to;
        std::vector<job> jobs;
        slot_type* s = nullptr;
        bool close_it = false;
        {
            std::lock_guard lock(mutex_);
            const auto now = Clock::now();
            if (o.connection && !o.error) {
                core_.record_create_time(now - started);
                s = new slot_type;
                s->conn = std::move(o.connection);
                auto p = core_.on_connected(s, now, generation_);
                if (p.handed) to = claim_one(p.handed);
                close_it = p.close;
            } else {
                const auto ec = o.error ? o.error : make_error_code(errc::connect_failed);
                failed =
                    claim(core_.on_connect_failed(j, ec, connect_message(params_, o.message), now));
            }
            jobs = due_connects(now);
        }
        if (o.connection) driver_.close(*o.connection);  // an error that came with a connection
        if (to) finish(to, {}, make_lease(s));
        if (close_it) close_slot(s);
        for (auto& w : failed) finish(w, w->error, {});
        launch(jobs);
    }

    // Under the lock.
    void ensure_sweeping() {
        if (sweeping_ || core_.closing()) return;
        sweeping_ = true;
        boost::asio::post(strand_, [self = this->shared_from_this()] { self->arm_sweep(); });
    }

    // On the strand.
    void arm_sweep() {
        sweep_timer_.expires_after(core_.sweep_period());
        sweep_timer_.async_wait([weak = this->weak_from_this()](error_code ec) {
            if (ec) return;
            if (auto self = weak.lock()) self->sweep();
        });
    }

    // On the strand.
    void sweep() {
        typename core_type::sweep_result r;
        std::vector<job> jobs;
        {
            std::lock_guard lock(mutex_);
            if (core_.closing()) return;
            const auto now = Clock::now();
            r = core_.sweep(now);
            jobs = due_connects(now);
        }
        for (auto* s : r.to_close) close_slot(static_cast<slot_type*>(s));
        for (auto& leak : r.leaks) {
            const auto ms =
                std::chrono::duration_cast<std::chrono::milliseconds>(leak.held).count();
            log(log_level::warn, "possible connection leak: a lease of " + params_.database +
                                     " (async pool) held by '" +
                                     (leak.holder.empty() ? std::string("unknown") : leak.holder) +
                                     "' for " + std::to_string(ms) + "ms");
        }
        launch(jobs);
        arm_sweep();
    }

    lease<Driver> make_lease(slot_type* s) {
        return lease<Driver>(this->shared_from_this(), s->conn.get(), s);
    }

    void close_slot(slot_type* s) noexcept {
        driver_.close(*s->conn);
        delete s;
    }

    void check_fork() {
        if (generation_ == fork_generation()) [[likely]]
            return;
        std::lock_guard lock(mutex_);
        if (generation_ == fork_generation()) return;
        generation_ = fork_generation();
        for (auto* s : core_.abandon()) {
            (void)static_cast<slot_type*>(s)->conn.release();  // the parent's socket: leak it
            delete static_cast<slot_type*>(s);
        }
    }

    boost::asio::any_io_executor ex_;
    boost::asio::strand<boost::asio::any_io_executor> strand_;  // the housekeeping timers
    Driver driver_;
    const pool_params params_;
    mutable std::mutex mutex_;
    core_type core_;
    std::condition_variable drained_;
    boost::asio::steady_timer sweep_timer_;
    boost::asio::steady_timer retry_timer_;
    bool sweeping_{false};
    std::uint64_t generation_;
};

}  // namespace detail

template <async_driver Driver, class Clock = std::chrono::steady_clock>
class async_pool {
    using impl_type = detail::async_pool_impl<Driver, Clock>;

public:
    using driver_type = Driver;
    using lease_type = lease<Driver>;
    using executor_type = boost::asio::any_io_executor;
    using signature = void(boost::system::error_code, lease<Driver>);

    /// `ex` runs connects, pings and timers; completions go to each caller's executor.
    async_pool(boost::asio::any_io_executor ex, Driver driver, pool_params params)
        : impl_(std::make_shared<impl_type>(std::move(ex), std::move(driver), std::move(params))) {}

    async_pool(const async_pool&) = delete;
    async_pool& operator=(const async_pool&) = delete;

    /// Closes without waiting for leases (they close their connections when returned).
    ~async_pool() { close(std::chrono::milliseconds{0}); }

    /// Completes with (error_code, lease): acquire_timeout at the deadline, pool_exhausted,
    /// circuit_open, shutting_down, connect_failed, or operation_aborted when cancelled.
    template <
        boost::asio::completion_token_for<signature> CompletionToken = boost::asio::deferred_t>
    auto async_acquire(CompletionToken&& token = CompletionToken()) {
        return async_acquire(acquire_options{}, std::forward<CompletionToken>(token));
    }

    template <
        boost::asio::completion_token_for<signature> CompletionToken = boost::asio::deferred_t>
    auto async_acquire(acquire_options opts, CompletionToken&& token = CompletionToken()) {
        return boost::asio::async_initiate<CompletionToken, signature>(
            [](auto handler, std::shared_ptr<impl_type> impl, acquire_options o) {
                impl->start_acquire(std::move(handler), std::move(o));
            },
            token, impl_, std::move(opts));
    }

    pool_stats stats() const { return impl_->stats(); }

    /// Blocking; see the class note. New acquires fail with shutting_down, waiters complete
    /// with it, idle connections close now, leased ones when returned; waits up to
    /// `drain_timeout`. Idempotent: a second call returns an empty summary.
    close_summary close(std::chrono::milliseconds drain_timeout) {
        return impl_->close(drain_timeout);
    }

    const pool_params& params() const noexcept { return impl_->params(); }
    executor_type get_executor() const noexcept { return impl_->get_executor(); }

private:
    std::shared_ptr<impl_type> impl_;
};

}  // namespace connmgr
