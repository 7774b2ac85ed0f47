#pragma once
/// async_pool<Driver>: a non-blocking pool over an async_driver, for Boost.Asio (DESIGN §5).
///
/// Every rule lives in detail::pool_state; this shell only carries out its actions: it feeds
/// the core under one short mutex (cheaper than a strand hop per acquire and release, and a
/// lease can be returned from any thread without a post), keeps one steady_timer per pool for
/// every deadline, retry and sweep the core asks for, and runs connects and pings through the
/// driver. A pool may spread its connections over several executors (the manager's I/O
/// threads): each connection stays on the one it was opened on, the timer lives on the first,
/// and an acquirer running on one of them is preferably given a connection living there, so
/// its queries need no thread hop. A completion is always posted to the caller's associated
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

#include <connmgr/detail/pool_shell.hpp>
#include <connmgr/detail/post_completion.hpp>
#include <connmgr/error.hpp>
#include <connmgr/lease.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/recycling_allocator.hpp>
#include <boost/asio/steady_timer.hpp>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <type_traits>
#include <vector>

namespace connmgr::detail {

template <class Driver, class Clock>
class async_pool_impl final : public pool_shell<async_pool_impl<Driver, Clock>, Driver, Clock> {
    using base = pool_shell<async_pool_impl, Driver, Clock>;
    using base::core_, base::driver_, base::mutex_, base::params_;
    using typename base::actions_type, typename base::job_type, typename base::slot_type;

public:
    using connection = typename Driver::connection;
    using error_code = boost::system::error_code;

    static constexpr std::size_t parallel_connects = 2;

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

    async_pool_impl(std::vector<boost::asio::any_io_executor> lanes, Driver driver,
                    pool_params params)
        : base(std::move(driver), std::move(params), flavour::async, parallel_connects),
          lanes_(checked(std::move(lanes))),
          ex_(lanes_.front()),
          timer_(ex_) {
        for (const auto& l : lanes_) {
            const auto* io = l.template target<boost::asio::io_context::executor_type>();
            lane_contexts_.push_back(io != nullptr ? &io->context() : nullptr);
        }
    }

    /// The lane (index into executors()) whose io_context `context` is, or any_home.
    unsigned lane_of(const void* context) const noexcept {
        if (lanes_.size() < 2) return 0;
        if (context == nullptr) return any_home;
        for (std::size_t i = 0; i < lane_contexts_.size(); ++i)
            if (lane_contexts_[i] == context) return static_cast<unsigned>(i);
        return any_home;
    }

    void start_acquire(std::shared_ptr<async_waiter> w) {
        this->check_fork();
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

    void give_back(void* token, bool broken) noexcept override {
        this->check_fork();
        auto* s = static_cast<slot_type*>(token);
        const bool keep = this->keepable(*s, broken);
        if constexpr (async_restorable<Driver>) {
            if (keep && driver_.needs_restore(*s->conn)) {
                const auto deadline =
                    std::chrono::steady_clock::now() + params_.pool.connect_timeout;
                driver_.async_restore(*s->conn, deadline,
                                      [self = this->shared_from_this(), s](error_code ec) {
                                          self->returned(*s, !ec);
                                      });
                return;
            }
        }
        returned(*s, keep);
    }

    const boost::asio::any_io_executor& get_executor() const noexcept { return ex_; }
    const std::vector<boost::asio::any_io_executor>& executors() const noexcept { return lanes_; }

    // For pool_shell: the shell's side of close() and check_fork().
    void on_closing(std::unique_lock<std::mutex>&) { timer_.cancel(); }
    void forget_threads() {}  // the executor's threads are the manager's concern
    void execute(actions_type& todo, std::unique_lock<std::mutex>& lock) { run(todo, lock); }

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
    // The return path once the connection is as clean as the driver can make it. `usable`
    // already holds the driver's is_broken() (keepable) or the restore's outcome: asking
    // again would cost a Redis or PostgreSQL connection another poll(2) per request.
    void returned(slot_type& s, bool usable) noexcept {
        const bool reusable = usable && driver_.reset(*s.conn);
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
        this->notify_drained();
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
            if (this->dispose(a)) continue;
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
                // Round robin: each lane gets its share of every pool's connections.
                const auto lane = static_cast<unsigned>(
                    next_lane_.fetch_add(1, std::memory_order_relaxed) % lanes_.size());
                driver_.async_connect(lanes_[lane], to_steady<Clock>(c->deadline),
                                      [self = this->shared_from_this(), job = c->job,
                                       lane](connect_outcome<connection> o) {
                                          self->connected(job, lane, std::move(o));
                                      });
            }
        }
    }

    void connected(const job_type& job, unsigned lane, connect_outcome<connection> o) {
        if (o.connection && o.error) driver_.close(*o.connection);  // an error with a connection
        std::unique_lock lock(mutex_);
        actions_type todo;
        if (o.connection && !o.error) {
            auto* s = new slot_type;
            s->conn = std::move(o.connection);
            s->home = lane;
            s->server = o.server;
            todo = core_.on_connected(Clock::now(), job, *s);
        } else {
            todo = core_.on_connect_failed(Clock::now(), job, o.error, o.failure, o.message);
        }
        run(todo, lock);
    }

