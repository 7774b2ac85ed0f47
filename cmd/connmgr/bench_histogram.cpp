#include "bench_histogram.hpp"

#include <algorithm>
#include <bit>
#include <cmath>

namespace connmgr::bench {
namespace {

// log2(sub_buckets): the shift that leaves 64..127 of a value >= exact_limit.
constexpr unsigned sub_bits = std::countr_zero(latency_histogram::sub_buckets);
constexpr unsigned max_exponent = 63;

}  // namespace

std::size_t latency_histogram::bucket_count() noexcept {
    return bucket_index(~std::uint64_t{0}) + 1;
}

std::size_t latency_histogram::bucket_index(std::uint64_t v) noexcept {
    if (v < exact_limit) return static_cast<std::size_t>(v);
    // v in [2^e, 2^(e+1)), e >= 7: keep the top 7 bits (64..127) as the sub-bucket.
    const unsigned e = static_cast<unsigned>(std::bit_width(v)) - 1;
    const unsigned shift = e - sub_bits;
    const std::uint64_t sub = v >> shift;
    return static_cast<std::size_t>((e - sub_bits) * sub_buckets + sub);
}

std::uint64_t latency_histogram::bucket_width(std::size_t index) noexcept {
    if (index < exact_limit) return 1;
    return std::uint64_t{1} << (index / sub_buckets - 1);
}

std::uint64_t latency_histogram::bucket_lower(std::size_t index) noexcept {
    if (index < exact_limit) return index;
    return (index % sub_buckets + sub_buckets) << (index / sub_buckets - 1);
}

latency_histogram::latency_histogram()
    : counts_((max_exponent - sub_bits) * sub_buckets + 2 * sub_buckets, 0) {}

void latency_histogram::record(std::uint64_t v) noexcept {
    ++counts_[bucket_index(v)];
    min_ = count_ == 0 ? v : std::min(min_, v);
    max_ = std::max(max_, v);
    sum_ += static_cast<long double>(v);
    ++count_;
}

void latency_histogram::merge(const latency_histogram& other) noexcept {
    if (other.count_ == 0) return;
    for (std::size_t i = 0; i < counts_.size(); ++i) counts_[i] += other.counts_[i];
    min_ = count_ == 0 ? other.min_ : std::min(min_, other.min_);
    max_ = std::max(max_, other.max_);
    sum_ += other.sum_;
    count_ += other.count_;
}

double latency_histogram::mean() const noexcept {
    return count_ ? static_cast<double>(sum_ / static_cast<long double>(count_)) : 0.0;
}

std::uint64_t latency_histogram::value_at_quantile(double q) const noexcept {
    if (count_ == 0) return 0;
    if (!(q < 1.0)) return max_;
    q = std::max(q, 0.0);
    auto rank = static_cast<std::uint64_t>(std::ceil(q * static_cast<double>(count_)));
    rank = std::clamp<std::uint64_t>(rank, 1, count_);
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < counts_.size(); ++i) {
        seen += counts_[i];
        if (seen >= rank) {
            const std::uint64_t mid = bucket_lower(i) + bucket_width(i) / 2;
            return std::clamp(mid, min_, max_);
        }
    }
    return max_;
}

}  // namespace connmgr::bench
