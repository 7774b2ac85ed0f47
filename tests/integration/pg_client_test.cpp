// connmgr::pg_client over the generic pools against a real server, directly and through
// PgBouncer: the query suite, server-side truth from pg_stat_activity, dead connections.
#include <gtest/gtest.h>

#include "pg_client_fixture.hpp"

#include "../../lib/src/pg/sync_watchdog.hpp"

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
#include <cstdio>
#include <future>
#include <thread>
#include <vector>

namespace connmgr::pg::test {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using clock = std::chrono::steady_clock;
using boost::system::error_code;

constexpr std::size_t max_size = 8;
constexpr int clients = 64;
constexpr int requests_per_client = 25;

const std::string binary_blob{"a\0b\xff\x00z", 6};

class PgClient : public pg_client_fixture {
protected:
    PgClient() : pg_client_fixture("client") {
        options_.max_size = max_size;
        options_.acquire_timeout = 20s;
    }

    pg_client make_client() { return pg_client_fixture::make_client(options_); }

    pool_options options_;
};

TEST_P(PgClient, SyncQueryWithParameters) {
    auto db = make_client();
    auto conn = db.acquire();
    pqxx::work tx{*conn};
    pqxx::binarystring blob(binary_blob.data(), binary_blob.size());
    auto r =
        tx.exec_params("SELECT $1::text, $2::int + 1, $3::float8 * 2, $4::bytea, $5::text IS NULL",
                       std::string("héllo"), 41, 1.25, blob, nullptr);
    EXPECT_EQ(r[0][0].as<std::string>(), "héllo");
    EXPECT_EQ(r[0][1].as<int>(), 42);
    EXPECT_DOUBLE_EQ(r[0][2].as<double>(), 2.5);
    EXPECT_EQ(pqxx::binarystring(r[0][3]).str(), binary_blob);
    EXPECT_TRUE(r[0][4].as<bool>());
    tx.commit();
}

TEST_P(PgClient, AsyncQueryWithParameters) {
    auto db = make_client();
    auto task = [&]() -> asio::awaitable<result> {
        co_return co_await db.async_query(
            "SELECT $1::text, $2::int + 1, $3::float8 * 2, $4::bytea, $5::int", "héllo", 41, 1.25,
            bytea(binary_blob), std::nullopt);
    };
    auto r = co_run(task());
    EXPECT_EQ(r[0][0].as<std::string>(), "héllo");
    EXPECT_EQ(r[0][1].as<int>(), 42);
    EXPECT_DOUBLE_EQ(r[0][2].as<double>(), 2.5);
    EXPECT_EQ(r[0][3].as<bytea>().data, binary_blob);
    EXPECT_TRUE(r[0][4].is_null());
}

TEST_P(PgClient, AsyncLeaseRunsATransaction) {
    auto db = make_client();
    auto task = [&]() -> asio::awaitable<int> {
        auto lease = co_await db.async_acquire();
        co_await lease->async_query("BEGIN");
        co_await lease->async_query("CREATE TEMP TABLE t (v int) ON COMMIT DROP");
        co_await lease->async_query("INSERT INTO t VALUES ($1), ($2)", 20, 22);
        result r = co_await lease->async_query("SELECT sum(v)::int FROM t");
        co_await lease->async_query("COMMIT");
        co_return r.value().as<int>();
    };
    EXPECT_EQ(co_run(task()), 42);
}

TEST_P(PgClient, SqlErrorsCarrySqlstate) {
    auto db = make_client();
    auto task = [&]() -> asio::awaitable<std::tuple<error_code, result>> {
        co_return co_await db.async_query("SELECT * FROM connmgr_no_such_table")(
            asio::as_tuple(asio::use_awaitable));
    };
    auto [ec, r] = co_run(task());
    EXPECT_EQ(ec, errc::query_failed);
    EXPECT_EQ(r.sqlstate(), "42P01");
    try {
        auto conn = db.acquire();
        pqxx::work{*conn}.exec("SELECT * FROM connmgr_no_such_table");
        FAIL() << "no exception";
    } catch (const pqxx::sql_error& e) {
        EXPECT_EQ(e.sqlstate(), "42P01");
    }
}

TEST_P(PgClient, QueryTimeoutFailsInTimeAndConnectionStaysUsable) {
    options_.max_size = 1;  // the next request must reuse the same connection
    options_.query_timeout = 300ms;
    auto db = make_client();
    auto task = [&]() -> asio::awaitable<std::tuple<error_code, result>> {
        co_return co_await db.async_query("SELECT pg_sleep(5)")(
            asio::as_tuple(asio::use_awaitable));
    };
    auto start = clock::now();
    auto [ec, r] = co_run(task());
    auto took = clock::now() - start;
    EXPECT_EQ(ec, errc::query_timeout);
    EXPECT_EQ(r.sqlstate(), "57014");
    EXPECT_LT(took, 2s);
    auto again = [&]() -> asio::awaitable<int> {
        co_return (co_await db.async_query("SELECT 3")).value().as<int>();
    };
    EXPECT_EQ(co_run(again()), 3);
    EXPECT_EQ(pools_->async()->stats().created_total, 1u);

    if (GetParam().pgbouncer)
        return;  // sync: statement_timeout is a startup option (not via PgBouncer)
    auto conn = db.acquire();
    start = clock::now();
    EXPECT_THROW(pqxx::nontransaction{*conn}.exec("SELECT pg_sleep(5)"), pqxx::sql_error);
    EXPECT_LT(clock::now() - start, 2s);
    EXPECT_EQ(pqxx::nontransaction{*conn}.exec("SELECT 4")[0][0].as<int>(), 4);
}

// Directly the server's statement_timeout (set from query_timeout) fires first; through
// PgBouncer the client's watchdog cancels. Either way the sync request reports query_timeout,
// naming it and the redacted URL; a plain libpqxx call keeps libpqxx's own exception.
TEST_P(PgClient, SyncQueryTimeoutIsReportedAsQueryTimeout) {
    options_.max_size = 1;
    options_.query_timeout = 300ms;
    auto db = make_client();
    const auto start = clock::now();
    try {
        db.run([](pqxx::connection& c) { pqxx::nontransaction{c}.exec("SELECT pg_sleep(5)"); });
        ADD_FAILURE() << "no timeout";
    } catch (const connmgr::error& e) {
        EXPECT_EQ(e.code(), errc::query_timeout) << e.what();
        // Reported only once its cancel request is done: closing the connection (or sending
        // the next statement) while it is in flight killed PgBouncer 1.18 in the integration
        // runs ("bad client state"), and a late cancel would hit the next statement.
        EXPECT_EQ(pg::detail::sync_watchdog::instance().cancels_in_flight(), 0u);
        const std::string what = e.what();
        std::printf("sync query_timeout: %s\n", what.c_str());
        EXPECT_NE(what.find("query_timeout (300ms)"), std::string::npos) << what;
        EXPECT_NE(what.find(db_url::parse(url_).redacted()), std::string::npos) << what;
        const auto params = db_url::parse(url_).pg_params();
        for (const auto& [key, value] : params)
            if (key == "password") {
                EXPECT_EQ(what.find(value), std::string::npos) << "password in the message";
            }
    }
    EXPECT_LT(clock::now() - start, 2s);
    // The connection answered the cancel: it serves the next request, and a failure that is
    // not a timeout keeps libpqxx's type.
    EXPECT_EQ(db.run([](pqxx::connection& c) {
        return pqxx::nontransaction{c}.exec("SELECT 4")[0][0].as<int>();
    }),
              4);
    EXPECT_THROW(db.run([](pqxx::connection& c) { pqxx::nontransaction{c}.exec("SELECT 1/0"); }),
                 pqxx::sql_error);
    EXPECT_EQ(pools_->sync()->stats().created_total, 1u);
}

TEST_P(PgClient, AsyncPipeline) {
    auto db = make_client();
    std::vector<query> qs;
    for (int i = 0; i < 50; ++i) qs.push_back(query::with("SELECT $1::int", i));
    auto task = [&]() -> asio::awaitable<std::vector<result>> {
        co_return co_await db.async_pipeline(qs);
    };
    auto rs = co_run(task());
    ASSERT_EQ(rs.size(), 50u);
    EXPECT_EQ(rs[49].value().as<int>(), 49);
}

TEST_P(PgClient, SyncThreadsNeverExceedMaxSizeOnTheServer) {
    auto db = make_client();
    auto s = sampler();
    std::atomic<int> ok{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < clients; ++t)
        threads.emplace_back([&, t, db] {  // a copy per thread: clients are cheap to copy
            for (int i = 0; i < requests_per_client; ++i) {
                auto conn = db.acquire();
                pqxx::nontransaction tx{*conn};
                if (tx.exec_params("SELECT $1::int + $2::int, pg_sleep(0.001)", t, i)[0][0]
                        .as<int>() == t + i)
                    ++ok;
            }
        });
    for (auto& t : threads) t.join();
    s.stop();
    const long peak = s.peak();
    std::printf("peak server connections: %ld (max_size %zu)\n", peak, max_size);
    EXPECT_EQ(ok, clients * requests_per_client);
    pools_->close(5s);
    if (GetParam().pgbouncer) return;  // PgBouncer's server connections keep the last client's name
    EXPECT_GT(peak, 0);
    EXPECT_LE(peak, static_cast<long>(max_size));
    observer obs;
    EXPECT_EQ(obs.await_sessions(name_, 0), 0);
}

TEST_P(PgClient, AsyncCoroutinesNeverExceedMaxSizeOnTheServer) {
    auto db = make_client();
    auto s = sampler();
    std::atomic<int> ok{0};
    auto client = [&](int t) -> asio::awaitable<void> {
        for (int i = 0; i < requests_per_client; ++i) {
            result r = co_await db.async_query("SELECT $1::int + $2::int, pg_sleep(0.001)", t, i);
            if (r.value().as<int>() == t + i) ++ok;
        }
    };
    std::vector<std::future<void>> done;
    for (int t = 0; t < clients; ++t)
        done.push_back(asio::co_spawn(ioc_, client(t), asio::use_future));
    for (auto& f : done) f.get();
    s.stop();
    const long peak = s.peak();
    std::printf("peak server connections: %ld (max_size %zu)\n", peak, max_size);
    EXPECT_EQ(ok, clients * requests_per_client);
    pools_->close(5s);
    if (GetParam().pgbouncer) return;
    EXPECT_GT(peak, 0);
    EXPECT_LE(peak, static_cast<long>(max_size));
    observer obs;
    EXPECT_EQ(obs.await_sessions(name_, 0), 0);
}

TEST_P(PgClient, TerminatedIdleConnectionIsReplacedOnBorrow) {
    if (GetParam().pgbouncer) GTEST_SKIP() << "PgBouncer keeps the client connection";
    options_.max_size = 1;
    options_.health_check_interval = 0ms;  // validate on every borrow (see report)
    auto db = make_client();
    observer obs;
    auto sync_pid = [&] {
        return pqxx::nontransaction{*db.acquire()}.exec("SELECT pg_backend_pid()")[0][0].as<int>();
    };
    int pid = sync_pid();
    ASSERT_TRUE(obs.terminate(pid));
    ASSERT_EQ(obs.await_sessions(name_, 0), 0);
    int pid2 = sync_pid();
    EXPECT_NE(pid2, pid);

    auto async_pid = [&]() -> asio::awaitable<int> {
        co_return (co_await db.async_query("SELECT pg_backend_pid()")).value().as<int>();
    };
    pid = co_run(async_pid());
    ASSERT_TRUE(obs.terminate(pid));
    ASSERT_EQ(obs.await_sessions(name_, 1), 1);  // the sync pool's connection remains
    pid2 = co_run(async_pid());
    EXPECT_NE(pid2, pid);
}

INSTANTIATE_TEST_SUITE_P(Servers, PgClient, testing::ValuesIn(targets), print_target);

}  // namespace
}  // namespace connmgr::pg::test
