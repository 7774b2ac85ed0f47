#pragma once
// What `connmgr bench` reports: counts, latency, the pool's view, as text or DESIGN §8 JSON.
//
// \par Thread safety
// Plain values and pure functions: build a report on one thread, then read it from any.

#include "bench_histogram.hpp"

#include <boost/json/object.hpp>

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace connmgr::bench {

/// The pool's side of a run, from the manager's statistics.
struct pool_figures {
    std::size_t max_size{0};
    std::size_t peak_in_use{0};   ///< highest in_use seen by the sampler during the run
    std::size_t peak_waiters{0};  ///< highest waiters seen by the sampler during the run
    /// Acquire waits of the measured run only (not the warm-up's): see set_window_waits().
    double wait_seconds_sum{0};
    double wait_seconds_max{0};
    bool wait_max_exact{true};  ///< false: wait_seconds_max is an upper bound
};

/// A pool's cumulative acquire-wait figures at one moment (pool_stats' wait_* fields).
struct wait_totals {
    double sum{0};                          ///< seconds
    double max{0};                          ///< seconds
    std::vector<double> bounds;             ///< histogram upper bounds, seconds, ascending
    std::vector<std::uint64_t> cumulative;  ///< waits <= bounds[i]
};

/// Sets `out`'s wait figures to those of the window between `start` (after the warm-up; all
/// zero without one) and `end` (after the run). The sum is exact. The pool keeps one maximum
/// for its whole life, so the window's maximum is exact when it is a new record (or when the
/// window holds one wait, or none); otherwise it is bounded by the earlier maximum, the
/// window's sum and the upper bound of the highest histogram bucket the window added to, the
/// least of the three, and `wait_max_exact` is false.
void set_window_waits(pool_figures& out, const wait_totals& start, const wait_totals& end);

struct bench_report {
    std::string database;
    std::string backend;  ///< "postgres", "redis", "falkordb"
    std::string flavour;  ///< "sync", "async"
    std::string command;  ///< as given, for the text report
    std::string graph;    ///< falkordb: the graph --command runs on; empty otherwise
    std::size_t clients{0};
    /// Threads the clients ran on: one each (sync), the manager's I/O threads (async).
    std::size_t threads{0};
    std::size_t pipeline{1};  ///< commands per round trip
    /// `--requests`; empty in `--duration` mode (JSON null).
    std::optional<std::uint64_t> requests_per_client;
    std::uint64_t requests_ok{0};
    std::map<std::string, std::uint64_t> errors;  ///< failed requests by errc name
    /// The first message of each kind in `errors` (passwords already scrubbed).
    std::map<std::string, std::string> error_messages;
    double duration_seconds{0};
    latency_histogram latency;  ///< of successful round trips, in nanoseconds
    pool_figures pool;

    std::uint64_t requests_failed() const noexcept;
    /// Failed by `acquire_timeout`.
    std::uint64_t timeouts() const noexcept;
    /// Successful requests (commands, pipelined ones counted one by one) per second.
    double throughput_per_second() const noexcept;
};

/// The DESIGN §8 `bench --json` document.
boost::json::object to_json(const bench_report& r);

/// `v` as compact JSON text with plain decimal numbers ("0.2005", not Boost.JSON's
/// "2.005E-1"), one line.
std::string serialize(const boost::json::value& v);

/// The human report, several lines ending in a newline.
std::string to_text(const bench_report& r);

}  // namespace connmgr::bench
