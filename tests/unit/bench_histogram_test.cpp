#include "bench_histogram.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

namespace {

using connmgr::bench::latency_histogram;

// The exact order statistic the histogram approximates: the ceil(q * n)-th smallest.
std::uint64_t exact_quantile(std::vector<std::uint64_t> sorted, double q) {
    std::sort(sorted.begin(), sorted.end());
    auto rank = static_cast<std::size_t>(std::ceil(q * static_cast<double>(sorted.size())));
    rank = std::clamp<std::size_t>(rank, 1, sorted.size());
    return sorted[rank - 1];
}

void expect_within_precision(const latency_histogram& h, const std::vector<std::uint64_t>& xs) {
    for (double q : {0.0, 0.01, 0.25, 0.5, 0.9, 0.95, 0.99, 0.999}) {
        const double want = static_cast<double>(exact_quantile(xs, q));
        const double got = static_cast<double>(h.value_at_quantile(q));
        // Half a bucket: 1/128 of the value, plus one for the integer midpoint.
        EXPECT_LE(std::abs(got - want), want / 128.0 + 1.0) << "q=" << q;
    }
}

TEST(BenchHistogram, BucketsAreContiguousAndNarrow) {
    // Every bucket starts where the previous ends, and is at most 1/64 of its lower bound wide.
    for (std::size_t i = 1; i < latency_histogram::bucket_count(); ++i) {
        ASSERT_EQ(latency_histogram::bucket_lower(i),
                  latency_histogram::bucket_lower(i - 1) + latency_histogram::bucket_width(i - 1))
            << i;
        if (i >= latency_histogram::exact_limit) {
            ASSERT_LE(latency_histogram::bucket_width(i) * 64, latency_histogram::bucket_lower(i));
        }
    }
    EXPECT_EQ(latency_histogram::bucket_index(~std::uint64_t{0}),
              latency_histogram::bucket_count() - 1);
}

TEST(BenchHistogram, ValuesLandInTheirBucket) {
    std::mt19937_64 rng{7};
    for (int n = 0; n < 100000; ++n) {
        const std::uint64_t v = rng() >> (rng() % 64);
        const auto i = latency_histogram::bucket_index(v);
        ASSERT_LE(latency_histogram::bucket_lower(i), v);
        ASSERT_LT(v - latency_histogram::bucket_lower(i), latency_histogram::bucket_width(i));
    }
}

TEST(BenchHistogram, EmptyReportsZero) {
    latency_histogram h;
    EXPECT_EQ(h.count(), 0u);
    EXPECT_EQ(h.value_at_quantile(0.5), 0u);
    EXPECT_EQ(h.max(), 0u);
    EXPECT_EQ(h.min(), 0u);
    EXPECT_EQ(h.mean(), 0.0);
}

TEST(BenchHistogram, SmallValuesAreExact) {
    latency_histogram h;
    for (std::uint64_t v = 1; v <= 100; ++v) h.record(v);
    EXPECT_EQ(h.value_at_quantile(0.5), 50u);
    EXPECT_EQ(h.value_at_quantile(0.95), 95u);
    EXPECT_EQ(h.value_at_quantile(0.99), 99u);
    EXPECT_EQ(h.value_at_quantile(1.0), 100u);
    EXPECT_DOUBLE_EQ(h.mean(), 50.5);
}

TEST(BenchHistogram, UniformDistributionWithinPrecision) {
    std::mt19937_64 rng{1};
    std::uniform_int_distribution<std::uint64_t> d{50'000, 5'000'000};  // 50 us .. 5 ms
    latency_histogram h;
    std::vector<std::uint64_t> xs;
    for (int i = 0; i < 200'000; ++i) {
        xs.push_back(d(rng));
        h.record(xs.back());
    }
    expect_within_precision(h, xs);
}

TEST(BenchHistogram, LogNormalDistributionWithinPrecision) {
    // Latencies are skewed: a long right tail over several orders of magnitude.
    std::mt19937_64 rng{2};
    std::lognormal_distribution<double> d{std::log(100'000.0), 1.0};  // median 100 us
    latency_histogram h;
    std::vector<std::uint64_t> xs;
    for (int i = 0; i < 200'000; ++i) {
        xs.push_back(static_cast<std::uint64_t>(d(rng)));
        h.record(xs.back());
    }
    expect_within_precision(h, xs);
    EXPECT_EQ(h.max(), *std::max_element(xs.begin(), xs.end()));
    EXPECT_EQ(h.min(), *std::min_element(xs.begin(), xs.end()));
}

TEST(BenchHistogram, MaxIsExact) {
    latency_histogram h;
    h.record(std::chrono::microseconds{120});
    h.record(std::chrono::nanoseconds{987'654'321});  // inside a bucket ~7.8 ms wide
    EXPECT_EQ(h.max(), 987'654'321u);
    EXPECT_EQ(h.value_at_quantile(1.0), 987'654'321u);
    // The midpoint of the top bucket is clamped to the true maximum, never above it.
    EXPECT_LE(h.value_at_quantile(0.99), 987'654'321u);
}

TEST(BenchHistogram, MergeEqualsRecordingEverythingInOne) {
    std::mt19937_64 rng{3};
    std::exponential_distribution<double> d{1.0 / 200'000.0};
    latency_histogram all;
    std::vector<latency_histogram> parts(8);
    std::vector<std::uint64_t> xs;
    for (int i = 0; i < 80'000; ++i) {
        const auto v = static_cast<std::uint64_t>(d(rng)) + 1000;
        xs.push_back(v);
        all.record(v);
        parts[static_cast<std::size_t>(i) % parts.size()].record(v);
    }
    latency_histogram merged;
    for (const auto& p : parts) merged.merge(p);
    EXPECT_EQ(merged.count(), all.count());
    EXPECT_EQ(merged.max(), all.max());
    EXPECT_EQ(merged.min(), all.min());
    EXPECT_DOUBLE_EQ(merged.mean(), all.mean());
    for (double q : {0.5, 0.95, 0.99})
        EXPECT_EQ(merged.value_at_quantile(q), all.value_at_quantile(q));
    expect_within_precision(merged, xs);
}

TEST(BenchHistogram, MergeIntoEmptyAndFromEmpty) {
    latency_histogram a;
    latency_histogram b;
    b.record(500);
    b.record(700);
    a.merge(b);
    a.merge(latency_histogram{});
    EXPECT_EQ(a.count(), 2u);
    EXPECT_EQ(a.min(), 500u);
    EXPECT_EQ(a.max(), 700u);
}

TEST(BenchHistogram, BimodalQuantilesPickTheRightMode) {
    // 90% fast, 10% slow: p50 in the fast mode, p95 and p99 in the slow one.
    latency_histogram h;
    for (int i = 0; i < 900; ++i) h.record(std::chrono::microseconds{100});
    for (int i = 0; i < 100; ++i) h.record(std::chrono::milliseconds{10});
    EXPECT_NEAR(static_cast<double>(h.value_at_quantile(0.5)), 100'000.0, 100'000.0 / 128);
    EXPECT_NEAR(static_cast<double>(h.value_at_quantile(0.9)), 100'000.0, 100'000.0 / 128);
    EXPECT_NEAR(static_cast<double>(h.value_at_quantile(0.95)), 1e7, 1e7 / 128);
    EXPECT_EQ(h.value_at_quantile(0.99), 10'000'000u);  // clamped to the exact max
}

}  // namespace
