#include "manager_impl.hpp"

#include <connmgr/detail/one_thread.hpp>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <memory>
#include <optional>
#include <thread>
#include <vector>

namespace connmgr::detail {

// One io_context per thread rather than one context run by N threads: a connection created
// on a context stays on its thread, so its handlers never migrate and never contend for the
// scheduler's lock with other threads' connections.
struct io_runner::state {
    /// An io_context whose services can be shut down ahead of its destruction.
    struct lane_context : boost::asio::io_context {
        using boost::asio::io_context::io_context;
        void shut_down() { shutdown(); }
    };
    struct lane {
        lane_context io{1};
        std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>>
            work;
        std::thread thread;
    };
    std::vector<std::unique_ptr<lane>> lanes;
    bool running{false};
};

namespace {

std::size_t resolve_threads(std::size_t wanted) {
    if (wanted > 0) return wanted;
    const unsigned cores = std::thread::hardware_concurrency();
    return cores > 0 ? cores : 1;
}

}  // namespace

io_runner::io_runner() = default;

io_runner::~io_runner() {
    stop();
    if (state_ != nullptr) {
        // Every context's pending handlers go first, then any context is destroyed: a
        // handler left on one thread's context (a connect in flight) can own a pool whose
        // timer lives on the first thread's, so destroying the contexts one after the other
        // freed that timer's service under it (ASan, connmgr bench at exit).
        for (auto& l : state_->lanes) l->io.shut_down();
        delete state_;
    }
}

void io_runner::set_threads(std::size_t n) noexcept {
    std::lock_guard lock(mutex_);
    wanted_ = n;
}

void io_runner::start_locked() {
    if (!state_) state_ = new state;
    if (state_->running) return;
    const std::size_t n = resolve_threads(wanted_);
    // Contexts survive a stop (pending work stays queued on them): only more are added.
    while (state_->lanes.size() < n) {
        state_->lanes.push_back(std::make_unique<state::lane>());
        mark_one_thread(state_->lanes.back()->io);
        // Asio creates a context's reactor (epoll, eventfd and timerfd descriptors) on its first
        // timer or socket; creating it now keeps the process's descriptor count flat once the
        // threads run, instead of growing when a pool's second connection lands on a new lane
        // (which a leak check then sees: the soak test did).
        const boost::asio::steady_timer reactor_now(state_->lanes.back()->io);
    }
    for (auto& l : state_->lanes) {
        l->io.restart();
        l->work.emplace(l->io.get_executor());
        l->thread = std::thread([lane = l.get()] {
            // A handler that throws must not take one of the manager's I/O threads down.
            for (;;) {
                try {
                    lane->io.run();
                    return;
                } catch (...) {
                }
            }
        });
    }
    state_->running = true;
}

boost::asio::any_io_executor io_runner::executor() {
    std::lock_guard lock(mutex_);
    start_locked();
    return state_->lanes.front()->io.get_executor();
}

std::vector<boost::asio::any_io_executor> io_runner::executors() {
    std::lock_guard lock(mutex_);
    start_locked();
    std::vector<boost::asio::any_io_executor> out;
    out.reserve(state_->lanes.size());
    for (auto& l : state_->lanes) out.emplace_back(l->io.get_executor());
    return out;
}

void io_runner::stop() noexcept {
    std::lock_guard lock(mutex_);
    if (!state_ || !state_->running) return;
    for (auto& l : state_->lanes) {
        l->work.reset();
        l->io.stop();
    }
    for (auto& l : state_->lanes) {
        if (l->thread.get_id() == std::this_thread::get_id())
            l->thread.detach();  // stopping from one of its own handlers
        else
            l->thread.join();
    }
    state_->running = false;
}

void io_runner::abandon_after_fork() noexcept {
    std::lock_guard lock(mutex_);
    // The parent's threads do not exist here and its io_contexts share the parent's epoll
    // instances: none may be joined, run or destroyed in the child.
    state_ = nullptr;  // intentionally leaked
}

}  // namespace connmgr::detail
