// Stress and spike tests of both pools over the fake drivers. Names contain "Stress" (or
// "Spike") so CI can select them: ctest -R Stress (under TSan too).
//
// Iteration counts are env-overridable for slow builds (TSan):
//   CONNMGR_STRESS_ITERATIONS  per thread in the sync test (default 20000)
//   CONNMGR_STRESS_COROUTINES  coroutines in the async test (default 10000)
#include <connmgr/async_pool.hpp>
#include <connmgr/sync_pool.hpp>

#include <gtest/gtest.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "fake_driver.hpp"

#include <atomic>
#include <barrier>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <random>
#include <thread>
#include <vector>

namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using boost::system::error_code;
using connmgr::errc;
using connmgr::test::fake_async_driver;
using connmgr::test::fake_backend;
using connmgr::test::fake_sync_driver;

long env_or(const char* name, long fallback) {
    const char* v = std::getenv(name);
    return v != nullptr && *v != '\0' ? std::atol(v) : fallback;
}

connmgr::pool_params params(std::size_t max, std::chrono::milliseconds timeout) {
    connmgr::pool_params p;
    p.database = "stress";
    p.url = "redis://127.0.0.1/0";
    p.backend = "redis";
    p.pool.max_size = max;
    p.pool.acquire_timeout = timeout;
    p.retry = {3, 1ms, 5ms};
    return p;
}

// Busy-waits a few microseconds: sleep_for would sleep far longer than asked.
void hold_for(std::chrono::nanoseconds d) {
    const auto end = std::chrono::steady_clock::now() + d;
    while (std::chrono::steady_clock::now() < end) {
    }
}