    // Under the lock: the one timer, for whatever the core wants next.
    void arm(typename Clock::time_point at) {
        timer_.expires_at(to_steady<Clock>(at));
        timer_.async_wait([weak = this->weak_from_this()](error_code ec) {
            if (ec) return;
            if (auto self = weak.lock()) self->run_timers();
        });
    }

    static std::vector<boost::asio::any_io_executor> checked(
        std::vector<boost::asio::any_io_executor> lanes) {
        if (lanes.empty()) throw std::invalid_argument("async_pool: no executor given");
        return lanes;
    }

    const std::vector<boost::asio::any_io_executor> lanes_;
    std::vector<const void*> lane_contexts_;  // each lane's io_context, when it is one
    std::atomic<unsigned> next_lane_{0};
    boost::asio::any_io_executor ex_;  // lanes_.front(): the timer's
    boost::asio::steady_timer timer_;  // guarded by mutex_
};

/// The io_context behind an executor, when it is one (how a waiter's thread is recognized).
template <class Executor>
const void* context_of(const Executor& ex) noexcept {
    if constexpr (std::is_same_v<Executor, boost::asio::io_context::executor_type>) {
        return &ex.context();
    } else if constexpr (std::is_same_v<Executor, boost::asio::any_io_executor>) {
        const auto* io = ex.template target<boost::asio::io_context::executor_type>();
        return io != nullptr ? &io->context() : nullptr;
    } else {
        return nullptr;
    }
}

/// The async_waiter of one completion handler: the only part compiled per handler type.
template <class Driver, class Clock, class Handler>
struct async_waiter_op final : async_pool_impl<Driver, Clock>::async_waiter {
    using impl_type = async_pool_impl<Driver, Clock>;
    using executor = boost::asio::associated_executor_t<Handler, boost::asio::any_io_executor>;

    async_waiter_op(Handler&& h, const boost::asio::any_io_executor& pool_executor)
        : handler(std::move(h)),
          pool_ex(pool_executor),
          ex(boost::asio::get_associated_executor(handler, pool_executor)),
          work(ex) {}

    void complete(boost::system::error_code ec, lease<Driver> l) override {
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

    // May be called after complete() (a wake that raced with the hand-off): `ex` is never
    // moved from, unlike the work guard.
    void run_on_own_executor(std::function<void()> f) override {
        post_completion_to(ex, pool_ex, std::move(f));
    }

    void hook_cancellation(std::weak_ptr<impl_type> pool) override {
        auto slot = boost::asio::get_associated_cancellation_slot(handler);
        if (slot.is_connected()) {
            // Braces: clang 14 cannot build an aggregate from parentheses (P0960).
            slot.template emplace<typename impl_type::cancel_hook>(typename impl_type::cancel_hook{
                std::move(pool), std::weak_ptr<typename impl_type::async_waiter>(this->self)});
        }
    }

    Handler handler;
    boost::asio::any_io_executor pool_ex;
    executor ex;
    boost::asio::executor_work_guard<executor> work;
};

}  // namespace connmgr::detail

namespace connmgr {

template <async_driver Driver, class Clock = std::chrono::steady_clock>
class async_pool : public detail::pool_handle<detail::async_pool_impl<Driver, Clock>, Driver> {
public:
    using executor_type = boost::asio::any_io_executor;
    using signature = void(boost::system::error_code, lease<Driver>);

    /// `ex` runs connects, pings and the timer; completions go to each caller's executor.
    /// Throws config_error when `params.pool` is invalid (see validate()).
    async_pool(boost::asio::any_io_executor ex, Driver driver, pool_params params)
        : async_pool(std::vector<boost::asio::any_io_executor>{std::move(ex)}, std::move(driver),
                     std::move(params)) {}

    /// Connections spread over `executors` (each stays on its own); the timer runs on the
    /// first. Throws std::invalid_argument when `executors` is empty.
    async_pool(std::vector<boost::asio::any_io_executor> executors, Driver driver,
               pool_params params)
        : detail::pool_handle<detail::async_pool_impl<Driver, Clock>, Driver>(
              std::make_shared<detail::async_pool_impl<Driver, Clock>>(
                  std::move(executors), std::move(driver), std::move(params))) {}

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
            [](auto handler, std::shared_ptr<detail::async_pool_impl<Driver, Clock>> impl,
               acquire_options o) {
                using op = detail::async_waiter_op<Driver, Clock, std::decay_t<decltype(handler)>>;
                auto w = std::allocate_shared<op>(boost::asio::recycling_allocator<op>(),
                                                  std::move(handler), impl->get_executor());
                w->home = impl->lane_of(detail::context_of(w->ex));
                w->holder = std::move(o.holder);
                w->timeout = o.timeout;
                impl->start_acquire(std::move(w));
            },
            token, this->impl_, std::move(opts));
    }

    /// close() blocks; see the class note.
    executor_type get_executor() const noexcept { return this->impl_->get_executor(); }
    /// Where its connections live, the timer's executor first.
    const std::vector<executor_type>& executors() const noexcept {
        return this->impl_->executors();
    }
};

}  // namespace connmgr
