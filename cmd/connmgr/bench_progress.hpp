#pragma once
// The live progress line of `connmgr bench`, redrawn in place on stderr.
//
// \par Thread safety
// One thread (the runner's observer) calls update() and finish().

#include <chrono>
#include <cstdint>
#include <string>

namespace connmgr::bench {

class progress_bar {
public:
    /// `total` requests to expect, or 0 when the run is bounded by `duration` instead.
    /// Draws only when `enabled` (the caller passes whether stderr is a terminal).
    progress_bar(bool enabled, std::uint64_t total, std::chrono::nanoseconds duration);
    ~progress_bar();
    progress_bar(const progress_bar&) = delete;
    progress_bar& operator=(const progress_bar&) = delete;

    /// Redraws at most every 100 ms.
    void update(std::uint64_t done, std::uint64_t failed, std::chrono::nanoseconds elapsed);
    /// Erases the line, so the report starts on a clean one. Idempotent.
    void finish();

    /// The line as drawn (no carriage return), for tests.
    std::string render(std::uint64_t done, std::uint64_t failed,
                       std::chrono::nanoseconds elapsed) const;

    /// Whether stderr is a terminal.
    static bool stderr_is_terminal() noexcept;

private:
    bool enabled_;
    bool drawn_{false};
    std::uint64_t total_;
    std::chrono::nanoseconds duration_;
    std::chrono::nanoseconds last_draw_{-std::chrono::seconds{1}};
};

}  // namespace connmgr::bench
