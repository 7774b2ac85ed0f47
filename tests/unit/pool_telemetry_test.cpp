// The pool core's telemetry measurements stepped by hand: the histogram type, lease use and
// create times, the leases out now, and what fill() reports beside the counters.
#include <connmgr/detail/duration_histogram.hpp>
#include <connmgr/detail/pool_common.hpp>
#include <connmgr/detail/pool_state.hpp>

#include <gtest/gtest.h>

#include "manual_clock.hpp"

#include <array>
#include <memory>
#include <vector>

namespace {

using namespace std::chrono_literals;
using connmgr::detail::duration_histogram;
using connmgr::test::manual_clock;
using core = connmgr::detail::pool_state<manual_clock>;
using slot = connmgr::detail::slot<manual_clock>;
using waiter = connmgr::detail::waiter<manual_clock>;

constexpr std::array<double, 3> bounds{0.01, 0.1, 1.0};

TEST(DurationHistogram, CountsCumulativelyAndKeepsOverflowInTheTotal) {
    duration_histogram h{bounds};
    h.record(5ms);   // <= 0.01
    h.record(10ms);  // on a bound: that bucket
    h.record(50ms);  // <= 0.1
    h.record(2s);    // above every bound: only the total
    h.record(-1ms);  // a clock step back counts as zero
    const auto s = h.snapshot();
    EXPECT_EQ(s.bounds, std::vector<double>(bounds.begin(), bounds.end()));
    EXPECT_EQ(s.cumulative, (std::vector<std::uint64_t>{3, 4, 4}));
    EXPECT_EQ(s.count, 5u);
    EXPECT_DOUBLE_EQ(s.sum, 0.005 + 0.010 + 0.050 + 2.0);
    EXPECT_DOUBLE_EQ(s.max, 2.0);
}

struct harness {
    harness() : state({options(), {}, {}, 1}, 7) { manual_clock::reset(); }
    static connmgr::pool_options options() {
        connmgr::pool_options p;
        p.max_size = 4;
        p.min_idle = 1;
        return p;
    }
    // Queues an acquirer, runs its connect and hands it the new connection.
    slot* open_and_lease(const std::string& holder) {
        EXPECT_TRUE(state.take(manual_clock::now(), 1s, holder).must_wait());
        waiters.push_back(std::make_unique<waiter>());
        waiters.back()->holder = holder;
        state.enqueue(waiters.back().get(), manual_clock::now());
        EXPECT_TRUE(state.next_connect(manual_clock::now()).has_value());
        slots.push_back(std::make_unique<slot>());
        auto* s = slots.back().get();
        const auto p = state.on_connected(s, manual_clock::now(), 0);
        EXPECT_EQ(p.handed, waiters.back().get());
        return s;
    }
    core state;
    std::vector<std::unique_ptr<slot>> slots;
    std::vector<std::unique_ptr<waiter>> waiters;
};

TEST(PoolTelemetry, LeasesOutNowOldestFirstWithHolderAndAge) {
    harness h;
    auto* a = h.open_and_lease("store-a");
    manual_clock::advance(3s);
    h.open_and_lease("store-b");
    manual_clock::advance(2s);
    const auto leases = h.state.leases(manual_clock::now());
    ASSERT_EQ(leases.size(), 2u);
    EXPECT_EQ(leases[0].holder, "store-a");
    EXPECT_EQ(leases[0].age, manual_clock::duration(5s));
    EXPECT_EQ(leases[1].holder, "store-b");
    EXPECT_EQ(leases[1].age, manual_clock::duration(2s));
    h.state.on_return(a, true, manual_clock::now());
    ASSERT_EQ(h.state.leases(manual_clock::now()).size(), 1u);
    EXPECT_EQ(h.state.leases(manual_clock::now())[0].holder, "store-b");
}

TEST(PoolTelemetry, UseTimeIsRecordedOnReturnAndCreateTimeByTheShell) {
    harness h;
    auto* s = h.open_and_lease("x");
    h.state.record_create_time(7ms);
    manual_clock::advance(40ms);
    h.state.on_return(s, false, manual_clock::now());  // closed, but it was used
    connmgr::pool_stats st;
    h.state.fill(st);
    EXPECT_EQ(st.use_time.count, 1u);
    EXPECT_DOUBLE_EQ(st.use_time.sum, 0.040);
    EXPECT_EQ(st.use_time.bounds.size(), core::use_bounds.size());
    EXPECT_EQ(st.create_time.count, 1u);
    EXPECT_DOUBLE_EQ(st.create_time.max, 0.007);
    EXPECT_EQ(st.min_idle, 1u);
    EXPECT_EQ(st.max_size, 4u);
    // The wait histogram runs on the same type: the one acquirer waited zero (manual clock).
    EXPECT_EQ(st.wait_buckets.front(), 1u);
}

TEST(PoolTelemetry, FillStatsListsTheLeasesOfThePool) {
    harness h;
    h.open_and_lease("memory-store#1");
    manual_clock::advance(1500ms);
    connmgr::pool_stats st;
    connmgr::pool_params p;
    p.database = "app";
    connmgr::detail::fill_stats(st, h.state, p, connmgr::flavour::async);
    ASSERT_EQ(st.leases.size(), 1u);
    EXPECT_EQ(st.leases[0].holder, "memory-store#1");
    EXPECT_DOUBLE_EQ(st.leases[0].age_seconds, 1.5);
}

}  // namespace
