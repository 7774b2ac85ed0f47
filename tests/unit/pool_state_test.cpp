// The policy core stepped by hand: every rule of DESIGN §5 without threads or sockets.
#include <connmgr/detail/pool_state.hpp>

#include <gtest/gtest.h>

#include "manual_clock.hpp"

#include <memory>
#include <vector>

namespace {

using namespace std::chrono_literals;
using connmgr::errc;
using connmgr::test::manual_clock;
using core = connmgr::detail::pool_state<manual_clock>;
using slot = connmgr::detail::slot<manual_clock>;
using waiter = connmgr::detail::waiter<manual_clock>;

struct harness {
    explicit harness(connmgr::pool_options p, connmgr::retry_options r = {},
                     connmgr::breaker_options b = {})
        : state({p, r, b, 1}, 42) {
        manual_clock::reset();
    }
    core state;
    std::vector<std::unique_ptr<slot>> slots;
    std::vector<std::unique_ptr<waiter>> waiters;

    auto now() { return manual_clock::now(); }
    core::take_result take(std::chrono::milliseconds t = 30s) { return state.take(now(), t, ""); }
    waiter* queue(std::string holder = "") {
        waiters.push_back(std::make_unique<waiter>());
        waiters.back()->holder = std::move(holder);
        state.enqueue(waiters.back().get(), now());
        return waiters.back().get();
    }
    // Runs one due connect to success.
    core::placement connect_ok() {
        auto job = state.next_connect(now());
        EXPECT_TRUE(job.has_value());
        slots.push_back(std::make_unique<slot>());
        return state.on_connected(slots.back().get(), now(), 0);
    }
    std::vector<waiter*> connect_fail() {
        auto job = state.next_connect(now());
        EXPECT_TRUE(job.has_value());
        if (!job) return {};
        return state.on_connect_failed(*job, errc::connect_failed, "refused", now());
    }
};

connmgr::pool_options small(std::size_t max) {
    connmgr::pool_options p;
    p.max_size = max;
    p.health_check_interval = 30s;
    return p;
}

TEST(PoolState, EmptyPoolQueuesAndRequestsOneConnectPerWaiter) {
    harness h(small(2));
    EXPECT_TRUE(h.take().must_wait());
    auto* w1 = h.queue();
    EXPECT_EQ(h.state.connecting(), 1u);
    h.queue();
    EXPECT_EQ(h.state.connecting(), 2u);
    h.queue();  // at max_size: no third connect
    EXPECT_EQ(h.state.connecting(), 2u);
    auto p = h.connect_ok();
    EXPECT_EQ(p.handed, w1);  // FIFO
    EXPECT_EQ(w1->result, h.slots[0].get());
    EXPECT_EQ(h.state.in_use(), 1u);
}

TEST(PoolState, ServesWaitersFifoOnReturn) {
    harness h(small(1));
    h.queue();
    h.connect_ok();
    auto* c = h.slots[0].get();
    auto* a = h.queue("a");
    auto* b = h.queue("b");
    EXPECT_EQ(h.state.connecting(), 0u);  // at max_size
    EXPECT_EQ(h.state.on_return(c, true, h.now()).handed, a);
    EXPECT_EQ(c->holder, "a");
    EXPECT_EQ(h.state.on_return(c, true, h.now()).handed, b);
    auto p = h.state.on_return(c, true, h.now());
    EXPECT_EQ(p.handed, nullptr);
    EXPECT_FALSE(p.close);
    EXPECT_EQ(h.state.idle(), 1u);
}

TEST(PoolState, IdleConnectionIsTakenWithoutPingWhenFresh) {
    harness h(small(1));
    h.queue();
    h.connect_ok();
    h.state.on_return(h.slots[0].get(), true, h.now());
    auto r = h.take();
    EXPECT_EQ(r.connection, h.slots[0].get());
    EXPECT_FALSE(r.ping);
}

TEST(PoolState, PingsWhenIdleLongerThanHealthCheckInterval) {
    harness h(small(1));
    h.queue();
    h.connect_ok();
    h.state.on_return(h.slots[0].get(), true, h.now());
    manual_clock::advance(31s);
    auto r = h.take();
    ASSERT_NE(r.connection, nullptr);
    EXPECT_TRUE(r.ping);
    // The ping failed: the connection is discarded; nobody waits, so no replacement needed.
    h.state.discard(r.connection, h.now());
    EXPECT_EQ(h.state.open(), 0u);
    EXPECT_TRUE(h.take().must_wait());
}

TEST(PoolState, HealthCheckIntervalZeroAlwaysPings) {
    auto p = small(1);
    p.health_check_interval = 0ms;
    harness h(p);
    h.queue();
    h.connect_ok();
    h.state.on_return(h.slots[0].get(), true, h.now());
    EXPECT_TRUE(h.take().ping);
}

TEST(PoolState, MaxWaitersExceededFailsAtOnce) {
    auto p = small(1);
    p.max_waiters = 2;
    harness h(p);
    h.queue();
    h.queue();
    EXPECT_EQ(h.take().error, errc::pool_exhausted);
}

TEST(PoolState, ZeroTimeoutFailsFastOnlyWhenNoRoom) {
    harness h(small(1));
    EXPECT_TRUE(h.take(0ms).must_wait());  // room: wait for the connect
    h.queue();
    EXPECT_EQ(h.take(0ms).error, errc::pool_exhausted);
    EXPECT_EQ(h.state.wait_limit(0ms), h.state.config().pool.connect_timeout);
}

TEST(PoolState, RemovedWaiterIsNotServed) {
    harness h(small(1));
    auto* a = h.queue();
    auto* b = h.queue();
    EXPECT_TRUE(h.state.remove(a));
    EXPECT_FALSE(h.state.remove(a));
    EXPECT_EQ(h.connect_ok().handed, b);
    EXPECT_FALSE(h.state.remove(b));  // already finished
}

TEST(PoolState, UnneededConnectIsDroppedWhenItsTurnComes) {
    harness h(small(4));
    h.queue();
    h.connect_ok();  // c0 to the first waiter
    auto* w = h.queue();
    EXPECT_EQ(h.state.connecting(), 1u);
    // c0 comes back before the connect starts: the waiter takes it, the connect is dropped.
    EXPECT_EQ(h.state.on_return(h.slots[0].get(), true, h.now()).handed, w);
    EXPECT_FALSE(h.state.next_connect(h.now()).has_value());
    EXPECT_EQ(h.state.connecting(), 0u);
}

TEST(PoolState, OnlyMaxParallelConnectsRunAtOnce) {
    harness h(small(4));
    h.queue();
    h.queue();
    ASSERT_TRUE(h.state.next_connect(h.now()).has_value());
    EXPECT_FALSE(h.state.next_connect(h.now()).has_value());
    EXPECT_EQ(h.state.connecting(), 2u);
}

TEST(PoolState, BrokenOrExpiredReturnIsClosedAndReplacedForWaiters) {
    auto p = small(1);
    p.max_lifetime = 10min;
    harness h(p);
    h.queue();
    h.connect_ok();
    auto* c = h.slots[0].get();
    h.queue();
    auto r = h.state.on_return(c, false, h.now());
    EXPECT_TRUE(r.close);
    EXPECT_EQ(h.state.connecting(), 1u);  // replacement for the waiter
    h.connect_ok();
    auto* c2 = h.slots[1].get();
    manual_clock::advance(10min);  // past any jittered lifetime
    EXPECT_TRUE(h.state.on_return(c2, true, h.now()).close);
}

TEST(PoolState, LifetimeJitterIsAtMostTenPercent) {
    auto p = small(64);
    p.max_lifetime = 1000s;
    harness h(p);
    for (int i = 0; i < 64; ++i) h.queue();
    core::time_point first_expiry = core::time_point::max(), last_expiry{};
    for (int i = 0; i < 64; ++i) {
        auto job = h.state.next_connect(h.now());
        ASSERT_TRUE(job);
        h.slots.push_back(std::make_unique<slot>());
        h.state.on_connected(h.slots.back().get(), h.now(), 0);
        first_expiry = std::min(first_expiry, h.slots.back()->expires);
        last_expiry = std::max(last_expiry, h.slots.back()->expires);
    }
    EXPECT_GE(first_expiry, h.now() + 900s);
    EXPECT_LE(last_expiry, h.now() + 1000s);
    EXPECT_LT(first_expiry, last_expiry);  // jittered
}

TEST(PoolState, SweepClosesIdleAboveMinIdleAndRefills) {
    auto p = small(4);
    p.min_idle = 1;
    p.idle_timeout = 1min;
    harness h(p);
    // The first sweep requests min_idle connections.
    auto r0 = h.state.sweep(h.now());
    EXPECT_TRUE(r0.to_close.empty());
    EXPECT_EQ(h.state.connecting(), 1u);
    h.connect_ok();
    EXPECT_EQ(h.state.idle(), 1u);
    // Three busy, then all back.
    auto a = h.take();
    h.queue();
    h.queue();
    h.queue();
    while (h.state.connecting() > 0) h.connect_ok();
    h.state.on_return(a.connection, true, h.now());
    for (std::size_t i = 1; i < h.slots.size(); ++i)
        h.state.on_return(h.slots[i].get(), true, h.now());
    EXPECT_EQ(h.state.idle(), 4u);
    manual_clock::advance(2min);
    auto r = h.state.sweep(h.now());
    EXPECT_EQ(r.to_close.size(), 3u);  // keeps min_idle
    EXPECT_EQ(h.state.idle(), 1u);
    EXPECT_EQ(h.state.connecting(), 0u);
}

TEST(PoolState, SweepReplacesExpiredMinIdle) {
    auto p = small(4);
    p.min_idle = 1;
    p.max_lifetime = 10min;
    harness h(p);
    h.state.sweep(h.now());
    h.connect_ok();
    manual_clock::advance(11min);
    auto r = h.state.sweep(h.now());
    EXPECT_EQ(r.to_close.size(), 1u);
    EXPECT_EQ(h.state.connecting(), 1u);  // refilled at once
}

TEST(PoolState, LeakWarningNamesHolderOnce) {
    auto p = small(1);
    p.leak_threshold = 5s;
    harness h(p);
    h.queue("memory-store#42");
    h.connect_ok();
    manual_clock::advance(6s);
    auto r = h.state.sweep(h.now());
    ASSERT_EQ(r.leaks.size(), 1u);
    EXPECT_EQ(r.leaks[0].holder, "memory-store#42");
    EXPECT_TRUE(h.state.sweep(h.now()).leaks.empty());
}

TEST(PoolState, RetriesWithBackoffThenFailsOldestWaiter) {
    connmgr::retry_options r{3, 100ms, 1s};
    connmgr::breaker_options b{0, 1min};
    harness h(small(1), r, b);
    auto* w = h.queue();
    EXPECT_TRUE(h.connect_fail().empty());  // attempt 1 -> retry
    EXPECT_EQ(h.state.connecting(), 1u);
    EXPECT_LE(h.state.next_connect_due(), h.now() + 100ms);  // full jitter within base
    manual_clock::advance(100ms);
    EXPECT_TRUE(h.connect_fail().empty());  // attempt 2 -> retry within 200ms
    EXPECT_LE(h.state.next_connect_due(), h.now() + 200ms);
    manual_clock::advance(200ms);
    auto failed = h.connect_fail();  // attempt 3: out of attempts
    ASSERT_EQ(failed.size(), 1u);
    EXPECT_EQ(failed[0], w);
    EXPECT_EQ(w->error, errc::connect_failed);
    EXPECT_EQ(w->message, "refused");
}

TEST(PoolState, NonRetryableConnectErrorFailsAtOnce) {
    connmgr::breaker_options b{0, 1min};
    harness h(small(1), {}, b);
    auto* w = h.queue();
    auto job = h.state.next_connect(h.now());
    ASSERT_TRUE(job);
    auto failed = h.state.on_connect_failed(*job, errc::invalid_config, "bad password", h.now());
    ASSERT_EQ(failed.size(), 1u);
    EXPECT_EQ(w->error, errc::invalid_config);
}

TEST(PoolState, BreakerOpensFailsWaitersThenHalfOpenTrial) {
    connmgr::retry_options r{10, 0ms, 0ms};
    connmgr::breaker_options b{3, 1min};
    harness h(small(2), r, b);
    auto* w1 = h.queue();
    auto* w2 = h.queue();
    // Two connects under way (one in flight at a time).
    EXPECT_TRUE(h.connect_fail().empty());
    EXPECT_TRUE(h.connect_fail().empty());
    auto failed = h.connect_fail();  // third consecutive failure: open
    EXPECT_EQ(failed.size(), 2u);
    EXPECT_EQ(w1->error, errc::circuit_open);
    EXPECT_EQ(w2->error, errc::circuit_open);
    EXPECT_EQ(h.state.breaker(h.now()), connmgr::breaker_state::open);
    EXPECT_EQ(h.take().error, errc::circuit_open);
    manual_clock::advance(1min);
    EXPECT_EQ(h.state.breaker(h.now()), connmgr::breaker_state::half_open);
    EXPECT_TRUE(h.take().must_wait());
    auto* t1 = h.queue();
    auto* t2 = h.queue();  // queued, but only one trial connect
    EXPECT_EQ(h.state.connecting(), 1u);
    auto job = h.state.next_connect(h.now());
    ASSERT_TRUE(job);
    EXPECT_EQ(h.take().error, errc::circuit_open);  // trial under way
    h.slots.push_back(std::make_unique<slot>());
    EXPECT_EQ(h.state.on_connected(h.slots.back().get(), h.now(), 0).handed, t1);
    EXPECT_EQ(h.state.breaker(h.now()), connmgr::breaker_state::closed);
    EXPECT_EQ(h.state.connecting(), 1u);  // now t2 gets its own
    (void)t2;
}

TEST(PoolState, FailedTrialReopens) {
    connmgr::retry_options r{1, 0ms, 0ms};
    connmgr::breaker_options b{1, 1min};
    harness h(small(1), r, b);
    h.queue();
    EXPECT_EQ(h.connect_fail().size(), 1u);
    manual_clock::advance(1min);
    h.queue();
    EXPECT_EQ(h.connect_fail().size(), 1u);
    EXPECT_EQ(h.state.breaker(h.now()), connmgr::breaker_state::open);
}

TEST(PoolState, BreakerOpenStillHandsOutIdle) {
    connmgr::retry_options r{1, 0ms, 0ms};
    connmgr::breaker_options b{1, 1min};
    harness h(small(2), r, b);
    h.queue();
    h.connect_ok();
    h.state.on_return(h.slots[0].get(), true, h.now());
    auto a = h.take();
    h.queue();
    EXPECT_EQ(h.connect_fail().size(), 1u);  // opens
    h.state.on_return(a.connection, true, h.now());
    EXPECT_NE(h.take().connection, nullptr);
}

TEST(PoolState, CloseFailsWaitersClosesIdleAndLateConnects) {
    harness h(small(3));
    h.queue();
    h.connect_ok();
    auto* leased = h.slots[0].get();
    h.queue();
    h.connect_ok();
    h.state.on_return(h.slots[1].get(), true, h.now());  // idle
    auto* w = h.queue();
    auto job = h.state.next_connect(h.now());
    ASSERT_TRUE(job);
    auto c = h.state.begin_close();
    EXPECT_TRUE(c.first);
    EXPECT_EQ(c.idle.size(), 1u);
    ASSERT_EQ(c.failed.size(), 1u);
    EXPECT_EQ(w->error, errc::shutting_down);
    EXPECT_FALSE(h.state.begin_close().first);
    EXPECT_EQ(h.take().error, errc::shutting_down);
    slot late;
    EXPECT_TRUE(h.state.on_connected(&late, h.now(), 0).close);
    EXPECT_TRUE(h.state.on_return(leased, true, h.now()).close);
    EXPECT_EQ(h.state.in_use(), 0u);
}

TEST(PoolState, StatsCountEverything) {
    harness h(small(1));
    auto* w = h.queue();
    manual_clock::advance(20ms);
    h.connect_ok();
    (void)w;
    connmgr::pool_stats st;
    h.state.fill(st);
    EXPECT_EQ(st.in_use, 1u);
    EXPECT_EQ(st.created_total, 1u);
    EXPECT_EQ(st.acquired_total, 1u);
    EXPECT_NEAR(st.wait_seconds_max, 0.020, 1e-9);
    EXPECT_DOUBLE_EQ(st.utilization, 1.0);
    ASSERT_EQ(st.wait_buckets.size(), st.wait_buckets_le.size());
    EXPECT_EQ(st.wait_buckets.back(), 1u);
    EXPECT_EQ(st.wait_buckets[2], 0u);  // 20ms > 10ms
    EXPECT_EQ(st.wait_buckets[3], 1u);  // <= 50ms
}

TEST(PoolState, TimeoutMessageNamesEverything) {
    harness h(small(3));
    h.queue();
    auto msg = h.state.timeout_message("app", connmgr::flavour::sync, 1500ms);
    EXPECT_EQ(msg,
              "timed out waiting for a connection to app (sync pool): max_size 3, in use 0, "
              "waiters 1, waited 1500ms");
}

TEST(PoolState, AbandonForgetsEverythingWithoutClosing) {
    harness h(small(2));
    h.queue();
    h.connect_ok();
    h.queue();
    h.connect_ok();
    h.state.on_return(h.slots[1].get(), true, h.now());
    auto idle = h.state.abandon();
    EXPECT_EQ(idle.size(), 1u);
    EXPECT_EQ(h.state.open(), 0u);
    EXPECT_EQ(h.state.total(), 0u);
    EXPECT_TRUE(h.take().must_wait());
}

}  // namespace

