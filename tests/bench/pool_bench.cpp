// Pool microbenchmarks (HikariCP's method): acquire+release cycles per second over a fake
// driver with instant connects. items_per_second is cycles per second over all threads.
//
//   cmake -S . -B build/release -G Ninja -DCMAKE_BUILD_TYPE=Release
//         -DCMAKE_CXX_COMPILER_LAUNCHER=ccache   (one line)
//   cmake --build build/release --target pool_bench && build/release/tests/pool_bench
#include <connmgr/async_pool.hpp>
#include <connmgr/sync_pool.hpp>

#include <benchmark/benchmark.h>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/io_context.hpp>

#include "fake_driver.hpp"

#include <map>
#include <memory>
#include <mutex>
#include <thread>

namespace {

namespace asio = boost::asio;
using connmgr::test::fake_async_driver;
using connmgr::test::fake_backend;
using connmgr::test::fake_sync_driver;
using namespace std::chrono_literals;

connmgr::pool_params params(std::size_t max) {
    connmgr::pool_params p;
    p.database = "bench";
    p.backend = "redis";
    p.pool.max_size = max;
    p.pool.min_idle = max;  // warm: every connection made before measuring
    p.pool.acquire_timeout = 30s;
    return p;
}

// One warm sync pool per size, shared by the benchmark's threads, alive until exit.
connmgr::sync_pool<fake_sync_driver>& sync_pool_of(std::size_t max) {
    static std::mutex m;
    static std::map<std::size_t, std::unique_ptr<connmgr::sync_pool<fake_sync_driver>>> pools;
    std::lock_guard lock(m);
    auto& p = pools[max];
    if (!p) {
        p = std::make_unique<connmgr::sync_pool<fake_sync_driver>>(
            fake_sync_driver(std::make_shared<fake_backend>()), params(max));
        { auto l = p->acquire(); }
        while (p->stats().idle < max) std::this_thread::sleep_for(1ms);
    }
    return *p;
}

void BM_SyncAcquireRelease(benchmark::State& state) {
    auto& pool = sync_pool_of(static_cast<std::size_t>(state.range(0)));
    for (auto _ : state) {
        auto l = pool.acquire();
        benchmark::DoNotOptimize(l.get());
    }
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_SyncAcquireRelease)->ArgName("conns")->Arg(1)->Threads(1)->UseRealTime();
BENCHMARK(BM_SyncAcquireRelease)->ArgName("conns")->Arg(32)->Threads(32)->UseRealTime();
BENCHMARK(BM_SyncAcquireRelease)->ArgName("conns")->Arg(16)->Threads(32)->UseRealTime();

// Async: the pool's executor runs on one background thread (connects, timers); each benchmark
// thread is a caller with its own io_context, where its completions are delivered.
struct async_fixture {
    asio::io_context pool_ioc;
    asio::executor_work_guard<asio::io_context::executor_type> work{pool_ioc.get_executor()};
    std::thread runner{[this] { pool_ioc.run(); }};
    std::unique_ptr<connmgr::async_pool<fake_async_driver>> pool;
    explicit async_fixture(std::size_t max)
        : pool(std::make_unique<connmgr::async_pool<fake_async_driver>>(
              pool_ioc.get_executor(), fake_async_driver(std::make_shared<fake_backend>()),
              params(max))) {
        pool->async_acquire([](boost::system::error_code, connmgr::lease<fake_async_driver>) {});
        while (pool->stats().idle < max) std::this_thread::sleep_for(1ms);
    }
};

async_fixture& async_pool_of(std::size_t max) {
    static std::mutex m;
    static std::map<std::size_t, async_fixture*> all;  // leaked on purpose: lives until exit
    std::lock_guard lock(m);
    auto& f = all[max];
    if (!f) f = new async_fixture(max);
    return *f;
}

void BM_AsyncAcquireRelease(benchmark::State& state) {
    auto& fx = async_pool_of(static_cast<std::size_t>(state.range(0)));
    asio::io_context caller;
    auto keep = asio::make_work_guard(caller);  // never stops, so no restart() races
    for (auto _ : state) {
        bool done = false;
        fx.pool->async_acquire(asio::bind_executor(
            caller, [&done](boost::system::error_code, connmgr::lease<fake_async_driver> l) {
                benchmark::DoNotOptimize(l.get());
                done = true;
            }));
        while (!done) caller.run_one();
    }
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_AsyncAcquireRelease)->ArgName("conns")->Arg(1)->Threads(1)->UseRealTime();
BENCHMARK(BM_AsyncAcquireRelease)->ArgName("conns")->Arg(32)->Threads(32)->UseRealTime();
BENCHMARK(BM_AsyncAcquireRelease)->ArgName("conns")->Arg(16)->Threads(32)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
