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
    harness() : state(settings(), 0, 7) {}
    static core::settings settings() {
        manual_clock::reset();
        connmgr::pool_options p;
        p.max_size = 4;
        p.min_idle = 1;
        return {p, {}, {}, 4, 0, "app", "", connmgr::flavour::async};
    }
    // An acquirer whose connect takes `connect_time`: the new connection is handed to it.
    slot* open_and_lease(const std::string& holder, manual_clock::duration connect_time = {}) {
        waiters.push_back(std::make_unique<waiter>());
        waiters.back()->holder = holder;
        connmgr::detail::connect_job<manual_clock> job{};
        for (auto& a : state.on_acquire(manual_clock::now(), *waiters.back()))
            if (auto* c = std::get_if<connmgr::detail::start_connect<manual_clock>>(&a))
                job = c->job;
        manual_clock::advance(connect_time);
        slots.push_back(std::make_unique<slot>());
        auto* s = slots.back().get();
        state.on_connected(manual_clock::now(), job, *s);
        EXPECT_EQ(waiters.back()->result, s);
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
    h.state.on_return(manual_clock::now(), *a, true);
    ASSERT_EQ(h.state.leases(manual_clock::now()).size(), 1u);
    EXPECT_EQ(h.state.leases(manual_clock::now())[0].holder, "store-b");
}

TEST(PoolTelemetry, UseTimeIsRecordedOnReturnAndCreateTimeFromTheConnectJob) {
    harness h;
    auto* s = h.open_and_lease("x", 7ms);
    manual_clock::advance(40ms);
    h.state.on_return(manual_clock::now(), *s, false);  // closed, but it was used
    connmgr::pool_stats st;
    h.state.fill(st);
    EXPECT_EQ(st.use_time.count, 1u);
    EXPECT_DOUBLE_EQ(st.use_time.sum, 0.040);
    EXPECT_EQ(st.use_time.bounds.size(), core::use_bounds.size());
    EXPECT_EQ(st.create_time.count, 1u);
    EXPECT_DOUBLE_EQ(st.create_time.max, 0.007);
    EXPECT_EQ(st.min_idle, 1u);
    EXPECT_EQ(st.max_size, 4u);
    // The wait histogram runs on the same type: the one acquirer waited for the connect.
    EXPECT_EQ(st.wait_buckets[1], 0u);  // <= 5ms
    EXPECT_EQ(st.wait_buckets[2], 1u);  // <= 10ms: the 7ms connect
}

TEST(PoolTelemetry, FillStatsListsTheLeasesOfThePool) {
    harness h;
    h.open_and_lease("memory-store#1");
    manual_clock::advance(1500ms);
    connmgr::pool_stats st;
    connmgr::pool_params p;
    p.database = "app";
    connmgr::detail::fill_stats(st, h.state, p);
    ASSERT_EQ(st.leases.size(), 1u);
    EXPECT_EQ(st.leases[0].holder, "memory-store#1");
    EXPECT_DOUBLE_EQ(st.leases[0].age_seconds, 1.5);
}

}  // namespace
