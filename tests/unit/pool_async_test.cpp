// async_pool over the fake async driver: the core's rules through the Asio shell, with every
// kind of completion token.
// GCC 12 at -O1 with ASan warns "completion may be used uninitialized" inside Asio's
// use_future machinery (a false positive in the library header, not in connmgr).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include <connmgr/async_pool.hpp>
#include <connmgr/detail/database_pools.hpp>

#include <gtest/gtest.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>

#include "fake_driver.hpp"
#include "manual_clock.hpp"

#include <future>
#include <thread>

namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using connmgr::errc;
using connmgr::test::fake_async_driver;
using connmgr::test::fake_backend;
using connmgr::test::fake_sync_driver;
using connmgr::test::manual_clock;
using pool_t = connmgr::async_pool<fake_async_driver>;
using manual_pool = connmgr::async_pool<fake_async_driver, manual_clock>;
using lease_t = connmgr::lease<fake_async_driver>;
using boost::system::error_code;

connmgr::pool_params params(std::size_t max, std::chrono::milliseconds timeout = 2s) {
    connmgr::pool_params p;
    p.database = "cache";
    p.url = "redis://127.0.0.1:6379/0";
    p.backend = "redis";
    p.pool.max_size = max;
    p.pool.acquire_timeout = timeout;
    p.retry = {3, 1ms, 5ms};
    p.breaker = {0, 1s};
    return p;
}

template <class F>
bool eventually(F f, std::chrono::milliseconds limit = 5s) {
    const auto end = std::chrono::steady_clock::now() + limit;
    while (!f()) {
        if (std::chrono::steady_clock::now() > end) return false;
        std::this_thread::sleep_for(1ms);
    }
    return true;
}

// An io_context running on its own thread for the test's lifetime.
struct runner {
    asio::io_context ioc;
    asio::executor_work_guard<asio::io_context::executor_type> work{ioc.get_executor()};
    std::thread t{[this] { ioc.run(); }};
    ~runner() {
        work.reset();
        ioc.stop();
        t.join();
    }
};

template <class Pool>
std::pair<error_code, lease_t> get(Pool& pool, connmgr::acquire_options o = {}) {
    auto p = std::make_shared<std::promise<std::pair<error_code, lease_t>>>();
    auto f = p->get_future();
    pool.async_acquire(std::move(o), [p](error_code ec, lease_t l) {
        p->set_value({ec, std::move(l)});
    });
    return f.get();
}

TEST(AsyncPool, AcquireWithUseFutureAndReuse) {
    runner r;
    auto b = std::make_shared<fake_backend>();
    pool_t pool(r.ioc.get_executor(), fake_async_driver(b), params(2));
    long id = 0;
    {
        lease_t l = pool.async_acquire(asio::use_future).get();
        ASSERT_TRUE(l);
        id = l->id;
    }
    {
        auto [ec, l] = get(pool);
        EXPECT_FALSE(ec);
        EXPECT_EQ(l->id, id);
    }
    EXPECT_EQ(b->created.load(), 1);
    EXPECT_EQ(pool.stats().flavour, connmgr::flavour::async);
    pool.close(1s);
}

// Two I/O threads (the manager's io_threads: 2): connections are spread over both, and an
// acquirer running on one of them is given a connection living there.
TEST(AsyncPool, ConnectionsSpreadOverExecutorsAndAcquirersGetOneOfTheirThread) {
    runner a;
    runner b;
    auto backend = std::make_shared<fake_backend>();
    pool_t pool(std::vector<asio::any_io_executor>{a.ioc.get_executor(), b.ioc.get_executor()},
                fake_async_driver(backend), params(4));
    ASSERT_EQ(pool.executors().size(), 2u);
    {
        std::vector<lease_t> held;
        for (int i = 0; i < 4; ++i) {
            auto [ec, l] = get(pool);
            ASSERT_FALSE(ec) << ec.message();
            held.push_back(std::move(l));
        }
        int on_b = 0;
        for (auto& l : held) on_b += l->opened_on == b.t.get_id() ? 1 : 0;
        EXPECT_EQ(on_b, 2);
    }
    for (auto* r : {&a, &b}) {
        for (int round = 0; round < 3; ++round) {
            auto f = asio::co_spawn(
                r->ioc,
                [&pool]() -> asio::awaitable<std::thread::id> {
                    lease_t l = co_await pool.async_acquire(asio::use_awaitable);
                    co_return l->opened_on;
                },
                asio::use_future);
            EXPECT_EQ(f.get(), r->t.get_id());
        }
    }
}

