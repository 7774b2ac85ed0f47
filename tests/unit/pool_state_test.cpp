// The pool core as scripts: each input, then the exact actions it asks for (DESIGN §5).
#include <connmgr/detail/pool_state.hpp>

#include <gtest/gtest.h>

#include "manual_clock.hpp"

#include <algorithm>
#include <memory>
#include <ostream>
#include <vector>

namespace connmgr::detail {
// Readable failures: each action by its kind and fields.
inline std::ostream& operator<<(std::ostream& o, const action<test::manual_clock>& a) {
    auto* os = &o;
    auto t = [](test::manual_clock::time_point p) {
        return p == test::manual_clock::time_point::max()
                   ? std::string("max")
                   : std::to_string(p.time_since_epoch().count() / 1'000'000) + "ms";
    };
    std::visit(
        [&](const auto& x) {
            using T = std::decay_t<decltype(x)>;
            if constexpr (std::is_same_v<T, hand_out<test::manual_clock>>)
                *os << "hand_out{" << x.to << ", " << x.connection << "}";
            else if constexpr (std::is_same_v<T, fail_waiter<test::manual_clock>>)
                *os << "fail_waiter{" << x.w << ", " << x.error.message() << "}";
            else if constexpr (std::is_same_v<T, wake_waiter<test::manual_clock>>)
                *os << "wake_waiter{" << x.w << "}";
            else if constexpr (std::is_same_v<T, ping_slot<test::manual_clock>>)
                *os << "ping_slot{" << x.connection << ", " << t(x.deadline) << "}";
            else if constexpr (std::is_same_v<T, start_connect<test::manual_clock>>)
                *os << "start_connect{attempt " << x.job.attempt << (x.job.trial ? " trial" : "")
                    << ", gen " << x.job.generation << ", " << t(x.deadline) << "}";
            else if constexpr (std::is_same_v<T, close_slot<test::manual_clock>>)
                *os << "close_slot{" << x.connection << "}";
            else if constexpr (std::is_same_v<T, abandon_slot<test::manual_clock>>)
                *os << "abandon_slot{" << x.connection << "}";
            else if constexpr (std::is_same_v<T, arm_timer<test::manual_clock>>)
                *os << "arm_timer{" << t(x.at) << "}";
            else
                *os << "log_line{" << x.text << "}";
        },
        a);
    return o;
}
}  // namespace connmgr::detail

namespace {

using namespace std::chrono_literals;
using connmgr::connect_failure;
using connmgr::errc;
using clk = connmgr::test::manual_clock;
using core = connmgr::detail::pool_state<clk>;
using acts = core::actions_type;
using act = connmgr::detail::action<clk>;
using slot = connmgr::detail::slot<clk>;
using waiter = connmgr::detail::waiter<clk>;
using job = connmgr::detail::connect_job<clk>;
using hand = connmgr::detail::hand_out<clk>;
using fail = connmgr::detail::fail_waiter<clk>;
using wake = connmgr::detail::wake_waiter<clk>;
using ping = connmgr::detail::ping_slot<clk>;
using connect = connmgr::detail::start_connect<clk>;
using close_it = connmgr::detail::close_slot<clk>;
using abandon = connmgr::detail::abandon_slot<clk>;
using arm = connmgr::detail::arm_timer<clk>;
using log_line = connmgr::detail::log_line;
using boost::system::error_code;

connmgr::pool_options options(std::size_t max) {
    connmgr::pool_options p;
    p.max_size = max;
    p.acquire_timeout = 30s;
    p.connect_timeout = 5s;
    p.health_check_interval = 30s;
    p.idle_timeout = 0ms;
    p.max_lifetime = 0ms;
    return p;
}

// One core, the slots and waiters a shell would own, and the clock.
struct script {
    explicit script(connmgr::pool_options p, connmgr::retry_options r = {3, 100ms, 1s},
                    connmgr::breaker_options b = {0, 60s}, unsigned bypass = 0,
                    std::size_t parallel = 1)
        : c(init(p, r, b, bypass, parallel), 0, 42), t0(clk::now()) {}

    static core::settings init(connmgr::pool_options p, connmgr::retry_options r,
                               connmgr::breaker_options b, unsigned bypass, std::size_t parallel) {
        clk::reset();
        return {p,
                r,
                b,
                parallel,
                bypass,
                "app",
                "postgresql://app:***@db/app",
                connmgr::flavour::sync};
    }

    core c;
    clk::time_point t0;
    std::vector<std::unique_ptr<slot>> slots;
    std::vector<std::unique_ptr<waiter>> waiters;

