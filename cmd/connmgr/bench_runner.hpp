#pragma once
// The load loop of `connmgr bench`, independent of any backend: N clients each send requests
// (one round trip carrying `pipeline` commands) through a callable, time every round trip
// into their own histogram and count failures by name; the calling thread meanwhile samples
// the pool and draws the progress bar. Sync clients are threads (here); async clients are
// coroutines (bench_async_runner.hpp).
//
// \par Thread safety
// run_sync() is called from one thread and returns when every client has finished; the
// request callables run concurrently, one per client, and must be safe to call so.

#include "bench_histogram.hpp"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <map>
#include <mutex>
#include <string>

namespace connmgr::bench {

using bench_clock = std::chrono::steady_clock;

struct run_plan {
    std::size_t clients{1};                ///< at least 1
    std::uint64_t requests_per_client{0};  ///< commands per client; 0 = run for `duration`
    std::chrono::nanoseconds duration{std::chrono::seconds{10}};
    std::size_t pipeline{1};  ///< commands per round trip
};

/// What a failed request said: the text of its exception (failure_message()).
struct first_failure {
    bench_clock::time_point at{};  ///< when it was recorded
    std::string message;
    /// False when the exception carried only its error code (an async acquire completes
    /// with a code, not the pool's message): `message` is then the code's own text.
    bool detailed{true};
};

struct run_result {
    latency_histogram latency;                          ///< successful round trips, nanoseconds
    std::uint64_t ok{0};                                ///< successful commands
    std::map<std::string, std::uint64_t> errors;        ///< failed commands by name
    std::map<std::string, first_failure> first_errors;  ///< the earliest failure of each name
    std::chrono::nanoseconds elapsed{0};                ///< from the start to the last client's end
};

/// Names a request's failure (an errc name such as "acquire_timeout").
using error_classifier = std::function<std::string(std::exception_ptr)>;

/// The text of a request's failure: what() without the ": <code message> [category:n]"
/// Boost.System appends; `detailed` false when there is nothing but the code's message.
first_failure failure_message(std::exception_ptr failure);

/// Called from the runner's thread about every `sample_interval` while clients run, with the
/// commands done and failed so far and the time since the start.
using run_observer =
    std::function<void(std::uint64_t done, std::uint64_t failed, std::chrono::nanoseconds)>;

/// One round trip carrying `n` commands; throws on failure.
using sync_request = std::function<void(std::size_t n)>;

inline constexpr std::chrono::milliseconds sample_interval{5};

/// Runs `plan.clients` threads; `make_client(i)` is called on client i's thread before the
/// start, so per-client state (a connection, a key) is set up outside the timed run.
run_result run_sync(const run_plan& plan,
                    const std::function<sync_request(std::size_t client)>& make_client,
                    const error_classifier& classify, const run_observer& observe);

namespace detail {

/// What the clients share: the plan, the clock, live counters and the end-of-run signal.
class run_state {
public:
    run_state(const run_plan& plan, std::size_t clients_left)
        : plan_(plan), clients_left_(clients_left) {}

    /// Called once, before any client sends.
    void start() { start_ = bench_clock::now(); }
    /// From the start to the moment the last client finished; valid after wait().
    std::chrono::nanoseconds elapsed() const { return end_ - start_; }

    /// Commands in client's next round trip given how many it has sent; 0 = finished.
    std::size_t next_batch(std::uint64_t sent) const;

    /// Records one round trip's outcome in the client's own tally and the live counters.
    void record(run_result& tally, std::size_t n, bench_clock::time_point begun,
                std::exception_ptr failure, const error_classifier& classify);

    void client_done();
    /// Blocks until every client is done, calling `observe` every sample_interval.
    void wait(const run_observer& observe);

private:
    run_plan plan_;
    bench_clock::time_point start_{};
    bench_clock::time_point end_{};  // guarded by mutex_
    std::atomic<std::uint64_t> done_{0};
    std::atomic<std::uint64_t> failed_{0};
    std::mutex mutex_;
    std::condition_variable all_done_;
    std::size_t clients_left_;
};

/// Merges the clients' tallies; `elapsed` is left to the caller.
run_result merge(const std::vector<run_result>& tallies);

}  // namespace detail
}  // namespace connmgr::bench