TEST(AsyncPool, CallbackCompletesOnItsExecutor) {
    // `caller` outlives the pool's thread: Asio's post() signals the woken thread after it
    // unlocked the queue, so the handler may run (and caller.run() return) while the posting
    // thread is still inside post() on `caller` (TSan: pthread_cond_signal against the
    // io_context's destruction).
    asio::io_context caller;
    runner r;
    auto b = std::make_shared<fake_backend>();
    pool_t pool(r.ioc.get_executor(), fake_async_driver(b), params(1));
    std::thread::id ran_on;
    bool ok = false;
    pool.async_acquire(asio::bind_executor(caller, [&](error_code ec, lease_t l) {
        ran_on = std::this_thread::get_id();
        ok = !ec && l;
    }));
    caller.run();  // returns once the handler ran: the pool kept work on `caller` meanwhile
    EXPECT_TRUE(ok);
    EXPECT_EQ(ran_on, std::this_thread::get_id());
    pool.close(1s);
}

TEST(AsyncPool, WorksWithUseAwaitableAndDeferred) {
    asio::io_context ioc;
    auto b = std::make_shared<fake_backend>();
    auto pool = std::make_shared<pool_t>(ioc.get_executor(), fake_async_driver(b), params(1));
    int done = 0;
    asio::co_spawn(
        ioc,
        [&]() -> asio::awaitable<void> {
            {
                auto l = co_await pool->async_acquire(asio::use_awaitable);
                EXPECT_TRUE(l);
            }
            auto [ec, l2] = co_await pool->async_acquire(asio::as_tuple(asio::use_awaitable));
            EXPECT_FALSE(ec);
            auto op = pool->async_acquire();  // deferred: nothing runs until awaited
            l2.release();
            auto l3 = co_await std::move(op)(asio::use_awaitable);
            EXPECT_TRUE(l3);
            ++done;
        },
        asio::detached);
    // Run until the coroutine is done; the sweep timer keeps ioc busy otherwise.
    while (done == 0 && ioc.run_one_for(5s) > 0) {
    }
    EXPECT_EQ(done, 1);
    std::thread closer([&] { pool->close(1s); });
    closer.join();
    ioc.run_for(100ms);
}

// Deadlines are the core's: a manual clock moved past one fails the waiter, no sleeping.
TEST(AsyncPool, TimesOut) {
    manual_clock::reset();
    runner r;
    auto b = std::make_shared<fake_backend>();
    manual_pool pool(r.ioc.get_executor(), fake_async_driver(b), params(1, 30s));
    auto held = pool.async_acquire(asio::use_future).get();
    auto waiting = std::async(std::launch::async, [&] { return get(pool); });
    ASSERT_TRUE(eventually([&] { return pool.stats().waiters == 1; }));
    manual_clock::advance(30s);
    pool.run_timers();
    auto [ec, l] = waiting.get();
    EXPECT_EQ(ec, errc::acquire_timeout);
    EXPECT_FALSE(l);
    EXPECT_EQ(pool.stats().timeouts_total, 1u);
    EXPECT_EQ(pool.stats().waiters, 0u);
    held.release();
    pool.close(1s);
}

TEST(AsyncPool, WaitersServedFifo) {
    runner r;
    auto b = std::make_shared<fake_backend>();
    pool_t pool(r.ioc.get_executor(), fake_async_driver(b), params(1));
    auto [e, held] = get(pool);
    std::vector<int> order;
    std::mutex m;
    for (int i = 0; i < 5; ++i) {
        pool.async_acquire(asio::bind_executor(r.ioc, [&, i](error_code ec, lease_t) {
            std::lock_guard lock(m);
            if (!ec) order.push_back(i);
        }));
        ASSERT_TRUE(
            eventually([&] { return pool.stats().waiters == static_cast<std::size_t>(i + 1); }));
    }
    held.release();
    ASSERT_TRUE(eventually([&] {
        std::lock_guard lock(m);
        return order.size() == 5;
    }));
    EXPECT_EQ(order, (std::vector<int>{0, 1, 2, 3, 4}));
    pool.close(1s);
}

