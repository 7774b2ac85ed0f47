#pragma once
/// A clock that only moves when a test says so; usable as the pools' Clock parameter.
///
/// \par Thread safety
/// now(), advance() and set() are safe from any thread (one process-wide time).

#include <atomic>
#include <chrono>
#include <cstdint>

namespace connmgr::test {

struct manual_clock {
    using rep = std::int64_t;
    using period = std::nano;
    using duration = std::chrono::duration<rep, period>;
    using time_point = std::chrono::time_point<manual_clock>;
    static constexpr bool is_steady = true;

    static time_point now() noexcept { return time_point{duration{ticks_.load()}}; }
    static void advance(duration d) noexcept { ticks_.fetch_add(d.count()); }
    /// Starts tests from a known, non-zero point.
    static void reset() noexcept { ticks_.store(std::int64_t{1'000'000'000'000}); }

private:
    static inline std::atomic<std::int64_t> ticks_{1'000'000'000'000};
};

}  // namespace connmgr::test
