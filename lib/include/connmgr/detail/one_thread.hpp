#pragma once
// A mark on an io_context that exactly one thread runs (internal).

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/execution_context.hpp>
#include <boost/asio/io_context.hpp>

namespace connmgr::detail {

/// Present on an io_context that one thread runs for its whole life (each of the manager's
/// I/O threads). Its handlers never run at the same time, so work that lives on it needs no
/// strand: a strand costs every hop a queue under a mutex and, when entered from outside, a
/// second trip through the scheduler.
class one_thread_mark : public boost::asio::execution_context::service {
public:
    using key_type = one_thread_mark;
    static inline boost::asio::execution_context::id id;

    explicit one_thread_mark(boost::asio::execution_context& owner) : service(owner) {}

private:
    void shutdown() override {}
};

/// Marks `io`; call before any work is put on it, and only when one thread will run it.
inline void mark_one_thread(boost::asio::io_context& io) {
    boost::asio::make_service<one_thread_mark>(io);
}

/// `ex` is an io_context executor of a marked context.
inline bool runs_on_one_thread(const boost::asio::any_io_executor& ex) {
    const auto* io = ex.target<boost::asio::io_context::executor_type>();
    return io != nullptr && boost::asio::has_service<one_thread_mark>(io->context());
}

}  // namespace connmgr::detail