    static clk::time_point now() { return clk::now(); }
    static void advance(clk::duration d) { clk::advance(d); }
    waiter* w(std::string holder = "", std::optional<std::chrono::milliseconds> timeout = {}) {
        waiters.push_back(std::make_unique<waiter>());
        waiters.back()->holder = std::move(holder);
        waiters.back()->timeout = timeout;
        return waiters.back().get();
    }
    slot* s() {
        slots.push_back(std::make_unique<slot>());
        return slots.back().get();
    }
    acts acquire(waiter* x) { return c.on_acquire(now(), *x); }
    acts give_back(slot* x, bool ok = true) { return c.on_return(now(), *x, ok); }
    acts connected(const job& j, slot* x) { return c.on_connected(now(), j, *x); }
    acts failed(const job& j, connect_failure kind = connect_failure::transient,
                const std::string& msg = "connection refused") {
        return c.on_connect_failed(now(), j, errc::connect_failed, kind, msg);
    }
    acts timer() { return c.on_timer(now()); }
    // The job a start_connect asked for at `at` (attempt n).
    static job j(clk::time_point at, unsigned attempt = 1, bool trial = false) {
        return {attempt, trial, 0, at};
    }
    // An idle connection: one acquire that connects it, then its return.
    slot* warm(waiter* x) {
        acquire(x);
        auto* conn = s();
        connected(j(now()), conn);
        give_back(conn);
        return conn;
    }
};

TEST(PoolState, EmptyPoolQueuesConnectsOnDemandAndArmsTheDeadline) {
    script p(options(2));
    auto* w1 = p.w();
    EXPECT_EQ(p.acquire(w1), (acts{connect{p.j(p.t0), p.t0 + 5s}, arm{p.t0 + 30s}}));
    auto* w2 = p.w();
    EXPECT_EQ(p.acquire(w2), (acts{}));  // one connect at a time; the timer is already earlier
    EXPECT_EQ(p.c.connecting(), 2u);
    auto* s1 = p.s();
    EXPECT_EQ(p.connected(p.j(p.t0), s1),
              (acts{hand{w1, s1}, connect{p.j(p.t0), p.t0 + 5s}}));  // FIFO, then w2's connect
    EXPECT_EQ(w1->result, s1);
    EXPECT_EQ(p.c.in_use(), 1u);
}

TEST(PoolState, ReturnGoesToTheOldestWaiter) {
    script p(options(1));
    auto* s1 = p.s();
    p.acquire(p.w());
    p.connected(p.j(p.t0), s1);
    auto* a = p.w("a");
    auto* b = p.w("b");
    p.acquire(a);
    p.acquire(b);
    EXPECT_EQ(p.give_back(s1), (acts{hand{a, s1}}));
    EXPECT_EQ(s1->holder, "a");
    EXPECT_EQ(p.give_back(s1), (acts{hand{b, s1}}));
    EXPECT_EQ(p.give_back(s1), (acts{arm{p.now() + 1s}}));  // idle now: the sweep watches it
    EXPECT_EQ(p.c.idle(), 1u);
}

TEST(PoolState, IdleIsLifoAndFreshOnesAreNotPinged) {
    script p(options(2));
    auto* w1 = p.w();
    auto* w2 = p.w();
    p.acquire(w1);
    p.acquire(w2);
    auto* s1 = p.s();
    auto* s2 = p.s();
    p.connected(p.j(p.t0), s1);
    p.connected(p.j(p.t0), s2);
    p.give_back(s1);
    p.give_back(s2);
    auto* w3 = p.w();
    EXPECT_EQ(p.acquire(w3), (acts{hand{w3, s2}}));  // most recently used first
}

TEST(PoolState, AnAcquirerIsServedAConnectionOfItsOwnThreadWhenOneIsRecent) {
    script p(options(7));
    std::vector<waiter*> ws;
    for (int i = 0; i < 7; ++i) ws.push_back(p.w());
    for (auto* x : ws) p.acquire(x);
    std::vector<slot*> ss;
    for (unsigned i = 0; i < 7; ++i) {
        ss.push_back(p.s());
        ss.back()->home = i == 0 ? 1 : 0;  // only the least recently returned lives on thread 1
        p.connected(p.j(p.t0), ss.back());
    }
    for (auto* x : ss) p.give_back(x);  // idle, most recent last: ss[6]
    auto* anywhere = p.w();
    EXPECT_EQ(p.acquire(anywhere), (acts{hand{anywhere, ss[6]}}));
    // Thread 1's only connection is 5 places behind the most recent: beyond the bounded look.
    auto* far = p.w();
    far->home = 1;
    EXPECT_EQ(p.acquire(far), (acts{hand{far, ss[5]}}));
    auto* near = p.w();
    near->home = 1;
    EXPECT_EQ(p.acquire(near), (acts{hand{near, ss[0]}}));  // now 4 places away: found
}

TEST(PoolState, IdleLongerThanHealthCheckIntervalIsPingedFirst) {
    script p(options(1));
    auto* s1 = p.warm(p.w());
    p.advance(31s);
    auto* w = p.w();
    EXPECT_EQ(p.acquire(w), (acts{ping{s1, p.now() + 5s}}));
    EXPECT_FALSE(w->done);
    EXPECT_EQ(p.c.on_ping_result(p.now(), *s1, true), (acts{hand{w, s1}}));
}

TEST(PoolState, HealthCheckIntervalZeroAlwaysPings) {
    auto o = options(1);
    o.health_check_interval = 0ms;
    script p(o);
    auto* s1 = p.warm(p.w());
    auto* w = p.w();
    EXPECT_EQ(p.acquire(w), (acts{ping{s1, p.now() + 5s}}));
}

// Defect: a failed ping restarted the acquire with a fresh timeout at the back of the queue.
TEST(PoolState, FailedPingKeepsTheWaitersDeadlineAndPlace) {
    script p(options(1));
    auto* s1 = p.warm(p.w());
    p.advance(31s);
    const auto start = p.now();
    auto* first = p.w();
    p.acquire(first);  // pings s1
    p.advance(1s);
    auto* second = p.w();
    EXPECT_EQ(p.acquire(second), (acts{}));  // at max_size: queued behind the ping
    EXPECT_EQ(p.c.on_ping_result(p.now(), *s1, false),
              (acts{close_it{s1}, connect{p.j(p.now()), p.now() + 5s}}));
    EXPECT_EQ(first->deadline, start + 30s);
    auto* s2 = p.s();
    EXPECT_EQ(p.connected(p.j(p.now()), s2), (acts{hand{first, s2}}));
    EXPECT_FALSE(second->done);
}

TEST(PoolState, PingFailingPastTheDeadlineTimesOut) {
    script p(options(1));
    auto* s1 = p.warm(p.w());
    p.advance(31s);
    auto* w = p.w("", 2s);
    EXPECT_EQ(p.acquire(w), (acts{ping{s1, p.now() + 2s}}));  // the ping ends by the deadline
    p.advance(2s);
    auto a = p.c.on_ping_result(p.now(), *s1, false);
    ASSERT_EQ(a.size(), 2u);
    EXPECT_EQ(a[0], act(close_it{s1}));
    EXPECT_EQ(a[1], act(fail{w, errc::acquire_timeout}));
}

TEST(PoolState, CancelledWhilePingedTheConnectionGoesIdle) {
    script p(options(1));
    auto* s1 = p.warm(p.w());
    p.advance(31s);
    auto* w = p.w();
    p.acquire(w);
    EXPECT_EQ(p.c.on_cancel(p.now(), *w, boost::asio::error::operation_aborted),
              (acts{fail{w, boost::asio::error::operation_aborted}}));
    EXPECT_EQ(p.c.on_ping_result(p.now(), *s1, true), (acts{}));
    EXPECT_EQ(p.c.idle(), 1u);
    EXPECT_EQ(p.c.in_use(), 0u);
}

TEST(PoolState, AcquireTimeoutZeroFailsFastOnlyWithoutRoom) {
    auto o = options(1);
    o.acquire_timeout = 0ms;
    script p(o);
    auto* w1 = p.w();
    // Room: waits for a new connection, up to connect_timeout.
    EXPECT_EQ(p.acquire(w1), (acts{connect{p.j(p.t0), p.t0 + 5s}, arm{p.t0 + 5s}}));
    auto* w2 = p.w();
    EXPECT_EQ(p.acquire(w2), (acts{fail{w2, errc::pool_exhausted}}));
    EXPECT_NE(w2->message.find("max_size 1"), std::string::npos) << w2->message;
}

TEST(PoolState, MaxWaitersBoundsTheQueue) {
    auto o = options(1);
    o.max_waiters = 1;
    script p(o);
    p.acquire(p.w());
    auto* w2 = p.w();
    EXPECT_EQ(p.acquire(w2), (acts{fail{w2, errc::pool_exhausted}}));
    EXPECT_NE(w2->message.find("max_waiters 1"), std::string::npos) << w2->message;
}

TEST(PoolState, TryOnlyNeverQueues) {
    script p(options(1));
    auto* w = p.w();
    w->try_only = true;
    EXPECT_EQ(p.acquire(w), (acts{fail{w, errc::pool_exhausted}}));
    EXPECT_EQ(p.c.waiters(), 0u);
}

TEST(PoolState, DeadlineFailsTheWaiterSayingWhy) {
    script p(options(3));
    auto* h1 = p.w("store#1");
    auto* h2 = p.w("store#2");
    p.acquire(h1);
    p.connected(p.j(p.t0), p.s());
    p.acquire(h2);
    p.connected(p.j(p.t0), p.s());
    p.acquire(p.w());
    p.failed(p.j(p.t0), connect_failure::permanent, "the database system is starting up");
    p.advance(1s);
    auto* late = p.w("late", 2s);
    EXPECT_EQ(p.acquire(late), (acts{connect{p.j(p.now()), p.now() + 5s}, arm{p.now() + 2s}}));
    p.advance(2s);
    EXPECT_EQ(p.timer(), (acts{fail{late, errc::acquire_timeout}}));
    const auto& m = late->message;
    for (const char* part :
         {"timed out after 2000ms", "app (sync pool)", "max_size 3", "in use 2", "connecting 1",
          "waiters 0", "store#1 x1", "store#2 x1", "oldest lease: store#1 for 3000ms",
          "last connect error 3000ms ago", "the database system is starting up"})
        EXPECT_NE(m.find(part), std::string::npos) << part << " in: " << m;
    EXPECT_EQ(p.c.waiters(), 0u);
}

TEST(PoolState, TimerIsArmedOnlyWhenSomethingIsDueEarlier) {
    script p(options(1));
    p.acquire(p.w());  // arms t0 + 30s
    EXPECT_EQ(p.acquire(p.w()), (acts{}));
    auto* soon = p.w("", 1s);
    EXPECT_EQ(p.acquire(soon), (acts{arm{p.t0 + 1s}}));
    p.advance(1s);
    EXPECT_EQ(p.timer(), (acts{fail{soon, errc::acquire_timeout}, arm{p.t0 + 30s}}));
}

TEST(PoolState, CancelRemovesTheWaiterAndItsConnectParksIdle) {
    script p(options(1));
    auto* w = p.w();
    p.acquire(w);
    EXPECT_EQ(p.c.on_cancel(p.now(), *w, boost::asio::error::operation_aborted),
              (acts{fail{w, boost::asio::error::operation_aborted}}));
    EXPECT_EQ(p.c.on_cancel(p.now(), *w, boost::asio::error::operation_aborted), (acts{}));
    auto* s1 = p.s();
    EXPECT_EQ(p.connected(p.j(p.t0), s1), (acts{arm{p.now() + 1s}}));  // the sweep watches it
    EXPECT_EQ(p.c.idle(), 1u);
}

TEST(PoolState, ConnectNoLongerNeededIsDropped) {
    script p(options(2));
    auto* s1 = p.s();
    p.acquire(p.w());
    p.connected(p.j(p.t0), s1);
    auto* w = p.w();
    p.acquire(w);  // a second connect starts for w
    EXPECT_EQ(p.give_back(s1), (acts{hand{w, s1}}));
    auto* s2 = p.s();
    EXPECT_EQ(p.connected(p.j(p.t0), s2), (acts{arm{p.now() + 1s}}));  // nobody waits: parked
    EXPECT_EQ(p.c.idle(), 1u);
    EXPECT_EQ(p.c.total(), 2u);
}

TEST(PoolState, NeverMoreThanMaxSizeCountingConnects) {
    script p(options(3), {3, 100ms, 1s}, {0, 60s}, 0, 8);
    for (int i = 0; i < 10; ++i) p.acquire(p.w());
    EXPECT_EQ(p.c.connecting(), 3u);
    EXPECT_EQ(p.c.total(), 3u);
    EXPECT_EQ(p.c.waiters(), 10u);
}

TEST(PoolState, BrokenOrExpiredReturnsAreClosedAndReplacedForWaiters) {
    auto o = options(1);
    o.max_lifetime = 10s;
    script p(o);
    auto* s1 = p.s();
    p.acquire(p.w());
    p.connected(p.j(p.t0), s1);
    auto* w = p.w();
    p.acquire(w);
    EXPECT_EQ(p.give_back(s1, false), (acts{close_it{s1}, connect{p.j(p.t0), p.t0 + 5s}}));
    auto* s2 = p.s();
    p.connected(p.j(p.t0), s2);
    p.advance(11s);
    EXPECT_EQ(p.give_back(s2), (acts{close_it{s2}}));  // past its lifetime, nobody waits
}

TEST(PoolState, LifetimeJitterIsAtMostTenPercent) {
    auto o = options(64);
    o.max_lifetime = 100s;
    script p(o, {3, 100ms, 1s}, {0, 60s}, 0, 64);
    for (int i = 0; i < 64; ++i) p.acquire(p.w());
    for (int i = 0; i < 64; ++i) {
        auto* x = p.s();
        p.connected(p.j(p.t0), x);
        EXPECT_LE(x->expires, p.t0 + 100s);
        EXPECT_GE(x->expires, p.t0 + 90s);
    }
}

TEST(PoolState, SweepClosesSurplusIdleAndRefillsMinIdle) {
    auto o = options(3);
    o.min_idle = 1;
    o.idle_timeout = 10s;
    script p(o, {3, 100ms, 1s}, {0, 60s}, 0, 3);
    std::vector<slot*> s;
    for (int i = 0; i < 3; ++i) p.acquire(p.w());
    for (int i = 0; i < 3; ++i) p.connected(p.j(p.t0), s.emplace_back(p.s()));
    for (auto* x : s) p.give_back(x);
    p.advance(10s);
    auto a = p.timer();
    // Two surplus close (oldest first), one stays for min_idle.
    EXPECT_EQ(a, (acts{close_it{s[0]}, close_it{s[1]}, arm{p.now() + 1s}}));
    EXPECT_EQ(p.c.open(), 1u);
    // The last one breaks on return: min_idle brings a connect at once.
    auto* w = p.w();
    p.acquire(w);
    EXPECT_EQ(p.give_back(s[2], false),
              (acts{close_it{s[2]}, connect{p.j(p.now()), p.now() + 5s}}));
}

TEST(PoolState, LeakWarningNamesTheHolderOnce) {
    auto o = options(1);
    o.leak_threshold = 2s;
    script p(o);
    auto* w = p.w("memory-store#42");
    auto* s1 = p.s();
    p.acquire(w);
    p.connected(p.j(p.t0), s1);
    p.advance(3s);
    auto a = p.timer();
    ASSERT_FALSE(a.empty());
    auto* l = std::get_if<log_line>(&a[0]);
    ASSERT_NE(l, nullptr);
    EXPECT_NE(l->text.find("memory-store#42"), std::string::npos) << l->text;
    EXPECT_NE(l->text.find("3000ms"), std::string::npos) << l->text;
    p.advance(3s);
    for (const auto& x : p.timer()) EXPECT_EQ(std::get_if<log_line>(&x), nullptr);
}

TEST(PoolState, TransientFailuresRetryWithBackoffThenFailTheOldest) {
    script p(options(1), {3, 100ms, 1s});
    auto* w = p.w();
    p.acquire(w);
    auto a = p.failed(p.j(p.t0));
    for (unsigned attempt = 2; attempt <= 3; ++attempt) {
        // The retry is due within its full-jitter ceiling (100ms, then 200ms).
        if (auto* t = std::get_if<arm>(&a.front())) {
            EXPECT_LE(t->at - p.now(), 100ms * (1 << (attempt - 2)));
            p.advance(t->at - p.now());
            a = p.timer();
        }
        ASSERT_TRUE(std::holds_alternative<connect>(a.front()));
        const auto next = std::get<connect>(a.front()).job;
        EXPECT_EQ(next.attempt, attempt);
        a = p.failed(next);
    }
    ASSERT_FALSE(a.empty());  // attempts used up
    EXPECT_EQ(a[0], act(fail{w, errc::connect_failed}));
    EXPECT_NE(w->message.find("connection refused"), std::string::npos) << w->message;
    EXPECT_NE(w->message.find("postgresql://app:***@db/app"), std::string::npos) << w->message;
}

TEST(PoolState, PermanentFailureFailsEveryWaiterAtOnceWithTheServersWords) {
    script p(options(4), {5, 100ms, 1s}, {5, 60s});
    auto* a = p.w();
    auto* b = p.w();
    p.acquire(a);
    p.acquire(b);
    EXPECT_EQ(p.failed(p.j(p.t0), connect_failure::permanent,
                       "password authentication failed for user \"app\""),
              (acts{fail{a, errc::connect_failed}, fail{b, errc::connect_failed}}));
    EXPECT_NE(b->message.find("password authentication failed"), std::string::npos);
    EXPECT_EQ(p.c.connecting(), 0u);  // nothing retried
    EXPECT_EQ(p.c.breaker(), connmgr::breaker_state::closed);
}

TEST(PoolState, PermanentFailureWithConnectionsOpenFailsOnlyTheOldest) {
    script p(options(2), {5, 100ms, 1s}, {5, 60s});
    auto* s1 = p.s();
    p.acquire(p.w());
    p.connected(p.j(p.t0), s1);
    auto* a = p.w();
    auto* b = p.w();
    p.acquire(a);
    p.acquire(b);
    auto x = p.failed(p.j(p.t0), connect_failure::permanent, "role \"app\" does not exist");
    ASSERT_FALSE(x.empty());
    EXPECT_EQ(x[0], act(fail{a, errc::connect_failed}));
    EXPECT_EQ(p.give_back(s1)[0], act(hand{b, s1}));
}

// Defect: a role's CONNECTION LIMIT opened the breaker though its connections were healthy.
TEST(PoolState, ServerFullWithOpenConnectionsWaitsForThemAndSparesTheBreaker) {
    script p(options(10), {5, 100ms, 1s}, {2, 60s});
    std::vector<slot*> held;
    for (int i = 0; i < 3; ++i) {
        p.acquire(p.w());
        p.connected(p.j(p.t0), held.emplace_back(p.s()));
    }
    auto* w = p.w();
    p.acquire(w);
    for (unsigned attempt = 1; attempt <= 6; ++attempt) {
        auto a = p.failed(p.j(p.now(), attempt), connect_failure::server_full,
                          "FATAL: too many connections for role \"app\"");
        EXPECT_EQ(p.c.breaker(), connmgr::breaker_state::closed);
        EXPECT_FALSE(w->done);
        p.advance(1s);
        p.timer();
    }
    EXPECT_EQ(p.give_back(held[0])[0], act(hand{w, held[0]}));
    auto* late = p.w("", 1s);
    p.acquire(late);
    p.advance(1s);
    p.timer();
    EXPECT_NE(late->message.find("too many connections for role"), std::string::npos)
        << late->message;
}

// Defect (found by the connection-limit scenario): each "server full" refusal doubled the
// backoff like a failing server's, so after 5 refusals the next try came up to max_delay (30 s)
// later and a pool whose server limit was raised took that long to grow. The server is up and
// answering: growth is polled at the first backoff step (full jitter up to retry.base_delay).
TEST(PoolState, ServerFullRetriesStayWithinTheBaseDelay) {
    script p(options(10), {5, 2s, 30s}, {5, 60s});
    p.acquire(p.w());
    p.connected(p.j(p.t0), p.s());
    auto* w = p.w();
    auto a = p.acquire(w);
    for (unsigned n = 1; n <= 8; ++n) {
        ASSERT_FALSE(a.empty());
        auto* c = std::get_if<connect>(&a.front());
        ASSERT_NE(c, nullptr) << a.front();
        a = p.failed(c->job, connect_failure::server_full,
                     "FATAL: too many connections for role \"app\"");
        const arm* t = nullptr;
        for (const auto& x : a)
            if (auto* y = std::get_if<arm>(&x)) t = y;
        ASSERT_NE(t, nullptr) << "no retry armed after refusal " << n;
        EXPECT_LE(t->at - p.now(), 2s) << "refusal " << n;
        p.advance(t->at - p.now());
        a = p.timer();
    }
    EXPECT_FALSE(w->done);
    EXPECT_EQ(p.c.breaker(), connmgr::breaker_state::closed);
}

// Defect (found by the connection-limit and frozen-server scenarios): a connect that succeeded
// left the other waiters' retries waiting out their backoff (up to max_delay), though the
// success shows the server accepts connections again. They are due at once now.
TEST(PoolState, ASuccessfulConnectStartsTheRetriesWaitingOutTheirBackoff) {
    script p(options(3), {5, 2s, 30s}, {5, 60s});
    auto* a = p.w();
    auto* b = p.w();
    p.acquire(a);
    p.acquire(b);                  // its connect waits for the first (one at a time)
    auto f = p.failed(p.j(p.t0));  // a's: retried after a backoff; b's starts now
    ASSERT_FALSE(f.empty());
    ASSERT_TRUE(std::holds_alternative<connect>(f.front())) << f.front();
    auto* s1 = p.s();  // at once: a's retry is not due yet (its jitter is > 0 with seed 42)
    const auto done = p.connected(std::get<connect>(f.front()).job, s1);
    ASSERT_FALSE(done.empty());
    EXPECT_EQ(done.front(), act(hand{a, s1}));
    bool started = false;
    for (const auto& x : done)
        if (auto* c = std::get_if<connect>(&x)) started = c->deadline == p.now() + 5s;
    EXPECT_TRUE(started) << "b's retry still waits out its backoff";
}

TEST(PoolState, ServerFullWithNothingOpenCountsTowardTheBreaker) {
    script p(options(2), {5, 100ms, 1s}, {1, 60s});
    auto* w = p.w();
    p.acquire(w);
    p.failed(p.j(p.t0), connect_failure::server_full, "sorry, too many clients already");
    EXPECT_EQ(p.c.breaker(), connmgr::breaker_state::open);
    EXPECT_EQ(w->error, errc::circuit_open);
}

TEST(PoolState, BreakerOpensThenTrialsAfterBaseDelayDoublingUpToOpenFor) {
    script p(options(2), {5, 100ms, 1s}, {2, 1s});
    auto* w = p.w();
    p.acquire(w);
    p.failed(p.j(p.t0));
    p.advance(100ms);
    p.timer();
    auto a = p.failed(p.j(p.now(), 2));  // second consecutive failure: open
    EXPECT_EQ(a, (acts{fail{w, errc::circuit_open}, arm{p.now() + 100ms}}));
    EXPECT_NE(w->message.find("circuit breaker open for app (sync pool)"), std::string::npos);
    EXPECT_NE(w->message.find("next trial connect in 100ms"), std::string::npos) << w->message;
    auto* refused = p.w();
    EXPECT_EQ(p.acquire(refused), (acts{fail{refused, errc::circuit_open}}));
    // Trials at +100ms, then +200, +400, +800, then capped at open_for (1s).
    for (auto gap : {100ms, 200ms, 400ms, 800ms, 1000ms, 1000ms}) {
        p.advance(gap - 1ms);
        EXPECT_EQ(p.timer(), (acts{arm{p.now() + 1ms}}));
        p.advance(1ms);
        EXPECT_EQ(p.timer(), (acts{connect{p.j(p.now(), 1, true), p.now() + 5s}}));
        EXPECT_EQ(p.c.breaker(), connmgr::breaker_state::half_open);
        p.failed(p.j(p.now(), 1, true));
        EXPECT_EQ(p.c.breaker(), connmgr::breaker_state::open);
    }
    p.advance(1s);
    p.timer();
    auto* trial = p.s();
    EXPECT_EQ(p.connected(p.j(p.now(), 1, true), trial), (acts{arm{p.now() + 1s}}));
    EXPECT_EQ(p.c.breaker(), connmgr::breaker_state::closed);
    auto* next = p.w();
    EXPECT_EQ(p.acquire(next), (acts{hand{next, trial}}));
}

TEST(PoolState, OpenBreakerStillHandsOutIdleConnections) {
    script p(options(2), {1, 100ms, 1s}, {1, 60s});
    auto* s1 = p.warm(p.w());
    auto* a = p.w();
    auto* b = p.w();
    p.acquire(a);
    p.acquire(b);  // a takes s1, b waits for a connect
    p.failed(p.j(p.t0));
    EXPECT_EQ(p.c.breaker(), connmgr::breaker_state::open);
    EXPECT_EQ(b->error, errc::circuit_open);
    p.give_back(s1);
    auto* c = p.w();
    EXPECT_EQ(p.acquire(c), (acts{hand{c, s1}}));
}

TEST(PoolState, CloseFailsWaitersClosesIdleThenLateConnectsAndReturns) {
    script p(options(3), {3, 100ms, 1s}, {0, 60s}, 0, 3);
    auto* idle = p.warm(p.w());
    auto* held_by = p.w();
    p.acquire(held_by);
    auto* w1 = p.w();
    auto* w2 = p.w();
    p.acquire(w1);
    p.acquire(w2);
    auto a = p.c.on_close(p.now());
    EXPECT_EQ(a, (acts{fail{w1, errc::shutting_down}, fail{w2, errc::shutting_down}}));
    (void)idle;
    EXPECT_EQ(p.c.on_close(p.now()), (acts{}));
    auto* late = p.s();
    EXPECT_EQ(p.connected(p.j(p.t0), late), (acts{close_it{late}}));
    EXPECT_EQ(p.give_back(held_by->result), (acts{close_it{held_by->result}}));
    auto* after = p.w();
    EXPECT_EQ(p.acquire(after), (acts{fail{after, errc::shutting_down}}));
}

TEST(PoolState, CloseClosesIdleConnections) {
    script p(options(1));
    auto* s1 = p.warm(p.w());
    EXPECT_EQ(p.c.on_close(p.now()), (acts{close_it{s1}}));
}

// Defects: a forked child freed a slot still linked in the leased list, and closed the
// parent's idle connections.
TEST(PoolState, ForkForgetsTheParentsConnectionsWithoutClosingThem) {
    script p(options(3));
    auto* holder = p.w();
    p.acquire(holder);
    auto* leased = p.s();
    p.connected(p.j(p.t0), leased);
    auto* idle = p.warm(p.w());
    acts a;
    EXPECT_TRUE(p.c.on_fork(1, a));
    EXPECT_EQ(a, (acts{abandon{idle}}));
    EXPECT_FALSE(p.c.on_fork(1, a));
    EXPECT_EQ(p.c.total(), 0u);
    EXPECT_EQ(p.give_back(leased), (acts{abandon{leased}}));  // never reset, closed or reused
    EXPECT_EQ(p.c.on_close(p.now()), (acts{}));               // nothing of the parent's closed
}

TEST(PoolState, ForkForgetsTheParentsWaitersAndConnects) {
    script p(options(3));
    p.acquire(p.w());  // queued, its connect in flight
    acts a;
    EXPECT_TRUE(p.c.on_fork(1, a));
    EXPECT_EQ(a, (acts{}));
    EXPECT_EQ(p.c.waiters(), 0u);
    EXPECT_EQ(p.c.connecting(), 0u);
    auto* late = p.s();
    EXPECT_EQ(p.connected(p.j(p.t0), late), (acts{abandon{late}}));  // the parent's socket
}

TEST(PoolState, ChildStartsEmptyAndConnectsItsOwn) {
    script p(options(1));
    p.warm(p.w());
    acts a;
    p.c.on_fork(7, a);
    auto* w = p.w();
    EXPECT_EQ(p.acquire(w),
              (acts{connect{{1, false, 7, p.now()}, p.now() + 5s}, arm{p.now() + 30s}}));
}

// Defect: durations near their type's limit overflowed steady_clock arithmetic.
TEST(PoolState, HugeDurationsSaturateInsteadOfOverflowing) {
    auto o = options(1);
    o.max_lifetime = std::chrono::milliseconds{1'000'000'000'000'000};
    o.idle_timeout = std::chrono::milliseconds{1'000'000'000'000'000};
    script p(o, {3, 100ms, 1s}, {1, std::chrono::milliseconds{1'000'000'000'000'000}});
    auto* w = p.w("", std::chrono::milliseconds::max());
    EXPECT_EQ(p.acquire(w), (acts{connect{p.j(p.t0), p.t0 + 5s}}));  // no deadline to arm
    EXPECT_EQ(w->deadline, clk::time_point::max());
    auto* s1 = p.s();
    p.connected(p.j(p.t0), s1);
    EXPECT_GT(s1->expires, p.now());
    p.give_back(s1);
    p.advance(1h);
    EXPECT_EQ(p.timer(), (acts{arm{p.now() + 1s}}));  // nothing expired
    EXPECT_EQ(p.c.idle(), 1u);
}

TEST(PoolState, BoundedBargingServesTheHeadWithinKPlusOneReturns) {
    script p(options(1), {3, 100ms, 1s}, {0, 60s}, 2);
    auto* s1 = p.s();
    auto* runner = p.w();
    p.acquire(runner);
    p.connected(p.j(p.t0), s1);
    auto* head = p.w();
    p.acquire(head);
    EXPECT_EQ(p.give_back(s1), (acts{wake{head}, arm{p.now() + 1s}}));  // parked; head told once
    auto* barger = p.w();
    EXPECT_EQ(p.acquire(barger), (acts{hand{barger, s1}}));  // a running acquirer takes it
    EXPECT_EQ(p.give_back(s1), (acts{}));                    // parked again, head already told
    EXPECT_EQ(p.c.on_retake(p.now(), *head), (acts{hand{head, s1}}));
    auto* next = p.w();
    p.acquire(next);
    EXPECT_EQ(p.give_back(s1), (acts{wake{next}}));
    EXPECT_EQ(p.c.on_retake(p.now(), *p.w()), (acts{}));  // only the head may retake
    p.acquire(p.w());                                     // a barger takes it again
    EXPECT_EQ(p.give_back(p.waiters.back()->result), (acts{}));
    p.acquire(p.w());
    EXPECT_EQ(p.give_back(p.waiters.back()->result), (acts{hand{next, s1}}));  // K = 2 passes used
}

TEST(PoolState, StatsCountEverything) {
    script p(options(2));
    auto* s1 = p.s();
    p.acquire(p.w());
    p.connected(p.j(p.t0), s1);
    p.give_back(s1, false);
    auto* w = p.w("", 1s);
    p.acquire(w);
    p.advance(1s);
    p.timer();
    connmgr::pool_stats st;
    p.c.fill(st);
    EXPECT_EQ(st.created_total, 1u);
    EXPECT_EQ(st.closed_total, 1u);
    EXPECT_EQ(st.acquired_total, 1u);
    EXPECT_EQ(st.timeouts_total, 1u);
    EXPECT_EQ(st.max_size, 2u);
    EXPECT_EQ(st.connecting, 1u);
    EXPECT_EQ(st.wait_buckets.back(), 1u);
}

// ---- retiring a server and the failover window (DESIGN §12) -------------------------------

// A connection on `server`: one acquire that connects it there.
slot* on_server(script& p, connmgr::detail::server_id server, waiter* x) {
    p.acquire(x);
    auto* conn = p.s();
    conn->server = server;
    p.connected(p.j(p.now()), conn);
    return conn;
}

TEST(PoolState, RetiringAServerClosesItsIdleConnectionsAtOnceAndNoOthers) {
    script p(options(4));
    auto* a = on_server(p, 1, p.w());
    auto* b = on_server(p, 2, p.w());
    auto* c = on_server(p, 1, p.w());
    p.give_back(a);
    p.give_back(b);
    p.give_back(c);
    EXPECT_EQ(p.c.on_retire_server(p.now(), 1, false), (acts{close_it{a}, close_it{c}}));
    EXPECT_EQ(p.c.idle(), 1u);
    auto* next = p.w();
    EXPECT_EQ(p.acquire(next), (acts{hand{next, b}}));
}

TEST(PoolState, ALeaseOnARetiredServerClosesWhenReturnedAndItsWaiterGetsANewConnection) {
    script p(options(1));
    auto* old = on_server(p, 1, p.w());
    EXPECT_EQ(p.c.on_retire_server(p.now(), 1, false), (acts{}));  // leased: nothing to close yet
    auto* w = p.w();
    p.acquire(w);
    // Returned in good shape, but its server is retired: closed, and w's connect starts.
    EXPECT_EQ(p.give_back(old, true), (acts{close_it{old}, connect{p.j(p.now()), p.now() + 5s}}));
    auto* fresh = p.s();
    fresh->server = 2;
    EXPECT_EQ(p.connected(p.j(p.now()), fresh), (acts{hand{w, fresh}}));
}

TEST(PoolState, AConnectionBeingValidatedWhenItsServerIsRetiredIsNotHandedOut) {
    auto o = options(2);
    o.health_check_interval = 0ms;  // every idle connection is pinged before use
    script p(o);
    auto* a = on_server(p, 1, p.w());
    p.give_back(a);
    auto* w = p.w();
    EXPECT_EQ(p.acquire(w), (acts{ping{a, p.now() + 5s}}));
    p.c.on_retire_server(p.now(), 1, false);
    auto x = p.c.on_ping_result(p.now(), *a, true);  // the ping succeeded, the server is retired
    ASSERT_FALSE(x.empty());
    EXPECT_EQ(x[0], act(close_it{a}));
    EXPECT_FALSE(w->done);  // back at the head of the queue, a connect asked for it
    EXPECT_EQ(p.c.connecting(), 1u);
}

TEST(PoolState, AConnectStartedBeforeTheRetirementThatLandsOnTheServerIsReplaced) {
    script p(options(2));
    auto* w = p.w();
    p.acquire(w);  // connect started at t0
    p.advance(10ms);
    p.c.on_retire_server(p.now(), 1, false);
    p.advance(10ms);
    auto* late = p.s();
    late->server = 1;
    EXPECT_EQ(p.connected(p.j(p.t0), late),
              (acts{close_it{late}, connect{p.j(p.now()), p.now() + 5s}}));
    EXPECT_FALSE(w->done);
    // A connect started after the retirement may land there (the driver chose it knowingly).
    auto* again = p.s();
    again->server = 1;
    EXPECT_EQ(p.connected(p.j(p.now()), again), (acts{hand{w, again}}));
}

TEST(PoolState, FailoverWindowRetriesEvery100msWithoutTheBreakerOrFailingWaiters) {
    // threshold 2 and 2 attempts: outside a failover the second failure would open the breaker.
    script p(options(2), {2, 1s, 10s}, {2, 60s});
    auto* held = on_server(p, 1, p.w());
    auto* w = p.w("", 5s);
    p.acquire(w);
    p.c.on_retire_server(p.now(), 1, true);
    EXPECT_TRUE(p.c.in_failover(p.now()));
    auto a = p.failed(p.j(p.now()));  // the first connect after the failover signal: refused
    for (int i = 0; i < 20; ++i) {
        ASSERT_FALSE(a.empty());
        auto* t = std::get_if<arm>(&a.back());
        ASSERT_NE(t, nullptr) << i;
        EXPECT_EQ(t->at, p.now() + 100ms);  // no backoff, no jitter
        p.advance(100ms);
        a = p.timer();
        ASSERT_FALSE(a.empty());
        ASSERT_TRUE(std::holds_alternative<connect>(a.front())) << i;
        EXPECT_EQ(std::get<connect>(a.front()).job.attempt, 1u);  // attempts are not used up
        a = p.failed(std::get<connect>(a.front()).job);
        EXPECT_EQ(p.c.breaker(), connmgr::breaker_state::closed);
        EXPECT_FALSE(w->done);
    }
    p.advance(100ms);
    a = p.timer();
    auto* promoted = p.s();
    promoted->server = 2;
    EXPECT_EQ(p.connected(std::get<connect>(a.front()).job, promoted), (acts{hand{w, promoted}}));
    EXPECT_FALSE(p.c.in_failover(p.now()));  // an acceptable server answered: the window closes
    (void)held;
}

TEST(PoolState, AfterTheFailoverWindowTheUsualRulesApplyAgain) {
    script p(options(2), {5, 100ms, 1s}, {2, 60s});
    auto* w = p.w("", 60s);
    p.acquire(w);
    p.c.on_retire_server(p.now(), 1, true);
    p.advance(10s);  // the whole window passes
    EXPECT_FALSE(p.c.in_failover(p.now()));
    auto a = p.failed(p.j(p.now()));
    ASSERT_FALSE(a.empty());
    if (auto* t = std::get_if<arm>(&a.front())) {  // the backoff's full jitter may be 0
        EXPECT_LE(t->at - p.now(), 100ms);
        p.advance(t->at - p.now());
        a = p.timer();
    }
    ASSERT_FALSE(a.empty());
    ASSERT_TRUE(std::holds_alternative<connect>(a.front()));
    EXPECT_EQ(std::get<connect>(a.front()).job.attempt, 2u);  // backoff and attempts again
    p.failed(std::get<connect>(a.front()).job);
    EXPECT_EQ(p.c.breaker(), connmgr::breaker_state::open);
    EXPECT_EQ(w->error, errc::circuit_open);
}

TEST(PoolState, APermanentErrorInTheFailoverWindowStillFailsAtOnce) {
    script p(options(2), {5, 100ms, 1s}, {5, 60s});
    auto* w = p.w();
    p.acquire(w);
    p.c.on_retire_server(p.now(), 1, true);
    EXPECT_EQ(p.failed(p.j(p.now()), connect_failure::permanent, "password authentication failed"),
              (acts{fail{w, errc::connect_failed}}));
}

TEST(PoolState, OpenConnectionsAreCountedByServer) {
    script p(options(4));
    auto* a = on_server(p, 7, p.w());
    on_server(p, 7, p.w());
    on_server(p, 9, p.w());
    p.give_back(a);
    auto by = p.c.open_by_server();
    std::sort(by.begin(), by.end());
    using e = std::pair<connmgr::detail::server_id, std::size_t>;
    EXPECT_EQ(by, (std::vector<e>{{7, 2}, {9, 1}}));
}

}  // namespace