TEST(AsyncPool, CancelledWaiterLeavesNothing) {
    runner r;
    auto b = std::make_shared<fake_backend>();
    pool_t pool(r.ioc.get_executor(), fake_async_driver(b), params(1, 10s));
    auto [e, held] = get(pool);
    asio::cancellation_signal sig;
    std::promise<error_code> got;
    asio::post(r.ioc, [&] {
        pool.async_acquire(asio::bind_cancellation_slot(
            sig.slot(), asio::bind_executor(r.ioc, [&](error_code ec, lease_t l) {
                got.set_value(l ? error_code{} : ec);
            })));
    });
    ASSERT_TRUE(eventually([&] { return pool.stats().waiters == 1; }));
    asio::post(r.ioc, [&] { sig.emit(asio::cancellation_type::terminal); });
    EXPECT_EQ(got.get_future().get(), asio::error::operation_aborted);
    auto st = pool.stats();
    EXPECT_EQ(st.waiters, 0u);
    EXPECT_EQ(st.in_use, 1u);
    held.release();
    EXPECT_EQ(pool.stats().in_use, 0u);
    EXPECT_EQ(pool.stats().idle, 1u);
    pool.close(1s);
    EXPECT_EQ(b->open.load(), 0);
}

TEST(AsyncPool, BrokenDiscardedAndPingFailureReplaced) {
    runner r;
    auto b = std::make_shared<fake_backend>();
    auto p = params(2);
    p.pool.health_check_interval = 0ms;
    pool_t pool(r.ioc.get_executor(), fake_async_driver(b), p);
    {
        auto [ec, l] = get(pool);
        l.mark_broken();
    }
    EXPECT_EQ(b->open.load(), 0);
    { auto [ec, l] = get(pool); }
    b->ping_fails = true;
    auto [ec, l] = get(pool);
    EXPECT_FALSE(ec);
    EXPECT_EQ(l->id, 3);  // the idle one failed its ping and was replaced
    EXPECT_EQ(b->open.load(), 1);
    l.release();
    pool.close(1s);
}

TEST(AsyncPool, ConnectRetriesAndBreakerTrial) {
    manual_clock::reset();
    runner r;
    auto b = std::make_shared<fake_backend>();
    b->fail_next = 2;
    auto p = params(1);
    p.retry = {3, 0ms, 0ms};
    p.breaker = {3, 60s};
    manual_pool pool(r.ioc.get_executor(), fake_async_driver(b), p);
    {
        auto [ec, l] = get(pool);
        EXPECT_FALSE(ec);  // two failures retried
        l.mark_broken();
    }
    b->fail_all = true;
    auto [ec, l] = get(pool);
    EXPECT_EQ(ec, errc::circuit_open);  // the 3rd consecutive failure opened it
    auto [ec2, l2] = get(pool);
    EXPECT_EQ(ec2, errc::circuit_open);  // at once
    EXPECT_EQ(pool.stats().breaker, connmgr::breaker_state::open);
    b->fail_all = false;
    manual_clock::advance(1ms);  // the first trial is due after retry.base_delay (at least 1ms)
    pool.run_timers();
    ASSERT_TRUE(eventually([&] { return pool.stats().breaker == connmgr::breaker_state::closed; }));
    auto [ec3, l3] = get(pool);
    EXPECT_FALSE(ec3);
    l3.release();
    pool.close(1s);
}

