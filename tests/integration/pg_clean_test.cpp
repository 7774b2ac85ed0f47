// PostgreSQL connections stay clean and the I/O thread stays free (DESIGN §5): COPY through
// the async API fails at once instead of spinning, an async lease returned inside a transaction
// is rolled back and kept, directly and through PgBouncer.
#include <gtest/gtest.h>

#include "manager_support.hpp"
#include "pg_client_fixture.hpp"
#include "redis_test_env.hpp"

#include <connmgr/config.hpp>
#include <connmgr/error.hpp>
#include <connmgr/pg/async_driver.hpp>
#include <connmgr/pg/pg_client.hpp>
#include <connmgr/pg/sync_driver.hpp>
#include <connmgr/redis/async_driver.hpp>
#include <connmgr/url.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>

#include <pqxx/pqxx>

#include <atomic>
#include <cstdio>
#include <fstream>
#include <future>
#include <thread>

namespace connmgr::pg::test {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using clock = std::chrono::steady_clock;
using boost::system::error_code;

/// Long enough that only a hang reaches it.
constexpr auto hang_guard = 10s;

class PgClean : public pg_client_fixture {
protected:
    PgClean() : pg_client_fixture("clean") {}

    /// A client whose pools hold one connection, so the next borrower gets the same one.
    pg_client make_client(pool_options o = {}) {
        o.max_size = 1;
        o.acquire_timeout = 10s;
        return pg_client_fixture::make_client(o);
    }
};

TEST_P(PgClean, AsyncCopyToStdoutFailsAtOnceAndTheConnectionIsKept) {
    auto db = make_client();
    auto [ec, r] =
        run(db.async_query("COPY (SELECT g FROM generate_series(1, 50000) g) TO STDOUT"));
    EXPECT_EQ(ec, errc::query_failed);
    EXPECT_EQ(r.sqlstate(), "0A000");
    EXPECT_NE(r.error_message().find("COPY ... TO STDOUT is not supported"), std::string::npos)
        << r.error_message();
    auto [ec2, r2] = run(db.async_query("SELECT 11"));
    ASSERT_FALSE(ec2) << r2.error_message();
    EXPECT_EQ(r2.value().as<int>(), 11);
    EXPECT_EQ(pools_->async()->stats().created_total, 1u);
}

TEST_P(PgClean, AsyncCopyFromStdinFailsAtOnceAndTheConnectionIsKept) {
    auto db = make_client();
    auto [ec, r] = run(db.async_query("COPY (SELECT 1) TO STDOUT"));
    EXPECT_EQ(ec, errc::query_failed);
    // A real table, not a temporary one: through PgBouncer two statements outside a transaction
    // may run on two server connections, and a temporary table exists on one only (seen when
    // the suite runs in parallel). Its name is this test's own.
    const std::string table = "\"" + name_ + "_copy_in\"";
    auto [ec1, r1] = run(db.async_query("CREATE TABLE IF NOT EXISTS " + table + " (x int)"));
    ASSERT_FALSE(ec1) << r1.error_message();
    auto [ec2, r2] = run(db.async_query("COPY " + table + " FROM STDIN"));
    EXPECT_EQ(ec2, errc::query_failed);
    EXPECT_EQ(r2.sqlstate(), "0A000");
    EXPECT_NE(r2.error_message().find("COPY ... FROM STDIN is not supported"), std::string::npos)
        << r2.error_message();
    auto [ec3, r3] = run(db.async_query("SELECT 12"));
    ASSERT_FALSE(ec3) << r3.error_message();
    EXPECT_EQ(r3.value().as<int>(), 12);
    EXPECT_EQ(pools_->async()->stats().created_total, 1u);
    EXPECT_FALSE(std::get<0>(run(db.async_query("DROP TABLE " + table))));
}

TEST_P(PgClean, AsyncCopyInsideAPipelineFailsThatStatement) {
    auto db = make_client();
    auto [ec, rs] = run<std::vector<result>>(db.async_pipeline(
        {query{"SELECT 1"}, query{"COPY (SELECT 2) TO STDOUT"}, query{"SELECT 3"}}));
    EXPECT_EQ(ec, errc::query_failed);
    ASSERT_EQ(rs.size(), 3u);
    EXPECT_FALSE(rs[1].ok());
    EXPECT_NE(rs[1].error_message().find("COPY"), std::string::npos) << rs[1].error_message();
    auto [ec2, r2] = run(db.async_query("SELECT 13"));
    ASSERT_FALSE(ec2) << r2.error_message();
    EXPECT_EQ(r2.value().as<int>(), 13);
}

// The manager's I/O thread also serves every Redis pool: a COPY must not stall it.
TEST_P(PgClean, CopyDoesNotStallOtherWorkOnTheIoThread) {
    auto redis_ep = redis_test::endpoint("CONNMGR_TEST_REDIS_URL");
    if (!redis_ep) GTEST_SKIP() << "CONNMGR_TEST_REDIS_URL is not set";
    auto db = make_client();
    redis::async_driver rd(*redis_ep, name_, {});
    std::promise<connect_outcome<redis::async_connection>> connected;
    rd.async_connect(
        ioc_.get_executor(), clock::now() + 5s,
        [&](connect_outcome<redis::async_connection> o) { connected.set_value(std::move(o)); });
    auto rc = connected.get_future().get();
    ASSERT_TRUE(rc.connection) << rc.message;
    std::atomic<bool> stop{false};
    std::atomic<long long> worst_us{0};
    std::atomic<int> pings{0};
    const redis::request ping{"PING"};  // GCC 12: no braced list inside co_await
    auto pinger = asio::co_spawn(
        ioc_,
        [&]() -> asio::awaitable<void> {
            while (!stop) {
                const auto t0 = clock::now();
                co_await rc.connection->async_command(ping, asio::use_awaitable);
                const auto us =
                    std::chrono::duration_cast<std::chrono::microseconds>(clock::now() - t0)
                        .count();
                worst_us = std::max<long long>(worst_us, us);
                ++pings;
            }
        },
        asio::use_future);
    for (const char* sql : {"COPY (SELECT 1) TO STDOUT", "COPY (SELECT 2) TO STDOUT"}) {
        auto [ec, r] = run(db.async_query(sql));
        EXPECT_EQ(ec, errc::query_failed) << r.error_message();
    }
    auto [ec, r] = run(db.async_query("SELECT 14"));
    EXPECT_FALSE(ec) << r.error_message();
    stop = true;
    pinger.get();
    EXPECT_GT(pings.load(), 0);
    std::printf("redis PING worst latency during the COPY attempts: %lld us over %d pings\n",
                worst_us.load(), pings.load());
    EXPECT_LT(worst_us.load(), 1'000'000) << "the I/O thread stalled";
}

TEST_P(PgClean, AsyncLeaseReturnedInATransactionIsRolledBackAndKept) {
    auto db = make_client();
    int pid = 0;
    {
        auto [ec, l] = run<lease<async_driver>>(db.async_acquire());
        ASSERT_FALSE(ec) << ec.message();
        pid = l->backend_pid();
        auto [e1, r1] = run(l->async_query("BEGIN"));
        ASSERT_FALSE(e1) << r1.error_message();
        auto [e2, r2] = run(l->async_query("SELECT set_config('connmgr.mark', 'leaked', true)"));
        ASSERT_FALSE(e2) << r2.error_message();
    }  // returned with the transaction open
    auto [ec, l] = run<lease<async_driver>>(db.async_acquire());
    ASSERT_FALSE(ec) << ec.message();
    EXPECT_EQ(l->backend_pid(), pid) << "the connection was closed instead of rolled back";
    auto [e3, r3] =
        run(l->async_query("SELECT coalesce(current_setting('connmgr.mark', true), '')"));
    ASSERT_FALSE(e3) << r3.error_message();
    EXPECT_EQ(r3.value().as<std::string>(), "");
    auto [e4, r4] = run(l->async_query("SELECT 1/0"));
    EXPECT_EQ(e4, errc::query_failed);
}

TEST_P(PgClean, AsyncLeaseReturnedInAFailedTransactionIsRolledBack) {
    auto db = make_client();
    {
        auto [ec, l] = run<lease<async_driver>>(db.async_acquire());
        ASSERT_FALSE(ec) << ec.message();
        run(l->async_query("BEGIN"));
        auto [e2, r2] = run(l->async_query("SELECT 1/0"));
        EXPECT_EQ(e2, errc::query_failed);
    }
    auto [ec, r] = run(db.async_query("SELECT 15"));
    ASSERT_FALSE(ec) << r.error_message();
    EXPECT_EQ(r.value().as<int>(), 15);
    EXPECT_EQ(pools_->async()->stats().created_total, 1u);
}

TEST_P(PgClean, AsyncLeaseReturnedMidRequestIsNeverHandedOut) {
    auto db = make_client();
    std::promise<error_code> abandoned;
    {
        auto [ec, l] = run<lease<async_driver>>(db.async_acquire());
        ASSERT_FALSE(ec) << ec.message();
        l->async_query("SELECT pg_sleep(0.3), 'abandoned'")(
            [&](error_code e, result) { abandoned.set_value(e); });
    }  // returned with its request in flight
    auto [ec, r] = run(db.async_query("SELECT 'mine'"));
    ASSERT_FALSE(ec) << r.error_message();
    EXPECT_EQ(r.value().as<std::string>(), "mine");
    auto f = abandoned.get_future();
    ASSERT_EQ(f.wait_for(hang_guard), std::future_status::ready);
    const auto e = f.get();
    EXPECT_TRUE(!e || e == errc::connection_lost) << e.message();
}

TEST_P(PgClean, ResetQueryRunsOnEveryReturn) {
    if (GetParam().pgbouncer) GTEST_SKIP() << "reset_query is refused in pgbouncer mode";
    auto db = make_client({.reset_query = "DISCARD ALL"});
    const std::string mark = "SELECT coalesce(current_setting('connmgr.mark', true), '')";
    int pid = 0;
    {
        auto l = db.acquire();  // sync
        pqxx::nontransaction tx{*l};
        pid = tx.exec("SELECT pg_backend_pid()")[0][0].as<int>();
        tx.exec("SET connmgr.mark = 'sync-session'");
    }
    {
        auto l = db.acquire();
        pqxx::nontransaction tx{*l};
        EXPECT_EQ(tx.exec("SELECT pg_backend_pid()")[0][0].as<int>(), pid);
        EXPECT_EQ(tx.exec(mark)[0][0].as<std::string>(), "");
    }
    {
        auto [ec, l] = run<lease<async_driver>>(db.async_acquire());
        ASSERT_FALSE(ec) << ec.message();
        pid = l->backend_pid();
        auto [e1, r1] = run(l->async_query("SET connmgr.mark = 'async-session'"));
        ASSERT_FALSE(e1) << r1.error_message();
    }
    auto [ec, l] = run<lease<async_driver>>(db.async_acquire());
    ASSERT_FALSE(ec) << ec.message();
    EXPECT_EQ(l->backend_pid(), pid);
    auto [e2, r2] = run(l->async_query(mark));
    ASSERT_FALSE(e2) << r2.error_message();
    EXPECT_EQ(r2.value().as<std::string>(), "");
}

// ---- the descriptor of a dead connection ------------------------------------------------------

std::unique_ptr<async_connection> connect_on(asio::io_context& ioc, const async_driver& d) {
    std::promise<connect_outcome<async_connection>> p;
    d.async_connect(ioc.get_executor(), clock::now() + 5s,
                    [&](connect_outcome<async_connection> o) { p.set_value(std::move(o)); });
    auto o = p.get_future().get();
    EXPECT_TRUE(o.connection) << o.message;
    return std::move(o.connection);
}

// libpq closes its socket when it reads the server's goodbye; the next connection then gets
// that descriptor number. Releasing the dead connection afterwards must not take the new
// connection's reactor registration with it.
TEST_P(PgClean, ReleasingADeadConnectionLeavesTheOneReusingItsDescriptorWorking) {
    if (GetParam().pgbouncer) GTEST_SKIP() << "terminates a backend: direct only";
    async_driver d(parse_params(url_), name_, {}, false);
    auto dead = connect_on(ioc_, d);
    ASSERT_TRUE(dead);
    observer obs;
    ASSERT_TRUE(obs.terminate(dead->backend_pid()));
    // Reading the goodbye makes libpq close its descriptor (the lease is still held).
    ASSERT_TRUE(connmgr::test::eventually([&] { return d.is_broken(*dead); }));
    std::vector<std::unique_ptr<async_connection>> fresh;
    for (int i = 0; i < 3; ++i) {  // one of them gets the freed number
        fresh.push_back(connect_on(ioc_, d));
        ASSERT_TRUE(fresh.back());
    }
    d.close(*dead);  // the pool's close of a returned broken connection
    dead.reset();
    for (auto& c : fresh) {
        for (int q = 0; q < 3; ++q) {
            auto [ec, r] = run(c->async_query("SELECT $1::int", q));
            ASSERT_FALSE(ec) << r.error_message();
            EXPECT_EQ(r.value().as<int>(), q);
        }
        d.close(*c);
    }
}

// ---- connect errors -------------------------------------------------------------------------

constexpr const char* wrong_secret = "wrong-Pa55word-xyz";

conn_params with(conn_params params, const std::string& key, const std::string& value) {
    for (auto& [k, v] : params)
        if (k == key) {
            v = value;
            return params;
        }
    params.emplace_back(key, value);
    return params;
}

struct connect_answer {
    bool connected{false};
    std::string message;
    connect_failure failure{connect_failure::transient};
};

/// The sync and the async driver's answers for the same parameters.
std::vector<connect_answer> connect_both(const conn_params& params, const std::string& name,
                                         bool pgbouncer, asio::io_context& ioc) {
    std::vector<connect_answer> out;
    const pool_options o{.connect_timeout = 3s};
    sync_driver sd(params, name, o, pgbouncer);
    auto s = sd.connect(clock::now() + 3s);
    out.push_back({s.connection != nullptr, s.message, s.failure});
    async_driver ad(params, name, o, pgbouncer);
    std::promise<connect_answer> p;
    ad.async_connect(ioc.get_executor(), clock::now() + 3s,
                     [&](connect_outcome<async_connection> a) {
                         p.set_value({a.connection != nullptr, a.message, a.failure});
                     });
    out.push_back(p.get_future().get());
    return out;
}

TEST_P(PgClean, WrongPasswordIsPermanentWithTheServersWords) {
    auto params = with(parse_params(url_), "password", wrong_secret);
    for (const auto& a : connect_both(params, name_, GetParam().pgbouncer, ioc_)) {
        EXPECT_FALSE(a.connected);
        EXPECT_EQ(a.failure, connect_failure::permanent) << a.message;
        // PostgreSQL: "password authentication failed"; PgBouncer: "SASL authentication failed".
        EXPECT_NE(a.message.find("authentication failed"), std::string::npos) << a.message;
        EXPECT_EQ(a.message.find(wrong_secret), std::string::npos) << a.message;
    }
}

TEST_P(PgClean, UnknownDatabaseIsPermanentWithTheServersWords) {
    auto params = with(parse_params(url_), "dbname", "connmgr_no_such_db");
    for (const auto& a : connect_both(params, name_, GetParam().pgbouncer, ioc_)) {
        EXPECT_FALSE(a.connected);
        EXPECT_EQ(a.failure, connect_failure::permanent) << a.message;
        EXPECT_NE(a.message.find("connmgr_no_such_db"), std::string::npos) << a.message;
    }
}

TEST_P(PgClean, UnknownRoleIsPermanent) {
    auto params = with(parse_params(url_), "user", "connmgr_no_such_role");
    for (const auto& a : connect_both(params, name_, GetParam().pgbouncer, ioc_)) {
        EXPECT_FALSE(a.connected);
        EXPECT_EQ(a.failure, connect_failure::permanent) << a.message;
        EXPECT_EQ(a.message.find("connmgr-secret"), std::string::npos) << a.message;
    }
}

TEST_P(PgClean, RefusedConnectionIsTransient) {
    auto params = with(parse_params(url_), "port", "1");
    for (const auto& a : connect_both(params, name_, GetParam().pgbouncer, ioc_)) {
        EXPECT_FALSE(a.connected);
        EXPECT_EQ(a.failure, connect_failure::transient) << a.message;
    }
}

// `connmgr check` prints what the driver's connect said: the server's own words.
TEST_P(PgClean, CheckCommandShowsTheServersWordsAndNoPassword) {
#ifndef CONNMGR_CLI_PATH
    GTEST_SKIP() << "built without the CLI";
#else
    if (GetParam().pgbouncer) GTEST_SKIP() << "one run is enough";
    const auto at = url_.find('@');
    const auto colon = url_.rfind(':', at);
    ASSERT_NE(at, std::string::npos);
    const std::string bad_password = url_.substr(0, colon + 1) + wrong_secret + url_.substr(at);
    const std::string no_db = url_.substr(0, url_.rfind('/')) + "/connmgr_no_such_db";
    std::string yaml =
        "databases:\n  badpw: {url: \"" + bad_password + "\"}\n  nodb: {url: \"" + no_db + "\"}\n";
    if (auto redis = env("CONNMGR_TEST_REDIS_AUTH_URL")) {
        const auto rat = redis->find('@');
        yaml += "  badacl: {url: \"redis://nobody-" + std::to_string(::getpid()) + ":" +
                wrong_secret + redis->substr(rat) + "\"}\n";
    }
    const std::string file = "/tmp/connmgr-check-" + name_ + ".yaml";
    {
        std::ofstream out(file);
        out << yaml;
    }
    std::string output;
    if (FILE* p = ::popen(
            (std::string(CONNMGR_CLI_PATH) + " --config " + file + " check 2>&1").c_str(), "r")) {
        char buf[4096];
        std::size_t n = 0;
        while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) output.append(buf, n);
        ::pclose(p);
    }
    std::remove(file.c_str());
    EXPECT_NE(output.find("password authentication failed"), std::string::npos) << output;
    EXPECT_NE(output.find("database \"connmgr_no_such_db\" does not exist"), std::string::npos)
        << output;
    if (env("CONNMGR_TEST_REDIS_AUTH_URL")) {
        EXPECT_NE(output.find("WRONGPASS"), std::string::npos) << output;
    }
    EXPECT_EQ(output.find(wrong_secret), std::string::npos) << output;
    EXPECT_EQ(output.find("connmgr-secret"), std::string::npos) << output;
#endif
}

