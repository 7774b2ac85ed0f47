#pragma once
// A latency histogram for `connmgr bench`: HDR-style log-linear buckets over nanoseconds.
//
// Values below 128 ns have one bucket each; above, every power of two [2^e, 2^(e+1)) is cut
// into 64 equal buckets, so a bucket is at most 1/64 (1.6%) of its lower bound wide and a
// quantile, reported as its bucket's midpoint, is within 0.8% of the true sample. The layout
// is fixed, so histograms of different clients merge by adding counts; the minimum and the
// maximum are kept exactly.
//
// \par Thread safety
// A plain value: one writer at a time (each bench client records into its own and the runner
// merges them at the end); const members may be called concurrently.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace connmgr::bench {

class latency_histogram {
public:
    /// Linear sub-buckets per power of two above the exact range (relative width 1/64).
    static constexpr unsigned sub_buckets = 64;
    /// Values below this have a bucket of their own.
    static constexpr std::uint64_t exact_limit = 2 * sub_buckets;

    latency_histogram();

    void record(std::uint64_t nanoseconds) noexcept;
    void record(std::chrono::nanoseconds d) noexcept {
        record(d.count() < 0 ? 0 : static_cast<std::uint64_t>(d.count()));
    }

    /// Adds every sample of `other` to this histogram.
    void merge(const latency_histogram& other) noexcept;

    std::uint64_t count() const noexcept { return count_; }
    /// Exact smallest and largest sample; 0 when empty.
    std::uint64_t min() const noexcept { return count_ ? min_ : 0; }
    std::uint64_t max() const noexcept { return max_; }
    /// Mean of the samples (exact: the sum is kept), 0 when empty.
    double mean() const noexcept;

    /// The sample at quantile `q` in [0, 1] (the ceil(q * count)-th smallest), as its bucket's
    /// midpoint clamped to [min, max]; 0 when empty. q = 1 returns max() exactly.
    std::uint64_t value_at_quantile(double q) const noexcept;

    /// Bucket arithmetic, public for the tests.
    static std::size_t bucket_index(std::uint64_t v) noexcept;
    static std::uint64_t bucket_lower(std::size_t index) noexcept;
    static std::uint64_t bucket_width(std::size_t index) noexcept;
    static std::size_t bucket_count() noexcept;

private:
    std::vector<std::uint64_t> counts_;
    std::uint64_t count_{0};
    std::uint64_t min_{0};
    std::uint64_t max_{0};
    long double sum_{0};
};

}  // namespace connmgr::bench
