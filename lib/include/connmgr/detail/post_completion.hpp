#pragma once
/// Where an async pool posts a caller's completion.
///
/// The rule is the caller's associated executor. The exception is a handler bound to
/// system_executor, as use_future's are: Asio would run it on its system thread pool, whose
/// threads a forked child does not inherit while it does inherit the pool's bookkeeping, so the
/// completion would never run there. Such a handler may run on any thread, so it runs on the
/// pool's own executor instead (and no system thread pool is started for it at all).
///
/// \par Thread safety
/// Stateless; callable from any thread.

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/execution/context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/query.hpp>
#include <boost/asio/system_executor.hpp>

#include <utility>

namespace connmgr::detail {

template <class Executor>
bool runs_on_system_context(const Executor& ex) noexcept {
    namespace execution = boost::asio::execution;
    if constexpr (boost::asio::can_query<const Executor&, execution::context_t>::value) {
        const auto& system = boost::asio::query(boost::asio::system_executor(), execution::context);
        return static_cast<const void*>(&boost::asio::query(ex, execution::context)) ==
               static_cast<const void*>(&system);
    } else {
        return false;  // a legacy executor: never the system context
    }
}

/// Posts `f` to `handler_ex`, or to `pool_ex` when `handler_ex` is the system context's.
template <class Executor, class Function>
void post_completion_to(const Executor& handler_ex, const boost::asio::any_io_executor& pool_ex,
                        Function&& f) {
    if (runs_on_system_context(handler_ex))
        boost::asio::post(pool_ex, std::forward<Function>(f));
    else
        boost::asio::post(handler_ex, std::forward<Function>(f));
}

}  // namespace connmgr::detail
