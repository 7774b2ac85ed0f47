// Overload (issue 16): far more borrowers than connections. The deadline is the contract: a
// waiter gets a connection or acquire_timeout (pool_exhausted past max_waiters) by
// acquire_timeout, never later; the server never sees more than max_size; the pool serves as
// before once the storm is over.
#include "../fault/scenario.hpp"

namespace connmgr::scenario {
namespace {

constexpr std::size_t pool_size = 20;
constexpr auto acquire_timeout = 1s;
constexpr auto hold = 100ms;  // each borrower holds its connection this long on the server

pool_options overload_pool() {
    pool_options p;
    p.max_size = pool_size;
    p.acquire_timeout = acquire_timeout;
    p.connect_timeout = 2s;
    return p;
}

class Overload : public Scenario {
protected:
    int storm_workers() const { return is_sync() ? 200 : 500; }
};

TEST_P(Overload, OnlyAcquireTimeoutsWithinTheDeadlineAndThroughputRecovers) {
    open(overload_pool());
    const double before = throughput(static_cast<int>(pool_size), 2s, hold);
    tally storm;
    run_load(storm, storm_workers(), clock::now() + 4s, hold, false);
    const double after = throughput(static_cast<int>(pool_size), 2s, hold);

    const auto p99 = std::chrono::duration_cast<milliseconds>(storm.wait_quantile(0.99));
    char extra[128];
    std::snprintf(extra, sizeof extra, "p99_wait=%lldms before=%.0f/s after=%.0f/s",
                  static_cast<long long>(p99.count()), before, after);
    report("overload", storm, extra);

    for (const auto& [o, n] : storm.by_outcome())
        EXPECT_TRUE(o == "ok" || o == "acquire_timeout") << n << " x " << o;
    EXPECT_GT(storm.count("ok"), 0);
    // A correctness bound of the deadline (timer slack and a loaded machine), not speed.
    EXPECT_LE(p99, acquire_timeout + 50ms);
    EXPECT_GE(after, 0.5 * before) << "before " << before << "/s, after " << after << "/s";
    expect_peak_within_max_size();
}

TEST_P(Overload, BeyondMaxWaitersFailAtOnceWithPoolExhausted) {
    auto pool = overload_pool();
    pool.max_waiters = 50;
    open(pool);
    tally storm;
    run_load(storm, storm_workers(), clock::now() + 3s, hold, false);
    const auto p99 = std::chrono::duration_cast<milliseconds>(storm.wait_quantile(0.99));
    report("overload_max_waiters", storm, "p99_wait=" + std::to_string(p99.count()) + "ms");

    for (const auto& [o, n] : storm.by_outcome())
        EXPECT_TRUE(o == "ok" || o == "acquire_timeout" || o == "pool_exhausted")
            << n << " x " << o;
    EXPECT_GT(storm.count("ok"), 0);
    EXPECT_GT(storm.count("pool_exhausted"), 0);
    EXPECT_LE(p99, acquire_timeout + 50ms);
    expect_peak_within_max_size();
}

INSTANTIATE_TEST_SUITE_P(Load, Overload, testing::ValuesIn(every_param()), param_name);

}  // namespace
}  // namespace connmgr::scenario
