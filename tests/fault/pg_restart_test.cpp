// PostgreSQL restarted under load: in-flight requests fail (connection_lost) and none hangs;
// afterwards every new request succeeds in the same process.
#include <gtest/gtest.h>

#include "../integration/pg_test_env.hpp"

#include <connmgr/config.hpp>
#include <connmgr/error.hpp>
#include <connmgr/pg/pg_client.hpp>
#include <connmgr/url.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>

#include <pqxx/pqxx>

#include <atomic>
#include <cstdlib>
#include <future>
#include <mutex>
#include <thread>
#include <vector>

namespace connmgr::pg::test {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using clock = std::chrono::steady_clock;

constexpr int workers = 16;

struct tally {
    std::atomic<int> ok{0};
    std::atomic<int> lost{0};         // connection_lost / broken_connection / 57P01
    std::atomic<int> unavailable{0};  // connect_failed, acquire_timeout while the server is down
    std::atomic<int> other{0};
    std::atomic<long long> slowest_ms{0};
    std::mutex m;
    std::string other_example;
    void took(clock::duration d) {
        long long ms = std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
        long long cur = slowest_ms.load();
        while (ms > cur && !slowest_ms.compare_exchange_weak(cur, ms)) {
        }
    }
    void odd(const std::string& what) {
        ++other;
        std::lock_guard l(m);
        other_example = what;
    }
};

class PgRestart : public testing::Test {
protected:
    void SetUp() override {
        auto url = env("CONNMGR_TEST_PG_URL");
        auto services = env("CONNMGR_SERVICES");
        if (!url || !services) GTEST_SKIP() << "CONNMGR_TEST_PG_URL / CONNMGR_SERVICES not set";
        url_ = *url;
        services_ = *services;
        name_ = unique_name("restart");
        options_.max_size = 8;
        options_.acquire_timeout = 5s;
        options_.connect_timeout = 3s;
    }

    std::shared_ptr<pg_client::pools_type> make_pools(boost::asio::any_io_executor ex) const {
        database_config db;
        db.name = name_;
        db.url = db_url::parse(url_);
        db.sync_pool = options_;
        db.async_pool = options_;
        db.retry = {.attempts = 3, .base_delay = 50ms, .max_delay = 500ms};
        db.circuit_breaker = {.failure_threshold = 0};
        return std::make_shared<pg_client::pools_type>(db, ex, name_);
    }

    void restart() {
        std::string cmd = "'" + services_ + "' restart postgres";
        ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
    }

