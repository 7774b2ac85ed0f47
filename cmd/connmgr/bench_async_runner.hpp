#pragma once
// Async clients for `connmgr bench`: one coroutine per client, spread round robin over the
// given executors (the manager's I/O threads), the same loop and tallies as run_sync().
//
// \par Thread safety
// run_async() blocks the calling thread until every coroutine has finished; the coroutines run
// on `executors` and must not be waited for from one of their threads. Each executor must run
// its handlers one at a time (an io_context run by one thread, or a strand): its clients share
// one tally.

#include "bench_runner.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <vector>

namespace connmgr::bench {

/// One round trip carrying `n` commands; completes by throwing on failure.
using async_request = std::function<boost::asio::awaitable<void>(std::size_t n)>;

/// `make_client(i)` is called on the caller's thread before the start.
run_result run_async(const run_plan& plan,
                     const std::vector<boost::asio::any_io_executor>& executors,
                     const std::function<async_request(std::size_t client)>& make_client,
                     const error_classifier& classify, const run_observer& observe);

}  // namespace connmgr::bench
