#pragma once
/// async_pool<Driver>: a non-blocking pool over an async_driver, for Boost.Asio (DESIGN §5).
///
/// Every rule lives in detail::pool_state; this shell only carries out its actions: it feeds
/// the core under one short mutex (cheaper than a strand hop per acquire and release, and a
/// lease can be returned from any thread without a post), keeps one steady_timer per pool for
/// every deadline, retry and sweep the core asks for, and runs connects and pings through the
/// driver on the pool's executor. A completion is always posted to the caller's associated
/// executor (never run inside async_acquire), except that one bound to system_executor
/// (use_future) runs on the pool's executor: see detail/post_completion.hpp. Works with
/// use_awaitable, deferred, use_future and plain callbacks; a waiting async_acquire honours
/// per-operation cancellation (its cancellation slot) and then completes with
/// operation_aborted, leaving nothing behind.
///
/// The operation is type-erased at the pool's boundary (async_waiter), so the pool itself is
/// compiled once per driver (the library's drivers are instantiated in lib/src). Fairness:
/// FIFO among waiters with bounded barging (8 returns): a returned connection may be parked
/// for a running acquirer while the head waiter is woken on its own executor to retake one,
/// so contention costs no hand-off post per cycle. At most two connects run at once.
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
#include <boost/asio/recycling_allocator.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>