TEST(AsyncPool, DirtyReturnIsRestoredOrClosed) {
    runner r;
    auto b = std::make_shared<fake_backend>();
    pool_t pool(r.ioc.get_executor(), fake_async_driver(b), params(1));
    long id = 0;
    {
        auto [ec, l] = get(pool);
        ASSERT_FALSE(ec);
        id = l->id;
        l->dirty = true;  // e.g. a transaction left open
    }
    {
        auto [ec, l] = get(pool);
        ASSERT_FALSE(ec);
        EXPECT_EQ(l->id, id);  // restored, then reused
        EXPECT_FALSE(l->dirty);
        EXPECT_EQ(b->restores.load(), 1);
        l->dirty = true;
        b->restore_fails = true;
    }
    auto [ec, l] = get(pool);
    ASSERT_FALSE(ec);
    EXPECT_NE(l->id, id);  // could not be restored: closed and replaced
    EXPECT_EQ(b->closed.load(), 1);
    l.release();
    pool.close(1s);
}

TEST(AsyncPool, CloseWakesWaitersAndSummarizes) {
    runner r;
    auto b = std::make_shared<fake_backend>();
    pool_t pool(r.ioc.get_executor(), fake_async_driver(b), params(1, 10s));
    auto [e, held] = get(pool, {.timeout = {}, .holder = "graph-store"});
    auto f = std::async(std::launch::async, [&] { return get(pool).first; });
    ASSERT_TRUE(eventually([&] { return pool.stats().waiters == 1; }));
    auto s = pool.close(20ms);
    EXPECT_EQ(f.get(), errc::shutting_down);
    EXPECT_EQ(s.pools_closed, 1u);
    EXPECT_EQ(s.leases_outstanding, 1u);
    EXPECT_EQ(s.leases_by_store.at("graph-store"), 1u);
    EXPECT_EQ(pool.close(0ms), connmgr::close_summary{});
    auto [ec, l] = get(pool);
    EXPECT_EQ(ec, errc::shutting_down);
    held.release();
    EXPECT_EQ(b->open.load(), 0);
}

TEST(AsyncPool, MinIdleFilledInBackground) {
    runner r;
    auto b = std::make_shared<fake_backend>();
    auto p = params(4);
    p.pool.min_idle = 3;
    pool_t pool(r.ioc.get_executor(), fake_async_driver(b), p);
    { auto [ec, l] = get(pool); }
    ASSERT_TRUE(eventually([&] { return pool.stats().idle == 3; }));
    EXPECT_EQ(b->created.load(), 3);
    pool.close(1s);
    EXPECT_EQ(b->open.load(), 0);
}

TEST(DatabasePools, LazyPairCreatedOnceAndRecreatedAfterClose) {
    runner r;
    connmgr::database_config cfg;
    cfg.name = "dbpools-test";
    cfg.sync_pool.max_size = 2;
    cfg.async_pool.max_size = 3;
    connmgr::detail::database_pools<fake_sync_driver, fake_async_driver> pools(
        cfg, r.ioc.get_executor(), "dbpools-test");
    EXPECT_FALSE(pools.has_sync());
    EXPECT_FALSE(pools.has_async());
    std::vector<std::shared_ptr<connmgr::sync_pool<fake_sync_driver>>> got(8);
    {
        std::vector<std::thread> ts;
        for (auto& g : got) ts.emplace_back([&g, &pools] { g = pools.sync(); });
        for (auto& t : ts) t.join();
    }
    for (auto& g : got) EXPECT_EQ(g, got[0]);
    EXPECT_TRUE(pools.has_sync());
    EXPECT_FALSE(pools.has_async());
    { auto l = pools.sync()->acquire(); }
    {
        auto f = pools.async()->async_acquire(asio::use_future);
        EXPECT_TRUE(f.get());
    }
    auto st = pools.stats();
    ASSERT_EQ(st.size(), 2u);
    EXPECT_EQ(st[0].max_size, 2u);
    EXPECT_EQ(st[1].max_size, 3u);
    EXPECT_EQ(st[1].flavour, connmgr::flavour::async);
    auto s = pools.close(1s);
    EXPECT_EQ(s.pools_closed, 2u);
    EXPECT_EQ(s.connections_closed, 2u);
    EXPECT_FALSE(pools.has_sync());
    EXPECT_NE(pools.sync(), got[0]);
    EXPECT_EQ(fake_backend::named("dbpools-test/sync")->open.load(), 0);
    EXPECT_EQ(fake_backend::named("dbpools-test/async")->open.load(), 0);
    pools.close(0ms);
}

}  // namespace
