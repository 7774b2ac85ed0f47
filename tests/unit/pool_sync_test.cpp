// sync_pool over the fake driver: the core's rules through the blocking shell.
#include <connmgr/sync_pool.hpp>

#include <gtest/gtest.h>

#include "fake_driver.hpp"
#include "manual_clock.hpp"

#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <future>
#include <thread>
#include <vector>

namespace {

using namespace std::chrono_literals;
using connmgr::errc;
using connmgr::test::fake_backend;
using connmgr::test::fake_sync_driver;
using connmgr::test::manual_clock;
using pool_t = connmgr::sync_pool<fake_sync_driver>;
using manual_pool = connmgr::sync_pool<fake_sync_driver, manual_clock>;

connmgr::pool_params params(std::size_t max, std::chrono::milliseconds timeout = 2s) {
    connmgr::pool_params p;
    p.database = "app";
    p.url = "postgresql://app:***@db/app";
    p.backend = "postgres";
    p.pool.max_size = max;
    p.pool.acquire_timeout = timeout;
    p.retry = {3, 1ms, 5ms};
    p.breaker = {0, 1s};
    return p;
}

// Waits (bounded) for a condition another thread makes true.
template <class F>
bool eventually(F f, std::chrono::milliseconds limit = 5s) {
    const auto end = std::chrono::steady_clock::now() + limit;
    while (!f()) {
        if (std::chrono::steady_clock::now() > end) return false;
        std::this_thread::sleep_for(1ms);
    }
    return true;
}

TEST(SyncPool, AcquireConnectsAndReuses) {
    auto b = std::make_shared<fake_backend>();
    pool_t pool(fake_sync_driver(b), params(2));
    long first_id = 0;
    {
        auto l = pool.acquire();
        ASSERT_TRUE(l);
        first_id = l->id;
        EXPECT_EQ(pool.stats().in_use, 1u);
    }
    {
        auto l = pool.acquire();
        EXPECT_EQ(l->id, first_id);
    }
    EXPECT_EQ(b->created.load(), 1);
    auto st = pool.stats();
    EXPECT_EQ(st.idle, 1u);
    EXPECT_EQ(st.acquired_total, 2u);
    EXPECT_EQ(st.flavour, connmgr::flavour::sync);
    EXPECT_EQ(st.databases, std::vector<std::string>{"app"});
}

// Deadlines are the core's: a manual clock moved past one fails the waiter, no sleeping.
TEST(SyncPool, TimesOutWithMessage) {
    manual_clock::reset();
    auto b = std::make_shared<fake_backend>();
    manual_pool pool(fake_sync_driver(b), params(1, 30s));
    auto held = pool.acquire({.timeout = {}, .holder = "store#1"});
    auto waiting = std::async(std::launch::async, [&] { return pool.acquire(); });
    ASSERT_TRUE(eventually([&] { return pool.stats().waiters == 1; }));
    manual_clock::advance(30s);
    pool.run_timers();
    try {
        (void)waiting.get();
        FAIL() << "expected timeout";
    } catch (const connmgr::timeout_error& e) {
        EXPECT_EQ(e.code(), errc::acquire_timeout);
        const std::string what = e.what();
        EXPECT_NE(what.find("app (sync pool): max_size 1, in use 1"), std::string::npos) << what;
        EXPECT_NE(what.find("oldest lease: store#1 for 30.0s"), std::string::npos) << what;
    }
    EXPECT_EQ(pool.stats().timeouts_total, 1u);
}

TEST(SyncPool, ZeroTimeoutFailsFastWhenExhausted) {
    auto b = std::make_shared<fake_backend>();
    pool_t pool(fake_sync_driver(b), params(1, 0ms));
    auto held = pool.acquire();  // room: waits for the connect
    try {
        (void)pool.acquire();
        FAIL();
    } catch (const connmgr::error& e) {
        EXPECT_EQ(e.code(), errc::pool_exhausted);
    }
}

TEST(SyncPool, TryAcquireNeverWaits) {
    auto b = std::make_shared<fake_backend>();
    pool_t pool(fake_sync_driver(b), params(1));
    auto r = pool.try_acquire();
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error(), errc::pool_exhausted);
    { auto l = pool.acquire(); }
    auto r2 = pool.try_acquire();
    EXPECT_TRUE(r2.has_value());
}