namespace {

TEST(PoolState, BoundedBargingServesHeadWithinKPlusOneReturns) {
    connmgr::pool_options p = small(1);
    core::settings s{p, {}, {}, 1, 2};
    core st(s, 1);
    manual_clock::reset();
    slot c;
    waiter first, head;
    st.enqueue(&first, manual_clock::now());
    ASSERT_TRUE(st.next_connect(manual_clock::now()));
    EXPECT_EQ(st.on_connected(&c, manual_clock::now(), 0).handed, &first);
    st.enqueue(&head, manual_clock::now());
    // Two returns park it for barging and wake the head once.
    auto r1 = st.on_return(&c, true, manual_clock::now());
    EXPECT_EQ(r1.handed, nullptr);
    EXPECT_EQ(r1.wake, &head);
    auto barge = st.take(manual_clock::now(), 30s, "");  // a running thread takes it first
    EXPECT_EQ(barge.connection, &c);
    auto r2 = st.on_return(&c, true, manual_clock::now());
    EXPECT_EQ(r2.wake, nullptr);  // already woken, not yet looked
    bool ping = false;
    EXPECT_EQ(st.retake(&head, manual_clock::now(), ping), &c);  // the head takes it
    EXPECT_TRUE(head.done);
    EXPECT_EQ(st.waiters(), 0u);
    // A new head: after K=2 parked returns, the third goes to it directly.
    waiter w2;
    st.enqueue(&w2, manual_clock::now());
    EXPECT_EQ(st.on_return(&c, true, manual_clock::now()).wake, &w2);
    EXPECT_NE(st.take(manual_clock::now(), 30s, "").connection, nullptr);
    EXPECT_EQ(st.on_return(&c, true, manual_clock::now()).handed, nullptr);
    EXPECT_NE(st.take(manual_clock::now(), 30s, "").connection, nullptr);
    EXPECT_EQ(st.on_return(&c, true, manual_clock::now()).handed, &w2);
}

}  // namespace
