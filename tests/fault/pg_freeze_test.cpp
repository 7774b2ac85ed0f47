// PostgreSQL frozen (SIGSTOP on the postmaster and every backend) for 4 s under 8 clients,
// sync and async, directly and through PgBouncer, with query_timeout 1s: every request on an
// open connection fails as timed out within 2 s (the client's own deadline: the kernel keeps
// ACKing), and requests succeed again after SIGCONT.
#include <gtest/gtest.h>

#include "../integration/pg_test_env.hpp"
#include "freeze.hpp"

#include <connmgr/config.hpp>
#include <connmgr/error.hpp>
#include <connmgr/pg/pg_client.hpp>
#include <connmgr/url.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>

#include <pqxx/pqxx>

#include <atomic>
#include <future>
#include <mutex>
#include <thread>
#include <vector>

namespace connmgr::pg::test {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using clock = std::chrono::steady_clock;
using connmgr::test::request_record;

constexpr int clients = 8;
constexpr auto freeze_for = 4s;

struct freeze_case {
    target server;
    bool async;
};

void PrintTo(const freeze_case& c, std::ostream* os) {
    *os << c.server.label << (c.async ? " async" : " sync");
}

std::string print_case(const testing::TestParamInfo<freeze_case>& info) {
    return info.param.server.label + (info.param.async ? "_async" : "_sync");
}

const freeze_case cases[] = {
    {targets[0], false}, {targets[0], true}, {targets[1], false}, {targets[1], true}};

class PgFreeze : public testing::TestWithParam<freeze_case> {
protected:
    void SetUp() override {
        auto url = env(GetParam().server.env);
        if (!url) GTEST_SKIP() << GetParam().server.env << " is not set";
        if (!connmgr::test::services_run_dir()) GTEST_SKIP() << "CONNMGR_SERVICES is not set";
        database_config db;
        db.name = unique_name("freeze");
        db.url = db_url::parse(*url);
        pool_options o;
        o.max_size = clients;
        o.query_timeout = 1s;
        o.connect_timeout = 1s;
        o.acquire_timeout = 2s;
        db.sync_pool = o;
        db.async_pool = o;
        db.retry = {.attempts = 1, .base_delay = 100ms, .max_delay = 200ms};
        // The breaker's recovery (trial connects while open) is the pool core's; here the
        // drivers' side is under test.
        db.circuit_breaker = {.failure_threshold = 0};
        db.pgbouncer = GetParam().server.pgbouncer;
        io_ = std::thread([this] { ioc_.run(); });
        pools_ = std::make_shared<pg_client::pools_type>(db, ioc_.get_executor(), db.name);
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

    // One request as a sync client makes it; only the query phase is recorded.
    void sync_request() {
        auto pool = pools_->sync();
        lease<sync_driver> l;
        try {
            l = pool->acquire();
        } catch (const std::exception&) {
            return;  // no connection: nothing was sent
        }
        request_record r{clock::now(), {}, "ok"};
        try {
            pqxx::nontransaction tx{*l};
            tx.exec("SELECT 1");
        } catch (const pqxx::sql_error& e) {
            r.outcome = e.sqlstate() == "57014" ? "cancelled" : "sql " + e.sqlstate();
        } catch (const pqxx::broken_connection&) {
            r.outcome = "closed";  // the watchdog shut the socket down
            l.mark_broken();
        } catch (const std::exception& e) {
            r.outcome = e.what();
            l.mark_broken();
        }
        r.end = clock::now();
        record(std::move(r));
    }

    asio::awaitable<void> async_client(const std::atomic<bool>& stop) {
        auto pool = pools_->async();
        const auto tok = asio::as_tuple(asio::use_awaitable);
        while (!stop) {
            auto [aec, l] = co_await pool->async_acquire(tok);
            if (aec) {
                asio::steady_timer pause(co_await asio::this_coro::executor, 50ms);
                co_await pause.async_wait(tok);
                continue;
            }
            request_record r{clock::now(), {}, "ok"};
            auto [ec, res] = co_await l->async_query("SELECT 1")(tok);
            r.end = clock::now();
            if (ec == errc::query_timeout) {
                r.outcome = "query_timeout";
            } else if (ec) {
                r.outcome = ec.message() + ": " + res.error_message();
            }
            record(std::move(r));
        }
    }

    asio::io_context ioc_{1};
    asio::executor_work_guard<asio::io_context::executor_type> work_{ioc_.get_executor()};
    std::thread io_;
    std::shared_ptr<pg_client::pools_type> pools_;
    std::mutex mutex_;
    std::vector<request_record> records_;
};

TEST_P(PgFreeze, EveryRequestTimesOutInTimeAndThePoolServesAfterTheThaw) {
    std::atomic<bool> stop{false};
    std::vector<std::thread> threads;
    std::vector<std::future<void>> coroutines;
    for (int i = 0; i < clients; ++i) {
        if (GetParam().async) {
            coroutines.push_back(asio::co_spawn(ioc_, async_client(stop), asio::use_future));
        } else {
            threads.emplace_back([&] {
                while (!stop) sync_request();
            });
        }
    }
    std::this_thread::sleep_for(1s);  // load running on open connections
    auto ice = connmgr::test::freeze_postgres();
    const auto frozen_at = clock::now();  // every backend stopped (listing them takes a while)
    ASSERT_FALSE(ice.empty()) << "could not stop this checkout's PostgreSQL";
    std::this_thread::sleep_for(freeze_for);
    const auto thawed_at = clock::now();
    ice.thaw();
    std::this_thread::sleep_for(6s);
    stop = true;
    for (auto& t : threads) t.join();
    for (auto& c : coroutines) c.get();
    std::lock_guard lock(mutex_);
    const std::vector<std::string> timed_out =
        GetParam().async ? std::vector<std::string>{"query_timeout"}
                         : std::vector<std::string>{"cancelled", "closed"};
    connmgr::test::expect_timeouts_then_recovery(records_, frozen_at, thawed_at, 2s, timed_out);
}

INSTANTIATE_TEST_SUITE_P(Servers, PgFreeze, testing::ValuesIn(cases), print_case);

}  // namespace
}  // namespace connmgr::pg::test