TEST(SyncPool, WaiterGetsReturnedConnection) {
    auto b = std::make_shared<fake_backend>();
    pool_t pool(fake_sync_driver(b), params(1));
    auto held = pool.acquire();
    auto f = std::async(std::launch::async, [&] { return pool.acquire()->id; });
    ASSERT_TRUE(eventually([&] { return pool.stats().waiters == 1; }));
    const long id = held->id;
    held.release();
    EXPECT_EQ(f.get(), id);
}

TEST(SyncPool, BrokenConnectionIsDiscarded) {
    auto b = std::make_shared<fake_backend>();
    pool_t pool(fake_sync_driver(b), params(2));
    {
        auto l = pool.acquire();
        l.mark_broken();
    }
    EXPECT_EQ(b->open.load(), 0);
    EXPECT_EQ(b->closed.load(), 1);
    {
        auto l = pool.acquire();
        l->broken = true;  // the driver notices on its own
    }
    EXPECT_EQ(b->open.load(), 0);
    b->reset_fails = true;
    { auto l = pool.acquire(); }
    EXPECT_EQ(b->open.load(), 0);
    EXPECT_EQ(pool.stats().closed_total, 3u);
}

TEST(SyncPool, FailedPingIsReplacedTransparently) {
    auto b = std::make_shared<fake_backend>();
    auto p = params(2);
    p.pool.health_check_interval = 0ms;  // always validate
    pool_t pool(fake_sync_driver(b), p);
    long first = 0;
    { first = pool.acquire()->id; }
    b->ping_fails = true;
    auto l = pool.acquire();  // the new connection is handed over without a ping
    EXPECT_NE(l->id, first);
    EXPECT_EQ(b->pings.load(), 1);
    EXPECT_GE(b->closed.load(), 1);
}

TEST(SyncPool, ConnectRetriesThenSucceeds) {
    auto b = std::make_shared<fake_backend>();
    b->fail_next = 2;
    pool_t pool(fake_sync_driver(b), params(1));
    auto l = pool.acquire();
    EXPECT_TRUE(l);
    EXPECT_EQ(b->connects.load(), 3);
    EXPECT_EQ(pool.stats().connect_failures_total, 2u);
}

TEST(SyncPool, ConnectFailureAfterRetriesThrowsConnectError) {
    auto b = std::make_shared<fake_backend>();
    b->fail_all = true;
    pool_t pool(fake_sync_driver(b), params(1));
    try {
        (void)pool.acquire();
        FAIL();
    } catch (const connmgr::connect_error& e) {
        EXPECT_EQ(e.code(), errc::connect_failed);
        EXPECT_NE(std::string(e.what()).find("fake connect refused"), std::string::npos);
        EXPECT_NE(std::string(e.what()).find("postgresql://app:***@db/app"), std::string::npos);
    }
    EXPECT_EQ(b->connects.load(), 3);
}

TEST(SyncPool, BreakerOpensAndRecoversThroughABackgroundTrial) {
    manual_clock::reset();
    auto b = std::make_shared<fake_backend>();
    b->fail_all = true;
    auto p = params(1);
    p.retry = {1, 100ms, 100ms};
    p.breaker = {2, 60s};
    manual_pool pool(fake_sync_driver(b), p);
    EXPECT_THROW((void)pool.acquire(), connmgr::connect_error);
    try {
        (void)pool.acquire();
        FAIL();
    } catch (const connmgr::connect_error& e) {
        EXPECT_EQ(e.code(), errc::circuit_open);
        EXPECT_NE(std::string(e.what()).find("fake connect refused"), std::string::npos)
            << e.what();
    }
    auto r = pool.try_acquire();
    EXPECT_EQ(r.error(), errc::circuit_open);
    EXPECT_EQ(pool.stats().breaker, connmgr::breaker_state::open);
    b->fail_all = false;
    const long before = b->connects.load();
    manual_clock::advance(100ms);  // retry.base_delay: the first trial connect is due
    pool.run_timers();
    ASSERT_TRUE(eventually([&] { return pool.stats().breaker == connmgr::breaker_state::closed; }));
    EXPECT_EQ(b->connects.load(), before + 1);  // one trial, in the background
    auto l = pool.acquire();
    EXPECT_TRUE(l);
}

