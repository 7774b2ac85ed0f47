#include "manager_impl.hpp"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include <optional>
#include <thread>

namespace connmgr::detail {

struct io_runner::state {
    boost::asio::io_context io{1};
    std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> work;
    std::thread thread;
};

io_runner::io_runner() = default;

io_runner::~io_runner() {
    stop();
    delete state_;
}

boost::asio::any_io_executor io_runner::executor() {
    std::lock_guard lock(mutex_);
    if (!state_) state_ = new state;
    if (!state_->thread.joinable()) {
        state_->io.restart();
        state_->work.emplace(state_->io.get_executor());
        state_->thread = std::thread([s = state_] {
            // A handler that throws must not take the manager's I/O thread down.
            for (;;) {
                try {
                    s->io.run();
                    return;
                } catch (...) {
                }
            }
        });
    }
    return state_->io.get_executor();
}

void io_runner::stop() noexcept {
    std::lock_guard lock(mutex_);
    if (!state_ || !state_->thread.joinable()) return;
    state_->work.reset();
    state_->io.stop();
    if (state_->thread.get_id() == std::this_thread::get_id())
        state_->thread.detach();  // stopping from one of its own handlers
    else
        state_->thread.join();
}

void io_runner::abandon_after_fork() noexcept {
    std::lock_guard lock(mutex_);
    // The parent's thread does not exist here and its io_context shares the parent's epoll
    // instance: neither may be joined, run or destroyed in the child.
    state_ = nullptr;  // intentionally leaked
}

}  // namespace connmgr::detail