TEST(PoolStress, SyncSixtyFourThreadsOnFourConnections) {
    const long iterations = env_or("CONNMGR_STRESS_ITERATIONS", 20'000);
    constexpr int threads = 64;
    auto b = std::make_shared<fake_backend>();
    connmgr::sync_pool<fake_sync_driver> pool(fake_sync_driver(b), params(4, 10s));
    std::atomic<long> ok{0}, timeouts{0}, other{0};
    std::atomic<long> ticket{0}, served{0};
    std::atomic<long> max_displacement{0};
    const auto start = std::chrono::steady_clock::now();
    std::vector<std::thread> ts;
    for (int t = 0; t < threads; ++t) {
        ts.emplace_back([&, t] {
            std::minstd_rand rng(static_cast<unsigned>(t));
            std::uniform_int_distribution<int> hold_ns(0, 5'000);
            for (long i = 0; i < iterations; ++i) {
                try {
                    const long my_ticket = ticket.fetch_add(1);
                    auto l = pool.acquire();
                    const long my_turn = served.fetch_add(1);
                    // FIFO: nobody who asked later is served much earlier.
                    long d = my_ticket - my_turn;
                    long seen = max_displacement.load();
                    while (d > seen && !max_displacement.compare_exchange_weak(seen, d)) {
                    }
                    ++l->uses;
                    hold_for(std::chrono::nanoseconds{hold_ns(rng)});
                    ++ok;
                } catch (const connmgr::timeout_error&) {
                    ++timeouts;
                } catch (...) {
                    ++other;
                }
            }
        });
    }
    for (auto& t : ts) t.join();
    const double secs =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const auto st = pool.stats();
    std::printf(
        "sync stress: %ld ok, %ld timeouts in %.2fs (%.0f cycles/s), max_open %ld, "
        "max FIFO displacement %ld, wait max %.3fs\n",
        ok.load(), timeouts.load(), secs, static_cast<double>(ok.load()) / secs, b->max_open.load(),
        max_displacement.load(), st.wait_seconds_max);
    EXPECT_LE(b->max_open.load(), 4);
    EXPECT_EQ(other.load(), 0);
    EXPECT_EQ(ok.load() + timeouts.load(), iterations * threads);
    // Bound: a thread takes its ticket and then queues; at most every other thread (63) can
    // slip in between. A non-FIFO pool shows displacements in the thousands here.
    EXPECT_LE(max_displacement.load(), 2 * threads);
    EXPECT_EQ(st.in_use, 0u);
    EXPECT_EQ(st.waiters, 0u);
    pool.close(1s);
    EXPECT_EQ(b->open.load(), 0);
}

TEST(PoolStress, AsyncTenThousandCoroutinesOnFourConnections) {
    const long coroutines = env_or("CONNMGR_STRESS_COROUTINES", 10'000);
    constexpr int cycles = 20;
    asio::io_context ioc(2);
    auto b = std::make_shared<fake_backend>();
    auto pool = std::make_shared<connmgr::async_pool<fake_async_driver>>(
        ioc.get_executor(), fake_async_driver(b), params(4, 30s));
    std::atomic<long> ok{0}, timeouts{0}, other{0}, done{0};
    const auto start = std::chrono::steady_clock::now();
    for (long c = 0; c < coroutines; ++c) {
        asio::co_spawn(
            ioc,
            [&, pool]() -> asio::awaitable<void> {
                for (int i = 0; i < cycles; ++i) {
                    auto [ec, l] =
                        co_await pool->async_acquire(asio::as_tuple(asio::use_awaitable));
                    if (!ec) {
                        ++l->uses;
                        ++ok;
                    } else if (ec == errc::acquire_timeout) {
                        ++timeouts;
                    } else {
                        ++other;
                    }
                }
                ++done;
            },
            asio::detached);
    }
    std::vector<std::thread> ts;
    for (int i = 0; i < 2; ++i)
        ts.emplace_back([&] {
            while (done.load() < coroutines && ioc.run_one_for(1s) > 0) {
            }
        });
    for (auto& t : ts) t.join();
    const double secs =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::printf("async stress: %ld coroutines x %d: %ld ok, %ld timeouts in %.2fs, max_open %ld\n",
                coroutines, cycles, ok.load(), timeouts.load(), secs, b->max_open.load());
    EXPECT_EQ(done.load(), coroutines);
    EXPECT_LE(b->max_open.load(), 4);
    EXPECT_EQ(other.load(), 0);
    EXPECT_EQ(ok.load() + timeouts.load(), coroutines * cycles);
    auto st = pool->stats();
    EXPECT_EQ(st.in_use, 0u);
    EXPECT_EQ(st.waiters, 0u);
    pool->close(1s);
    ioc.run_for(50ms);
    EXPECT_EQ(b->open.load(), 0);
}

// Callers on 32 threads, each with its own io_context for completions; the pool's executor
// runs on another thread. Every completion crosses threads.
TEST(PoolStress, AsyncThirtyTwoCallerThreadsOnSixteenConnections) {
    const long iterations = env_or("CONNMGR_STRESS_ITERATIONS", 20'000) / 4;
    asio::io_context pool_ioc;
    auto work = asio::make_work_guard(pool_ioc);
    std::thread runner([&] { pool_ioc.run(); });
    auto b = std::make_shared<fake_backend>();
    auto pool = std::make_shared<connmgr::async_pool<fake_async_driver>>(
        pool_ioc.get_executor(), fake_async_driver(b), params(16, 10s));
    std::atomic<long> ok{0}, failed{0};
    // The callers' io_contexts outlive every thread: the thread that posted a completion may
    // still be inside the io_context (Asio signals its condition after unlocking) when the
    // handler has already run on the caller's thread.
    std::vector<std::unique_ptr<asio::io_context>> callers;
    for (int t = 0; t < 32; ++t) callers.push_back(std::make_unique<asio::io_context>());
    std::vector<std::thread> ts;
    for (int t = 0; t < 32; ++t)
        ts.emplace_back([&, t] {
            asio::io_context& caller = *callers[static_cast<std::size_t>(t)];
            // Keeps `caller` from stopping when a completion's work count drops late on the
            // releasing thread (run_one would then return 0 at once).
            auto keep = asio::make_work_guard(caller);
            for (long i = 0; i < iterations; ++i) {
                bool done = false;
                pool->async_acquire(asio::bind_executor(
                    caller, [&](error_code ec, connmgr::lease<fake_async_driver> l) {
                        if (!ec && l)
                            ++ok;
                        else
                            ++failed;
                        done = true;
                    }));
                while (!done) caller.run_one();
            }
        });
    for (auto& t : ts) t.join();
    std::printf("async callers: %ld ok, %ld failed, max_open %ld\n", ok.load(), failed.load(),
                b->max_open.load());
    EXPECT_EQ(ok.load(), iterations * 32);
    EXPECT_EQ(failed.load(), 0);
    EXPECT_LE(b->max_open.load(), 16);
    pool->close(1s);
    work.reset();
    runner.join();
    EXPECT_EQ(b->open.load(), 0);
}

TEST(PoolStress, AsyncCancelledWaitersLeakNothing) {
    using namespace asio::experimental::awaitable_operators;
    const long coroutines = env_or("CONNMGR_STRESS_COROUTINES", 10'000) / 5;
    asio::io_context ioc;
    auto b = std::make_shared<fake_backend>();
    auto pool = std::make_shared<connmgr::async_pool<fake_async_driver>>(
        ioc.get_executor(), fake_async_driver(b), params(2, 30s));
    std::atomic<long> got{0}, gave_up{0}, done{0};
    for (long c = 0; c < coroutines; ++c) {
        asio::co_spawn(
            ioc,
            [&, pool, c]() -> asio::awaitable<void> {
                asio::steady_timer give_up(ioc, std::chrono::microseconds{(c % 50) * 200});
                // Even ones wait as long as it takes; odd ones give up after up to 10 ms.
                if (c % 2 == 0) give_up.expires_after(1h);
                auto r = co_await (pool->async_acquire(asio::as_tuple(asio::use_awaitable)) ||
                                   give_up.async_wait(asio::use_awaitable));
                if (r.index() == 0) {
                    auto& [ec, l] = std::get<0>(r);
                    if (!ec) {
                        ++got;
                        asio::steady_timer hold(ioc, 20us);
                        co_await hold.async_wait(asio::use_awaitable);
                    }
                } else {
                    ++gave_up;
                }
                ++done;
            },
            asio::detached);
    }
    while (done.load() < coroutines && ioc.run_one_for(5s) > 0) {
    }
    auto st = pool->stats();
    std::printf("cancel stress: %ld got a lease, %ld gave up; open %zu\n", got.load(),
                gave_up.load(), st.open);
    EXPECT_EQ(done.load(), coroutines);
    EXPECT_GT(gave_up.load(), 0);
    EXPECT_GT(got.load(), 0);
    EXPECT_EQ(st.waiters, 0u);
    EXPECT_EQ(st.in_use, 0u);
    EXPECT_LE(b->max_open.load(), 2);
    EXPECT_EQ(static_cast<long>(st.open), b->open.load());  // no slot lost or leaked
    pool->close(1s);
    ioc.run_for(50ms);
    EXPECT_EQ(b->open.load(), 0);
}

// HikariCP's spike: connects take 150 ms, queries 2 ms, max_size 50, min_idle 5, and 50
// threads arrive at once. A pool that connects per waiter opens ~50; one whose waiters take
// whichever connection frees first opens a handful.
TEST(PoolSpike, SyncFiftyThreadsAtOnce) {
    auto b = std::make_shared<fake_backend>();
    auto p = params(50, 30s);
    p.pool.min_idle = 5;
    connmgr::sync_pool<fake_sync_driver> pool(fake_sync_driver(b), p);
    { auto warm = pool.acquire(); }  // starts the pool; min_idle fills in the background
    const auto warm_end = std::chrono::steady_clock::now() + 5s;
    while (pool.stats().idle < 5 && std::chrono::steady_clock::now() < warm_end)
        std::this_thread::sleep_for(1ms);
    ASSERT_EQ(pool.stats().idle, 5u);
    b->latency_us = 150'000;
    const long before = b->created.load();
    std::barrier sync_point(50);
    std::atomic<long> ok{0};
    const auto start = std::chrono::steady_clock::now();
    std::vector<std::thread> ts;
    for (int t = 0; t < 50; ++t)
        ts.emplace_back([&] {
            sync_point.arrive_and_wait();
            auto l = pool.acquire();
            std::this_thread::sleep_for(2ms);
            ++ok;
        });
    for (auto& t : ts) t.join();
    const double ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    // Connects requested during the spike finish later: count them too.
    const auto settle = std::chrono::steady_clock::now() + 5s;
    while (pool.stats().connecting > 0 && std::chrono::steady_clock::now() < settle)
        std::this_thread::sleep_for(1ms);
    std::printf(
        "spike (sync): 50 threads served in %.1f ms, connections opened during the "
        "spike: %ld, open now: %ld\n",
        ms, b->created.load() - before, b->open.load());
    EXPECT_EQ(ok.load(), 50);
    EXPECT_LE(b->max_open.load(), 50);
    pool.close(1s);
}

TEST(PoolSpike, AsyncFiftyCoroutinesAtOnce) {
    asio::io_context ioc;
    auto b = std::make_shared<fake_backend>();
    auto p = params(50, 30s);
    p.pool.min_idle = 5;
    auto pool = std::make_shared<connmgr::async_pool<fake_async_driver>>(ioc.get_executor(),
                                                                         fake_async_driver(b), p);
    std::atomic<long> ok{0};
    long before = 0;
    std::chrono::steady_clock::time_point start;
    asio::co_spawn(
        ioc,
        [&]() -> asio::awaitable<void> {
            { auto warm = co_await pool->async_acquire(asio::use_awaitable); }
            asio::steady_timer t(ioc);
            for (int i = 0; i < 5000 && pool->stats().idle < 5; ++i) {
                t.expires_after(1ms);
                co_await t.async_wait(asio::use_awaitable);
            }
            EXPECT_EQ(pool->stats().idle, 5u);
            b->latency_us = 150'000;
            before = b->created.load();
            start = std::chrono::steady_clock::now();
            for (int i = 0; i < 50; ++i)
                asio::co_spawn(
                    ioc,
                    [&]() -> asio::awaitable<void> {
                        auto l = co_await pool->async_acquire(asio::use_awaitable);
                        asio::steady_timer q(ioc, 2ms);
                        co_await q.async_wait(asio::use_awaitable);
                        ++ok;
                    },
                    asio::detached);
        },
        asio::detached);
    while (ok.load() < 50 && ioc.run_one_for(5s) > 0) {
    }
    const double ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    const auto settle = std::chrono::steady_clock::now() + 5s;
    while (pool->stats().connecting > 0 && std::chrono::steady_clock::now() < settle)
        ioc.run_one_for(10ms);
    std::printf(
        "spike (async): 50 coroutines served in %.1f ms, connections opened during the "
        "spike: %ld\n",
        ms, b->created.load() - before);
    EXPECT_EQ(ok.load(), 50);
    EXPECT_LE(b->max_open.load(), 50);
    pool->close(1s);  // nothing runs ioc now, so the blocking close is allowed here
    ioc.run_for(10ms);
}

}  // namespace