TEST(SyncPool, MinIdleIsFilledAndRefilled) {
    auto b = std::make_shared<fake_backend>();
    auto p = params(4);
    p.pool.min_idle = 2;
    pool_t pool(fake_sync_driver(b), p);
    { auto l = pool.acquire(); }  // starts the background thread
    ASSERT_TRUE(eventually([&] { return pool.stats().idle == 2; }));
    {
        auto l = pool.acquire();
        l.mark_broken();
    }
    ASSERT_TRUE(eventually([&] { return pool.stats().idle == 2; }));
    EXPECT_EQ(b->created.load(), 3);
}

TEST(SyncPool, IdleAboveMinIdleClosesAfterIdleTimeout) {
    manual_clock::reset();
    auto b = std::make_shared<fake_backend>();
    auto p = params(3);
    p.pool.idle_timeout = 10min;
    manual_pool pool(fake_sync_driver(b), p);
    {
        auto a = pool.acquire();
        auto c = pool.acquire();
    }
    EXPECT_EQ(pool.stats().idle, 2u);
    manual_clock::advance(9min);
    pool.run_timers();
    EXPECT_EQ(pool.stats().idle, 2u);
    manual_clock::advance(1min);
    pool.run_timers();  // the sweep closes both, synchronously
    EXPECT_EQ(pool.stats().idle, 0u);
    EXPECT_EQ(b->open.load(), 0);
}

TEST(SyncPool, LeakWarningNamesHolder) {
    auto b = std::make_shared<fake_backend>();
    auto p = params(1);
    p.pool.leak_threshold = 1min;
    manual_clock::reset();
    std::mutex m;
    std::vector<std::string> logged;
    auto previous =
        connmgr::detail::set_log_sink([&](connmgr::detail::log_level, std::string_view s) {
            std::lock_guard lock(m);
            logged.emplace_back(s);
        });
    {
        manual_pool pool(fake_sync_driver(b), p);
        auto l = pool.acquire({.timeout = {}, .holder = "memory-store#42"});
        EXPECT_EQ(l.holder(), "memory-store#42");
        manual_clock::advance(61s);
        pool.run_timers();  // the sweep logs, synchronously
        std::lock_guard lock(m);
        ASSERT_FALSE(logged.empty());
    }
    connmgr::detail::set_log_sink(previous);
    EXPECT_NE(logged.at(0).find("memory-store#42"), std::string::npos);
}

TEST(SyncPool, CloseWakesWaitersDrainsAndSummarizes) {
    auto b = std::make_shared<fake_backend>();
    pool_t pool(fake_sync_driver(b), params(2, 5s));
    auto held = pool.acquire({.timeout = {}, .holder = "store-a"});
    { auto idle = pool.acquire(); }
    auto held2 = pool.acquire({.timeout = {}, .holder = "store-b"});
    auto waiter2 = std::async(std::launch::async, [&] {
        try {
            (void)pool.acquire();
            return boost::system::error_code{};
        } catch (const connmgr::error& e) {
            return e.code();
        }
    });
    ASSERT_TRUE(eventually([&] { return pool.stats().waiters == 1; }));
    auto s = pool.close(30ms);
    EXPECT_EQ(waiter2.get(), errc::shutting_down);
    EXPECT_EQ(s.pools_closed, 1u);
    EXPECT_EQ(s.leases_outstanding, 2u);
    EXPECT_EQ(s.leases_by_store.at("store-a"), 1u);
    EXPECT_EQ(s.leases_by_store.at("store-b"), 1u);
    EXPECT_EQ(pool.close(0ms), connmgr::close_summary{});  // idempotent
    try {
        (void)pool.acquire();
        FAIL();
    } catch (const connmgr::error& e) {
        EXPECT_EQ(e.code(), errc::shutting_down);
    }
    held.release();
    held2.release();
    EXPECT_EQ(b->open.load(), 0);  // closed on return
}

TEST(SyncPool, CloseWaitsForLeasesWithinDrain) {
    auto b = std::make_shared<fake_backend>();
    pool_t pool(fake_sync_driver(b), params(1));
    auto held = pool.acquire();
    std::thread returner([&] {
        std::this_thread::sleep_for(20ms);
        held.release();
    });
    auto s = pool.close(5s);
    returner.join();
    EXPECT_EQ(s.leases_outstanding, 0u);
    EXPECT_EQ(s.connections_closed, 1u);
    EXPECT_EQ(b->open.load(), 0);
}