// ---- host names ---------------------------------------------------------------------------

TEST_P(PgClean, AsyncConnectResolvesHostNamesItself) {
    // "localhost" may resolve to ::1 first while the server listens on 127.0.0.1 only: every
    // address is tried, as libpq does with a name.
    async_driver d(with(parse_params(url_), "host", "localhost"), name_, {}, GetParam().pgbouncer);
    auto c = connect_on(ioc_, d);
    ASSERT_TRUE(c);
    auto [ec, r] = run(c->async_query("SELECT 16"));
    ASSERT_FALSE(ec) << r.error_message();
    EXPECT_EQ(r.value().as<int>(), 16);
    d.close(*c);
}

TEST_P(PgClean, AsyncConnectToAnUnknownHostNameSaysWhich) {
    async_driver d(with(parse_params(url_), "host", "connmgr-no-such-host.invalid"), name_, {},
                   GetParam().pgbouncer);
    std::promise<connect_outcome<async_connection>> p;
    d.async_connect(ioc_.get_executor(), clock::now() + 5s,
                    [&](connect_outcome<async_connection> o) { p.set_value(std::move(o)); });
    auto o = p.get_future().get();
    EXPECT_FALSE(o.connection);
    EXPECT_EQ(o.error, errc::connect_failed);
    EXPECT_NE(o.message.find("connmgr-no-such-host.invalid"), std::string::npos) << o.message;
}

INSTANTIATE_TEST_SUITE_P(Servers, PgClean, testing::ValuesIn(targets), print_target);

}  // namespace
}  // namespace connmgr::pg::test
