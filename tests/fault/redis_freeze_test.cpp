// Redis frozen (SIGSTOP) for 4 s under 8 clients, sync and async, with query_timeout 1s: every
// request on an open connection fails with query_timeout within 2 s (the kernel keeps ACKing,
// so only the client's deadline notices), and requests succeed again after SIGCONT.
#include "../integration/redis_test_env.hpp"
#include "freeze.hpp"

#include <connmgr/error.hpp>
#include <connmgr/redis/redis_client.hpp>
#include <connmgr/url.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>

#include <gtest/gtest.h>

#include <unistd.h>
#include <atomic>
#include <future>
#include <mutex>
#include <thread>

namespace asio = boost::asio;
using connmgr::errc;
using connmgr::redis_client;
using connmgr::test::request_record;
using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

namespace {

constexpr int clients = 8;

class RedisFreeze : public testing::TestWithParam<bool> {
protected:
    void SetUp() override {
        auto url = redis_test::env("CONNMGR_TEST_REDIS_URL");
        if (!url) GTEST_SKIP() << "CONNMGR_TEST_REDIS_URL is not set";
        if (!connmgr::test::services_run_dir()) GTEST_SKIP() << "CONNMGR_SERVICES is not set";
        connmgr::database_config db;
        db.name = "freeze-" + std::to_string(::getpid());
        db.url = connmgr::db_url::parse(*url);
        for (auto* p : {&db.sync_pool, &db.async_pool}) {
            p->max_size = clients;
            p->query_timeout = 1s;
            p->connect_timeout = 1s;
            p->acquire_timeout = 2s;
        }
        db.retry = {.attempts = 1, .base_delay = 100ms, .max_delay = 200ms};
        db.circuit_breaker.failure_threshold = 0;  // the breaker's recovery is the pool core's
        io_ = std::thread([this] { io_context_.run(); });
        pools_ =
            std::make_shared<redis_client::pools_type>(db, io_context_.get_executor(), db.name);
    }

    void TearDown() override {
        if (pools_) pools_->close(5s);
        work_.reset();
        if (io_.joinable()) io_.join();
    }

    void record(request_record r) {
        std::lock_guard lock(mutex_);
        records_.push_back(std::move(r));
    }

    void sync_request() {
        redis_client::sync_lease l;
        try {
            l = pools_->sync()->acquire();
        } catch (const std::exception&) {
            return;  // no connection: nothing was sent
        }
        request_record r{clock_type::now(), {}, "ok"};
        try {
            l->command({"PING"});
        } catch (const connmgr::error& e) {
            r.outcome = e.code() == errc::query_timeout ? "query_timeout" : e.what();
            l.mark_broken();
        }
        r.end = clock_type::now();
        record(std::move(r));
    }

    asio::awaitable<void> async_client(const std::atomic<bool>& stop) {
        const auto tok = asio::as_tuple(asio::use_awaitable);
        const connmgr::redis::request ping{"PING"};
        while (!stop) {
            auto [aec, l] = co_await pools_->async()->async_acquire(tok);
            if (aec) {
                asio::steady_timer pause(co_await asio::this_coro::executor, 50ms);
                co_await pause.async_wait(tok);
                continue;
            }
            request_record r{clock_type::now(), {}, "ok"};
            auto [ec, reply] = co_await l->async_command(ping, tok);
            r.end = clock_type::now();
            if (ec) r.outcome = ec == errc::query_timeout ? "query_timeout" : ec.message();
            record(std::move(r));
        }
    }

    asio::io_context io_context_{1};
    asio::executor_work_guard<asio::io_context::executor_type> work_{io_context_.get_executor()};
    std::thread io_;
    std::shared_ptr<redis_client::pools_type> pools_;
    std::mutex mutex_;
    std::vector<request_record> records_;
};

TEST_P(RedisFreeze, EveryRequestTimesOutInTimeAndThePoolServesAfterTheThaw) {
    const bool async = GetParam();
    std::atomic<bool> stop{false};
    std::vector<std::thread> threads;
    std::vector<std::future<void>> coroutines;
    for (int i = 0; i < clients; ++i) {
        if (async) {
            coroutines.push_back(asio::co_spawn(io_context_, async_client(stop), asio::use_future));
        } else {
            threads.emplace_back([&] {
                while (!stop) sync_request();
            });
        }
    }
    std::this_thread::sleep_for(1s);  // load running on open connections
    auto ice = connmgr::test::freeze_redis();
    const auto frozen_at = clock_type::now();
    ASSERT_FALSE(ice.empty()) << "could not stop this checkout's Redis";
    std::this_thread::sleep_for(4s);
    const auto thawed_at = clock_type::now();
    ice.thaw();
    std::this_thread::sleep_for(6s);
    stop = true;
    for (auto& t : threads) t.join();
    for (auto& c : coroutines) c.get();
    std::lock_guard lock(mutex_);
    connmgr::test::expect_timeouts_then_recovery(records_, frozen_at, thawed_at, 2s,
                                                 {"query_timeout"});
}

INSTANTIATE_TEST_SUITE_P(Flavours, RedisFreeze, testing::Values(false, true),
                         [](const testing::TestParamInfo<bool>& p) {
                             return p.param ? "async" : "sync";
                         });

}  // namespace
