#include "bench_progress.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstdio>

namespace connmgr::bench {
namespace {

constexpr int bar_width = 30;

double seconds(std::chrono::nanoseconds d) { return std::chrono::duration<double>(d).count(); }

}  // namespace

progress_bar::progress_bar(bool enabled, std::uint64_t total, std::chrono::nanoseconds duration)
    : enabled_(enabled), total_(total), duration_(duration) {}

progress_bar::~progress_bar() { finish(); }

bool progress_bar::stderr_is_terminal() noexcept { return ::isatty(STDERR_FILENO) == 1; }

std::string progress_bar::render(std::uint64_t done, std::uint64_t failed,
                                 std::chrono::nanoseconds elapsed) const {
    double fraction = 0;
    if (total_ > 0)
        fraction = static_cast<double>(done) / static_cast<double>(total_);
    else if (duration_.count() > 0)
        fraction = seconds(elapsed) / seconds(duration_);
    fraction = std::clamp(fraction, 0.0, 1.0);
    const int filled = static_cast<int>(fraction * bar_width);

    std::string line = "[";
    line.append(static_cast<std::size_t>(filled), '#');
    line.append(static_cast<std::size_t>(bar_width - filled), '.');
    line += "]";
    const double rate = elapsed.count() > 0 ? static_cast<double>(done) / seconds(elapsed) : 0.0;
    char buf[160];
    if (total_ > 0)
        std::snprintf(buf, sizeof buf, " %3d%%  %llu/%llu  %.0f/s  errors %llu  %.1fs",
                      static_cast<int>(fraction * 100), static_cast<unsigned long long>(done),
                      static_cast<unsigned long long>(total_), rate,
                      static_cast<unsigned long long>(failed), seconds(elapsed));
    else
        std::snprintf(buf, sizeof buf, " %3d%%  %llu  %.0f/s  errors %llu  %.1f/%.1fs",
                      static_cast<int>(fraction * 100), static_cast<unsigned long long>(done), rate,
                      static_cast<unsigned long long>(failed), seconds(elapsed),
                      seconds(duration_));
    return line + buf;
}

void progress_bar::update(std::uint64_t done, std::uint64_t failed,
                          std::chrono::nanoseconds elapsed) {
    if (!enabled_ || elapsed - last_draw_ < std::chrono::milliseconds{100}) return;
    last_draw_ = elapsed;
    const std::string line = render(done, failed, elapsed);
    // \r and "erase to end of line" keep one line however its length changes.
    std::fprintf(stderr, "\r%s\x1b[K", line.c_str());
    std::fflush(stderr);
    drawn_ = true;
}

void progress_bar::finish() {
    if (!drawn_) return;
    std::fprintf(stderr, "\r\x1b[K");
    std::fflush(stderr);
    drawn_ = false;
}

}  // namespace connmgr::bench