namespace connmgr {
namespace detail {

template <class Driver, class Clock>
class async_pool_impl final : public lease_owner<typename Driver::connection>,
                              public std::enable_shared_from_this<async_pool_impl<Driver, Clock>> {
public:
    using connection = typename Driver::connection;
    using core_type = pool_state<Clock>;
    using slot_type = conn_slot<connection, Clock>;
    using actions_type = typename core_type::actions_type;
    using job_type = typename core_type::job_type;
    using error_code = boost::system::error_code;

    static constexpr std::size_t parallel_connects = 2;
    static constexpr unsigned max_bypass = 8;

    /// One async_acquire, type-erased over its completion handler.
    struct async_waiter : waiter<Clock> {
        virtual ~async_waiter() = default;
        /// Posts the handler to its executor with the result.
        virtual void complete(error_code ec, lease<Driver> l) = 0;
        /// Runs `f` on the handler's executor (a woken waiter retakes there).
        virtual void run_on_own_executor(std::function<void()> f) = 0;
        /// Hooks per-operation cancellation to `pool`; called under the pool's lock.
        virtual void hook_cancellation(std::weak_ptr<async_pool_impl> pool) = 0;
        std::shared_ptr<async_waiter> self;  // owns itself until finished
    };

    async_pool_impl(boost::asio::any_io_executor ex, Driver driver, pool_params params)
        : ex_(std::move(ex)),
          driver_(std::move(driver)),
          params_(checked(std::move(params))),
          core_(core_settings<Clock>(params_, flavour::async, parallel_connects, max_bypass),
                fork_generation()),
          generation_(core_.generation()),
          timer_(ex_) {
        register_fork_handler();
    }

    void start_acquire(std::shared_ptr<async_waiter> w) {
        check_fork();
        auto* raw = w.get();
        raw->self = std::move(w);
        std::unique_lock lock(mutex_);
        auto todo = core_.on_acquire(Clock::now(), *raw);
        // Before anyone else can finish the waiter: that happens under this lock too.
        if (!raw->done) raw->hook_cancellation(this->weak_from_this());
        run(todo, lock);
    }

    /// A woken waiter, on its own executor.
    void retake(const std::shared_ptr<async_waiter>& w) {
        std::unique_lock lock(mutex_);
        auto todo = core_.on_retake(Clock::now(), *w);
        run(todo, lock);
    }

    void cancel(async_waiter& w) {
        std::unique_lock lock(mutex_);
        auto todo = core_.on_cancel(Clock::now(), w, boost::asio::error::operation_aborted);
        run(todo, lock);
    }

    pool_stats stats() const {
        pool_stats st;
        std::lock_guard lock(mutex_);
        fill_stats(st, core_, params_);
        return st;
    }

    close_summary close(std::chrono::milliseconds drain) {
        check_fork();
        std::unique_lock lock(mutex_);
        if (core_.closing()) return {};
        pool_stats before;
        core_.fill(before);
        auto todo = core_.on_close(Clock::now());
        timer_.cancel();
        run(todo, lock);
        lock.lock();
        drained_.wait_for(lock, drain, [this] { return core_.in_use() == 0; });
        return make_summary(core_, before.closed_total);
    }

    void give_back(void* token, bool broken) noexcept override {
        check_fork();
        auto* s = static_cast<slot_type*>(token);
        // The parent's connection in a forked child: the driver must not touch it.
        const bool ours = s->generation == generation_.load(std::memory_order_relaxed);
        if constexpr (async_restorable<Driver>) {
            if (ours && !broken && !driver_.is_broken(*s->conn) &&
                driver_.needs_restore(*s->conn)) {
                const auto deadline =
                    std::chrono::steady_clock::now() + params_.pool.connect_timeout;
                driver_.async_restore(*s->conn, deadline,
                                      [self = this->shared_from_this(), s](error_code ec) {
                                          self->returned(*s, !ec);
                                      });
                return;
            }
        }
        returned(*s, ours && !broken);
    }

    std::string_view holder(const void* token) const noexcept override {
        return static_cast<const slot_type*>(token)->holder;
    }

    /// Feeds the pool's timer now (the pool's own timer does it when due; a test with a manual
    /// Clock calls it after moving the clock).
    void run_timers() {
        std::unique_lock lock(mutex_);
        auto todo = core_.on_timer(Clock::now());
        run(todo, lock);
    }

    const pool_params& params() const noexcept { return params_; }
    const boost::asio::any_io_executor& get_executor() const noexcept { return ex_; }

    struct cancel_hook {
        std::weak_ptr<async_pool_impl> pool;
        std::weak_ptr<async_waiter> w;
        void operator()(boost::asio::cancellation_type) const {
            auto p = pool.lock();
            auto ww = w.lock();
            if (p && ww) p->cancel(*ww);
        }
    };

private:
    static pool_params checked(pool_params p) {
        validate(p.pool, "pool");
        return p;
    }

    // The return path once the connection is as clean as the driver can make it.
    void returned(slot_type& s, bool usable) noexcept {
        const bool reusable = usable && !driver_.is_broken(*s.conn) && driver_.reset(*s.conn);
        std::unique_lock lock(mutex_);
        auto todo = core_.on_return(Clock::now(), s, reusable);
        run(todo, lock);
    }

    lease<Driver> make_lease(slot<Clock>* s) {
        auto* c = static_cast<slot_type*>(s);
        return lease<Driver>(this->shared_from_this(), c->conn.get(), c);
    }

    // Carries out the core's actions. Called with the lock held and returns with it released:
    // under it, finished waiters are claimed (their self-ownership moves here) and the timer is
    // armed; after it, completions are posted and the driver is called.
    void run(actions_type& todo, std::unique_lock<std::mutex>& lock) {
        struct claimed {
            std::shared_ptr<async_waiter> w;
            slot<Clock>* connection;
        };
        boost::container::small_vector<claimed, 4> finished;
        boost::container::small_vector<std::shared_ptr<async_waiter>, 2> woken;
        for (auto& a : todo) {
            if (auto* h = std::get_if<hand_out<Clock>>(&a)) {
                finished.push_back(
                    {std::move(static_cast<async_waiter*>(h->to)->self), h->connection});
            } else if (auto* f = std::get_if<fail_waiter<Clock>>(&a)) {
                finished.push_back({std::move(static_cast<async_waiter*>(f->w)->self), nullptr});
            } else if (auto* k = std::get_if<wake_waiter<Clock>>(&a)) {
                woken.push_back(static_cast<async_waiter*>(k->w)->self);
            } else if (auto* t = std::get_if<arm_timer<Clock>>(&a)) {
                arm(t->at);
            }
        }
        if (core_.closing() && core_.in_use() == 0) drained_.notify_all();
        lock.unlock();
        for (auto& c : finished) {
            auto& w = *c.w;
            if (c.connection != nullptr)
                w.complete({}, make_lease(c.connection));
            else
                w.complete(w.error, {});
        }
        for (auto& w : woken)
            w->run_on_own_executor([self = this->shared_from_this(), w] { self->retake(w); });
        for (auto& a : todo) {
            if (auto* p = std::get_if<ping_slot<Clock>>(&a)) {
                auto* s = static_cast<slot_type*>(p->connection);
                driver_.async_ping(*s->conn, to_steady<Clock>(p->deadline),
                                   [self = this->shared_from_this(), s](error_code ec) {
                                       std::unique_lock l(self->mutex_);
                                       auto next =
                                           self->core_.on_ping_result(Clock::now(), *s, !ec);
                                       self->run(next, l);
                                   });
            } else if (auto* c = std::get_if<start_connect<Clock>>(&a)) {
                driver_.async_connect(
                    ex_, to_steady<Clock>(c->deadline),
                    [self = this->shared_from_this(), job = c->job](connect_outcome<connection> o) {
                        self->connected(job, std::move(o));
                    });
            } else if (auto* d = std::get_if<close_slot<Clock>>(&a)) {
                auto* s = static_cast<slot_type*>(d->connection);
                driver_.close(*s->conn);
                delete s;
            } else if (auto* b = std::get_if<abandon_slot<Clock>>(&a)) {
                auto* s = static_cast<slot_type*>(b->connection);
                (void)s->conn.release();  // the parent's socket: never close it here
                delete s;
            } else if (auto* l = std::get_if<log_line>(&a)) {
                log(l->level, l->text);
            }
        }
    }

    void connected(const job_type& job, connect_outcome<connection> o) {
        std::unique_lock lock(mutex_);
        actions_type todo;
        if (o.connection && !o.error) {
            auto* s = new slot_type;
            s->conn = std::move(o.connection);
            todo = core_.on_connected(Clock::now(), job, *s);
        } else {
            todo = core_.on_connect_failed(Clock::now(), job, o.error, o.failure, o.message);
        }
        run(todo, lock);
        if (o.connection) driver_.close(*o.connection);  // an error that came with a connection
    }

    // Under the lock: the one timer, for whatever the core wants next.
    void arm(typename Clock::time_point at) {
        timer_.expires_at(to_steady<Clock>(at));
        timer_.async_wait([weak = this->weak_from_this()](error_code ec) {
            if (ec) return;
            if (auto self = weak.lock()) self->run_timers();
        });
    }

    // Forgets the parent's connections in a forked child.
    void check_fork() {
        const auto now_gen = fork_generation();
        if (generation_.load(std::memory_order_relaxed) == now_gen) [[likely]]
            return;
        std::unique_lock lock(mutex_);
        actions_type todo;
        core_.on_fork(now_gen, todo);
        generation_.store(now_gen, std::memory_order_relaxed);
        run(todo, lock);
    }

    boost::asio::any_io_executor ex_;
    Driver driver_;
    const pool_params params_;
    mutable std::mutex mutex_;
    core_type core_;
    std::atomic<std::uint64_t> generation_;
    std::condition_variable drained_;
    boost::asio::steady_timer timer_;  // guarded by mutex_
};

/// The async_waiter of one completion handler: the only part compiled per handler type.
template <class Driver, class Clock, class Handler>
struct async_waiter_op final : async_pool_impl<Driver, Clock>::async_waiter {
    using impl_type = async_pool_impl<Driver, Clock>;
    using executor = boost::asio::associated_executor_t<Handler, boost::asio::any_io_executor>;