TEST(SyncPool, LeaseOutlivesPool) {
    auto b = std::make_shared<fake_backend>();
    connmgr::lease<fake_sync_driver> l;
    {
        pool_t pool(fake_sync_driver(b), params(1));
        l = pool.acquire();
    }
    EXPECT_EQ(b->open.load(), 1);
    l.release();
    EXPECT_EQ(b->open.load(), 0);
}

TEST(SyncPool, MaxWaitersExceeded) {
    auto b = std::make_shared<fake_backend>();
    auto p = params(1);
    p.pool.max_waiters = 1;
    pool_t pool(fake_sync_driver(b), p);
    auto held = pool.acquire();
    auto f = std::async(std::launch::async, [&] { return pool.acquire()->id; });
    ASSERT_TRUE(eventually([&] { return pool.stats().waiters == 1; }));
    try {
        (void)pool.acquire();
        FAIL();
    } catch (const connmgr::error& e) {
        EXPECT_EQ(e.code(), errc::pool_exhausted);
    }
    held.release();
    EXPECT_GT(f.get(), 0);
}

TEST(SyncPool, ForkedChildAbandonsConnections) {
    auto b = std::make_shared<fake_backend>();
    pool_t pool(fake_sync_driver(b), params(2));
    { auto l = pool.acquire(); }
    auto held = pool.acquire();  // the idle one
    ASSERT_TRUE(eventually([&] { return pool.stats().connecting == 0; }));
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
        int code = 0;
        {
            auto l = pool.acquire();
            if (b->created.load() != 2) code |= 1;  // a fresh connection, not the parent's
        }
        held.release();  // the parent's socket: leaked, never closed
        if (b->closed.load() != 0) code |= 2;
        if (pool.stats().open != 1) code |= 4;
        ::_exit(code);
    }
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 0);
    EXPECT_EQ(b->created.load(), 1);  // the parent is untouched
    EXPECT_EQ(pool.stats().in_use, 1u);
}

// Runs `child` in a forked process and returns its exit code (the child's own checks).
template <class F>
int in_child(F child) {
    const pid_t pid = ::fork();
    if (pid == 0) ::_exit(child());
    int status = 0;
    if (pid < 0 || ::waitpid(pid, &status, 0) != pid || !WIFEXITED(status)) return -1;
    return WEXITSTATUS(status);
}

// Defect: a child that gave back a parent-era lease first freed a slot still linked in the
// pool's leased list; its next acquire walked freed memory (ASan: heap-use-after-free).
TEST(SyncPool, ForkedChildReleasesAParentLeaseFirstThenAcquires) {
    auto b = std::make_shared<fake_backend>();
    pool_t pool(fake_sync_driver(b), params(2));
    auto held = pool.acquire();
    EXPECT_EQ(in_child([&] {
                  held.release();  // before any other call in the child
                  auto l = pool.acquire();
                  return (b->closed.load() == 0 ? 0 : 1) | (l ? 0 : 2) |
                         (pool.stats().in_use == 1 ? 0 : 4);
              }),
              0);
    EXPECT_EQ(b->closed.load(), 0);
    EXPECT_EQ(pool.stats().in_use, 1u);  // the parent still holds its lease
    held.release();
    EXPECT_EQ(pool.stats().idle, 1u);
}

// Defect: a child that closed a pool it never used closed the parent's idle connections and
// joined the parent's background thread (a hang: that thread does not exist in the child).
TEST(SyncPool, ForkedChildClosingThePoolLeavesTheParentsConnections) {
    auto b = std::make_shared<fake_backend>();
    auto p = params(3);
    p.pool.min_idle = 2;
    pool_t pool(fake_sync_driver(b), p);
    { auto l = pool.acquire(); }  // starts the background thread
    ASSERT_TRUE(eventually([&] { return pool.stats().idle == 2; }));
    EXPECT_EQ(in_child([&] {
                  auto s = pool.close(std::chrono::milliseconds{100});
                  return (b->closed.load() == 0 ? 0 : 1) | (s.connections_closed == 0 ? 0 : 2);
              }),
              0);
    EXPECT_EQ(b->closed.load(), 0);
    EXPECT_EQ(pool.stats().idle, 2u);
    auto l = pool.acquire();  // the parent's connections still serve
    EXPECT_LE(l->id, 2);
}

}  // namespace
