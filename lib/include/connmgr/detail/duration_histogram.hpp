#pragma once
/// A fixed-bucket histogram of durations, the shape Prometheus exposes: one counter per upper
/// bound plus the total, the sum and the largest observation. The pool core keeps one each for
/// acquire waits, connection create times and lease use times.
///
/// \par Thread safety
/// None: the owner serializes every call (the pool core runs under its shell's lock).

#include <connmgr/pool_stats.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <span>
#include <vector>

namespace connmgr::detail {

class duration_histogram {
public:
    /// `bounds`: ascending upper bounds in seconds, with static storage duration.
    explicit duration_histogram(std::span<const double> bounds)
        : bounds_(bounds), counts_(bounds.size(), 0) {}

    template <class Rep, class Period>
    void record(std::chrono::duration<Rep, Period> d) noexcept {
        record_seconds(std::chrono::duration<double>(d).count());
    }

    void record_seconds(double s) noexcept {
        s = std::max(s, 0.0);  // a clock that stepped back is not a negative duration
        ++count_;
        sum_ += s;
        max_ = std::max(max_, s);
        const auto it = std::lower_bound(bounds_.begin(), bounds_.end(), s);
        if (it != bounds_.end()) ++counts_[static_cast<std::size_t>(it - bounds_.begin())];
    }

    std::uint64_t count() const noexcept { return count_; }
    double sum() const noexcept { return sum_; }
    double max() const noexcept { return max_; }

    /// Cumulative counts per bound, as Prometheus' `le` buckets.
    std::vector<std::uint64_t> cumulative() const {
        std::vector<std::uint64_t> out(counts_.size());
        std::uint64_t running = 0;
        for (std::size_t i = 0; i < counts_.size(); ++i) out[i] = running += counts_[i];
        return out;
    }

    histogram_stats snapshot() const {
        return {std::vector<double>(bounds_.begin(), bounds_.end()), cumulative(), count_, sum_,
                max_};
    }

private:
    std::span<const double> bounds_;
    std::vector<std::uint64_t> counts_;  // per bucket, not cumulative
    std::uint64_t count_{0};
    double sum_{0};
    double max_{0};
};

}  // namespace connmgr::detail