    async_waiter_op(Handler&& h, const boost::asio::any_io_executor& pool_executor)
        : handler(std::move(h)),
          pool_ex(pool_executor),
          work(boost::asio::get_associated_executor(handler, pool_executor)) {}

    void complete(boost::system::error_code ec, lease<Driver> l) override {
        auto ex = work.get_executor();
        // The work guard travels with the completion and is released on the caller's executor:
        // resetting it here, after the post, could touch an io_context the caller already
        // destroyed once the handler ran (found by ASan).
        post_completion_to(
            ex, pool_ex,
            [h = std::move(handler), ec, l = std::move(l), g = std::move(work)]() mutable {
                // The cancellation hook must not outlive the operation.
                auto slot = boost::asio::get_associated_cancellation_slot(h);
                if (slot.is_connected()) slot.clear();
                std::move(h)(ec, std::move(l));
                g.reset();
            });
    }

    void run_on_own_executor(std::function<void()> f) override {
        post_completion_to(work.get_executor(), pool_ex, std::move(f));
    }

    void hook_cancellation(std::weak_ptr<impl_type> pool) override {
        auto slot = boost::asio::get_associated_cancellation_slot(handler);
        if (slot.is_connected()) {
            slot.template emplace<typename impl_type::cancel_hook>(
                std::move(pool), std::weak_ptr<typename impl_type::async_waiter>(this->self));
        }
    }

    Handler handler;
    boost::asio::any_io_executor pool_ex;
    boost::asio::executor_work_guard<executor> work;
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

    /// `ex` runs connects, pings and the timer; completions go to each caller's executor.
    /// Throws config_error when `params.pool` is invalid (see validate()).
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
                using op = detail::async_waiter_op<Driver, Clock, std::decay_t<decltype(handler)>>;
                auto w = std::allocate_shared<op>(boost::asio::recycling_allocator<op>(),
                                                  std::move(handler), impl->get_executor());
                w->holder = std::move(o.holder);
                w->timeout = o.timeout;
                impl->start_acquire(std::move(w));
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

    /// Runs the pool's timer now: for tests that drive a manual Clock.
    void run_timers() { impl_->run_timers(); }

    const pool_params& params() const noexcept { return impl_->params(); }
    executor_type get_executor() const noexcept { return impl_->get_executor(); }

private:
    std::shared_ptr<impl_type> impl_;
};

}  // namespace connmgr