    std::string url_;
    std::string services_;
    std::string name_;
    pool_options options_;
};

TEST_F(PgRestart, SyncPoolRecoversWithoutRestartingTheProcess) {
    asio::io_context ioc;
    auto pools = make_pools(ioc.get_executor());
    pg_client pool(pools);
    tally t;
    std::atomic<bool> stop{false};
    auto one = [&] {
        auto start = clock::now();
        try {
            auto conn = pool.acquire();
            pqxx::nontransaction tx{*conn};
            tx.exec("SELECT pg_sleep(0.005)");
            ++t.ok;
        } catch (const pqxx::broken_connection&) {
            ++t.lost;
        } catch (const pqxx::sql_error& e) {
            // 57P01 admin_shutdown arrives as the server's last words before it closes.
            if (std::string(e.sqlstate()).rfind("57P", 0) == 0 ||
                std::string(e.sqlstate()).rfind("08", 0) == 0)
                ++t.lost;
            else
                t.odd(e.what());
        } catch (const connect_error&) {
            ++t.unavailable;
        } catch (const timeout_error&) {
            ++t.unavailable;
        } catch (const std::exception& e) {
            t.odd(e.what());
        }
        t.took(clock::now() - start);
    };
    std::vector<std::thread> threads;
    for (int i = 0; i < workers; ++i)
        threads.emplace_back([&] {
            while (!stop) one();
        });
    while (t.ok < 200) std::this_thread::sleep_for(5ms);
    restart();
    int before = t.ok;
    // Recovered: requests complete again (bounded wait).
    auto until = clock::now() + 20s;
    while (t.ok < before + 200 && clock::now() < until) std::this_thread::sleep_for(10ms);
    stop = true;
    for (auto& th : threads) th.join();
    EXPECT_GE(t.ok, before + 200) << "no recovery";
    EXPECT_GT(t.lost, 0) << "in-flight requests should have failed";
    EXPECT_EQ(t.other, 0) << t.other_example;
    EXPECT_LT(t.slowest_ms, 10'000);
    // Afterwards every new request succeeds.
    tally after;
    threads.clear();
    stop = false;
    for (int i = 0; i < 4; ++i)
        threads.emplace_back([&] {
            for (int k = 0; k < 50; ++k) {
                auto conn = pool.acquire();
                pqxx::nontransaction{*conn}.exec("SELECT 1");
                ++after.ok;
            }
        });
    for (auto& th : threads) th.join();
    EXPECT_EQ(after.ok, 200);
    pools->close(5s);
    std::printf("sync: ok %d lost %d unavailable %d slowest %lld ms\n", t.ok.load(), t.lost.load(),
                t.unavailable.load(), t.slowest_ms.load());
}

TEST_F(PgRestart, AsyncPoolRecoversWithoutRestartingTheProcess) {
    asio::io_context ioc;
    auto work = asio::make_work_guard(ioc);
    std::thread io([&] { ioc.run(); });
    {
        auto pools = make_pools(ioc.get_executor());
        pg_client pool(pools);
        tally t;
        std::atomic<bool> stop{false};
        auto worker = [&]() -> asio::awaitable<void> {
            while (!stop) {
                auto start = clock::now();
                auto [aec, conn] = co_await pool.async_acquire(asio::as_tuple(asio::use_awaitable));
                if (aec) {
                    if (aec == errc::connect_failed || aec == errc::acquire_timeout)
                        ++t.unavailable;
                    else
                        t.odd(aec.message());
                } else {
                    auto [ec, r] = co_await conn->async_query("SELECT pg_sleep(0.005)")(
                        asio::as_tuple(asio::use_awaitable));
                    if (!ec)
                        ++t.ok;
                    else if (ec == errc::connection_lost)
                        ++t.lost;
                    else if (ec == errc::query_failed && r.sqlstate().rfind("57P", 0) == 0)
                        ++t.lost;  // the server's goodbye arrived as a result before the EOF
                    else
                        t.odd(ec.message() + " " + r.error_message());
                }
                t.took(clock::now() - start);
            }
        };
        std::vector<std::future<void>> done;
        for (int i = 0; i < workers; ++i)
            done.push_back(asio::co_spawn(ioc, worker(), asio::use_future));
        while (t.ok < 200) std::this_thread::sleep_for(5ms);
        restart();
        int before = t.ok;
        auto until = clock::now() + 20s;
        while (t.ok < before + 200 && clock::now() < until) std::this_thread::sleep_for(10ms);
        stop = true;
        for (auto& f : done)
            EXPECT_EQ(f.wait_for(15s), std::future_status::ready) << "a request hangs";
        EXPECT_GE(t.ok, before + 200) << "no recovery";
        EXPECT_GT(t.lost, 0) << "in-flight requests should have failed";
        EXPECT_EQ(t.other, 0) << t.other_example;
        EXPECT_LT(t.slowest_ms, 10'000);
        auto after = [&]() -> asio::awaitable<int> {
            int ok = 0;
            for (int k = 0; k < 200; ++k) {
                auto conn = co_await pool.async_acquire(asio::use_awaitable);
                result r = co_await conn->async_query("SELECT 1");
                ok += r.value().as<int>();
            }
            co_return ok;
        };
        EXPECT_EQ(asio::co_spawn(ioc, after(), asio::use_future).get(), 200);
        std::printf("async: ok %d lost %d unavailable %d slowest %lld ms\n", t.ok.load(),
                    t.lost.load(), t.unavailable.load(), t.slowest_ms.load());
        pools->close(5s);
    }
    work.reset();
    io.join();
}

}  // namespace
}  // namespace connmgr::pg::test
