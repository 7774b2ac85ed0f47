// The PostgreSQL drivers against a real server, directly and through PgBouncer.
#include <gtest/gtest.h>

#include "pg_test_env.hpp"

#include <connmgr/config.hpp>
#include <connmgr/error.hpp>
#include <connmgr/pg/async_driver.hpp>
#include <connmgr/pg/sync_driver.hpp>
#include <connmgr/url.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>

#include <pqxx/pqxx>

#include <future>
#include <thread>

namespace connmgr::pg::test {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using clock = std::chrono::steady_clock;

const std::string binary_blob{"a\0b\xff\x00z", 6};

class PgDriver : public testing::TestWithParam<target> {
protected:
    void SetUp() override {
        auto url = env(GetParam().env);
        if (!url) GTEST_SKIP() << GetParam().env << " is not set";
        params_ = parse_params(*url);
        name_ = unique_name("driver");
    }

    sync_driver make_sync(pool_options o = {}) const {
        return {params_, name_, o, GetParam().pgbouncer};
    }
    async_driver make_async(pool_options o = {}) const {
        return {params_, name_, o, GetParam().pgbouncer};
    }

    std::unique_ptr<pqxx::connection> sync_connect(const sync_driver& d) const {
        auto out = d.connect(clock::now() + 5s);
        EXPECT_FALSE(out.error) << out.message;
        return std::move(out.connection);
    }

    conn_params params_;
    std::string name_;
};

/// An io_context on its own thread; async connections made on it.
class io_thread {
public:
    io_thread() : work_(asio::make_work_guard(ioc_)), thread_([this] { ioc_.run(); }) {}
    ~io_thread() {
        work_.reset();
        ioc_.stop();
        thread_.join();
    }
    asio::io_context& context() { return ioc_; }

    connect_outcome<async_connection> connect(const async_driver& d,
                                              std::chrono::milliseconds within = 5s) {
        std::promise<connect_outcome<async_connection>> p;
        d.async_connect(ioc_.get_executor(), clock::now() + within,
                        [&p](connect_outcome<async_connection> o) { p.set_value(std::move(o)); });
        return p.get_future().get();
    }

    std::unique_ptr<async_connection> must_connect(const async_driver& d) {
        auto o = connect(d);
        EXPECT_FALSE(o.error) << o.message;
        return std::move(o.connection);
    }

private:
    asio::io_context ioc_;
    asio::executor_work_guard<asio::io_context::executor_type> work_;
    std::thread thread_;
};

// Runs a deferred operation to completion from a test thread.
template <class T = result, class Op>
std::tuple<boost::system::error_code, T> run(Op op) {
    std::promise<std::tuple<boost::system::error_code, T>> p;
    std::move(op)([&p](boost::system::error_code ec, T r) { p.set_value({ec, std::move(r)}); });
    return p.get_future().get();
}

// ---- sync ----------------------------------------------------------------------------------

TEST_P(PgDriver, SyncQueriesWithParameters) {
    auto d = make_sync();
    auto c = sync_connect(d);
    ASSERT_TRUE(c);
    pqxx::nontransaction tx{*c};
    pqxx::binarystring blob(binary_blob.data(), binary_blob.size());
    auto r =
        tx.exec_params("SELECT $1::text, $2::int + 1, $3::float8 * 2, $4::bytea, $5::text IS NULL",
                       std::string("héllo 'x'"), 41, 1.25, blob, nullptr);
    ASSERT_EQ(r.size(), 1u);
    EXPECT_EQ(r[0][0].as<std::string>(), "héllo 'x'");
    EXPECT_EQ(r[0][1].as<int>(), 42);
    EXPECT_DOUBLE_EQ(r[0][2].as<double>(), 2.5);
    EXPECT_EQ(pqxx::binarystring(r[0][3]).str(), binary_blob);
    EXPECT_TRUE(r[0][4].as<bool>());
    EXPECT_FALSE(d.is_broken(*c));
    EXPECT_FALSE(d.ping(*c, clock::now() + 2s));
}

TEST_P(PgDriver, SyncSqlErrorCarriesSqlstate) {
    auto d = make_sync();
    auto c = sync_connect(d);
    ASSERT_TRUE(c);
    try {
        pqxx::work tx{*c};
        tx.exec("SELECT * FROM connmgr_no_such_table");
        FAIL() << "no exception";
    } catch (const pqxx::sql_error& e) {
        EXPECT_EQ(e.sqlstate(), "42P01");
    }
    EXPECT_TRUE(d.reset(*c));
    EXPECT_FALSE(d.is_broken(*c));
}

TEST_P(PgDriver, SyncApplicationNameIsConnmgrName) {
    auto d = make_sync();
    auto c = sync_connect(d);
    ASSERT_TRUE(c);
    pqxx::nontransaction tx{*c};
    EXPECT_EQ(tx.exec("SHOW application_name")[0][0].as<std::string>(), "connmgr:" + name_);
}

TEST_P(PgDriver, SyncUrlApplicationNameWins) {
    params_.emplace_back("application_name", "mine");
    auto d = make_sync();
    auto c = sync_connect(d);
    ASSERT_TRUE(c);
    pqxx::nontransaction tx{*c};
    EXPECT_EQ(tx.exec("SHOW application_name")[0][0].as<std::string>(), "mine");
}

TEST_P(PgDriver, BuiltFromDatabaseConfig) {
    database_config db{.name = name_,
                       .url = db_url::parse(*env(GetParam().env)),
                       .pgbouncer = GetParam().pgbouncer};
    sync_driver s(db, db.sync_pool);
    auto c = sync_connect(s);
    ASSERT_TRUE(c);
    EXPECT_EQ(pqxx::nontransaction{*c}.exec("SHOW application_name")[0][0].as<std::string>(),
              "connmgr:" + name_);
    io_thread io;
    async_driver a(db, db.async_pool);
    auto ac = io.must_connect(a);
    ASSERT_TRUE(ac);
    auto [ec, r] = run(ac->async_query("SELECT current_user"));
    ASSERT_FALSE(ec) << r.error_message();
    EXPECT_EQ(r.value().as<std::string>(), "connmgr");
}

// Directly the server's statement_timeout and the client's watchdog both apply; through
// PgBouncer only the watchdog's cancel does.
TEST_P(PgDriver, SyncQueryTimeoutFailsInTimeAndConnectionStaysUsable) {
    auto d = make_sync({.query_timeout = 300ms});
    auto c = sync_connect(d);
    ASSERT_TRUE(c);
    auto start = clock::now();
    try {
        pqxx::work tx{*c};
        tx.exec("SELECT pg_sleep(5)");
        FAIL() << "no timeout";
    } catch (const pqxx::sql_error& e) {
        EXPECT_EQ(e.sqlstate(), "57014");
    }
    auto took = clock::now() - start;
    EXPECT_GE(took, 250ms);
    EXPECT_LT(took, 2s);
    EXPECT_TRUE(d.reset(*c));
    pqxx::nontransaction tx{*c};
    EXPECT_EQ(tx.exec("SELECT 7")[0][0].as<int>(), 7);
}

TEST_P(PgDriver, SyncResetRollsBackAbandonedTransaction) {
    auto d = make_sync();
    auto c = sync_connect(d);
    ASSERT_TRUE(c);
    {
        pqxx::nontransaction tx{*c};
        tx.exec("BEGIN");
        EXPECT_THROW(tx.exec("SELECT 1/0"), pqxx::sql_error);  // transaction now failed
    }
    EXPECT_TRUE(d.reset(*c));
    pqxx::nontransaction tx{*c};
    EXPECT_EQ(tx.exec("SELECT 3")[0][0].as<int>(), 3);  // 25P02 if still in the failed transaction
}

TEST_P(PgDriver, SyncTerminatedBackendIsBroken) {
    if (GetParam().pgbouncer) GTEST_SKIP() << "PgBouncer keeps the client connection";
    auto d = make_sync();
    auto c = sync_connect(d);
    ASSERT_TRUE(c);
    int pid = 0;
    {
        pqxx::nontransaction tx{*c};
        pid = tx.exec("SELECT pg_backend_pid()")[0][0].as<int>();
    }
    observer obs;
    ASSERT_TRUE(obs.terminate(pid));
    ASSERT_EQ(obs.await_sessions(name_, 0), 0);
    // Wait for the server's goodbye to reach us, bounded.
    auto until = clock::now() + 5s;
    while (!d.is_broken(*c) && clock::now() < until) std::this_thread::sleep_for(10ms);
    EXPECT_TRUE(d.is_broken(*c));
    EXPECT_TRUE(d.ping(*c, clock::now() + 1s));
}

TEST_P(PgDriver, SyncWrongPasswordFailsWithoutPrintingIt) {
    for (auto& [k, v] : params_)
        if (k == "password") v = "wrong-secret-xyz";
    auto d = make_sync();
    auto out = d.connect(clock::now() + 5s);
    EXPECT_EQ(out.error, errc::connect_failed);
    EXPECT_FALSE(out.connection);
    EXPECT_EQ(out.message.find("wrong-secret-xyz"), std::string::npos) << out.message;
}

// ---- async ---------------------------------------------------------------------------------

TEST_P(PgDriver, AsyncQueriesWithParameters) {
    io_thread io;
    auto d = make_async();
    auto c = io.must_connect(d);
    ASSERT_TRUE(c);
    auto [ec, r] =
        run(c->async_query("SELECT $1::text AS t, $2::int + 1 AS i, $3::float8 * 2 AS f, "
                           "$4::bytea AS b, $5::text AS n, octet_length($4::bytea) AS len",
                           "héllo 'x'", 41, 1.25, bytea(binary_blob), std::nullopt));
    ASSERT_FALSE(ec) << ec.message() << " " << r.error_message();
    ASSERT_EQ(r.size(), 1u);
    ASSERT_EQ(r.columns(), 6u);
    EXPECT_EQ(r[0][0].as<std::string>(), "héllo 'x'");
    EXPECT_EQ(r[0]["i"].as<int>(), 42);
    EXPECT_DOUBLE_EQ(r[0]["f"].as<double>(), 2.5);
    EXPECT_EQ(r[0]["b"].as<bytea>().data, binary_blob);
    EXPECT_TRUE(r[0]["n"].is_null());
    EXPECT_FALSE(r[0]["t"].is_null());
    EXPECT_EQ(r[0]["len"].as<int>(), 6);
    EXPECT_EQ(r.column_name(1), "i");
    EXPECT_THROW((void)r[0]["nope"], std::out_of_range);
    EXPECT_THROW((void)r[0]["n"].as<int>(), std::logic_error);
    EXPECT_TRUE(c->is_idle());
    d.close(*c);
}

TEST_P(PgDriver, AsyncQueryInCoroutine) {
    io_thread io;
    auto d = make_async();
    auto c = io.must_connect(d);
    ASSERT_TRUE(c);
    auto task = [](async_connection& conn) -> asio::awaitable<int> {
        co_await conn.async_query("BEGIN");
        result r = co_await conn.async_query("SELECT $1::int + 1", 41);
        co_await conn.async_query("COMMIT");
        co_return r.value().as<int>();
    };
    auto f = asio::co_spawn(io.context(), task(*c), asio::use_future);
    EXPECT_EQ(f.get(), 42);
}

TEST_P(PgDriver, AsyncSqlErrorCarriesSqlstate) {
    io_thread io;
    auto d = make_async();
    auto c = io.must_connect(d);
    ASSERT_TRUE(c);
    auto [ec, r] = run(c->async_query("SELECT * FROM connmgr_no_such_table"));
    EXPECT_EQ(ec, errc::query_failed);
    EXPECT_EQ(r.sqlstate(), "42P01");
    EXPECT_FALSE(r.ok());
    EXPECT_NE(r.error_message().find("connmgr_no_such_table"), std::string::npos);
    try {
        r.check();
        FAIL() << "check() did not throw";
    } catch (const query_error& e) {
        EXPECT_EQ(e.server_code(), "42P01");
    }
    auto [ec2, r2] = run(c->async_query("SELECT 5"));
    EXPECT_FALSE(ec2);
    EXPECT_EQ(r2.value().as<int>(), 5);
    EXPECT_FALSE(d.is_broken(*c));
}

TEST_P(PgDriver, AsyncQueryTimeoutCancelsAndConnectionStaysUsable) {
    io_thread io;
    auto d = make_async({.query_timeout = 300ms});
    auto c = io.must_connect(d);
    ASSERT_TRUE(c);
    auto start = clock::now();
    auto [ec, r] = run(c->async_query("SELECT pg_sleep(5)"));
    auto took = clock::now() - start;
    EXPECT_EQ(ec, errc::query_timeout);
    EXPECT_EQ(r.sqlstate(), "57014");
    EXPECT_NE(r.error_message().find("query_timeout"), std::string::npos) << r.error_message();
    EXPECT_GE(took, 250ms);
    EXPECT_LT(took, 2s);
    auto [ec2, r2] = run(c->async_query("SELECT 9"));
    ASSERT_FALSE(ec2) << r2.error_message();
    EXPECT_EQ(r2.value().as<int>(), 9);
    EXPECT_TRUE(d.reset(*c));
}

TEST_P(PgDriver, AsyncPipelineReturnsOneResultPerStatement) {
    io_thread io;
    auto d = make_async();
    auto c = io.must_connect(d);
    ASSERT_TRUE(c);
    std::vector<query> qs;
    for (int i = 0; i < 200; ++i) qs.push_back(query::with("SELECT $1::int * 2", i));
    auto [ec, rs] = run<std::vector<result>>(c->async_pipeline(qs));
    ASSERT_FALSE(ec) << ec.message();
    ASSERT_EQ(rs.size(), 200u);
    for (int i = 0; i < 200; ++i)
        EXPECT_EQ(rs[static_cast<std::size_t>(i)].value().as<int>(), 2 * i);
    EXPECT_TRUE(c->is_idle());
}

TEST_P(PgDriver, AsyncLargePipelineDoesNotDeadlock) {
    io_thread io;
    auto d = make_async();
    auto c = io.must_connect(d);
    ASSERT_TRUE(c);
    // Enough output and input to fill both socket buffers.
    std::string pad(2000, 'x');
    std::vector<query> qs;
    for (int i = 0; i < 5000; ++i) qs.push_back(query::with("SELECT $1::text, $2::int", pad, i));
    auto [ec, rs] = run<std::vector<result>>(c->async_pipeline(qs));
    ASSERT_FALSE(ec) << ec.message();
    ASSERT_EQ(rs.size(), 5000u);
    EXPECT_EQ(rs.back()[0][1].as<int>(), 4999);
}

TEST_P(PgDriver, AsyncPipelineErrorAbortsTheRest) {
    io_thread io;
    auto d = make_async();
    auto c = io.must_connect(d);
    ASSERT_TRUE(c);
    auto [ec, rs] = run<std::vector<result>>(
        c->async_pipeline({"SELECT 1", "SELECT * FROM connmgr_no_such_table", "SELECT 3"}));
    EXPECT_EQ(ec, errc::query_failed);
    ASSERT_EQ(rs.size(), 3u);
    EXPECT_TRUE(rs[0].ok());
    EXPECT_EQ(rs[1].sqlstate(), "42P01");
    EXPECT_FALSE(rs[2].ok());
    auto [ec2, rs2] = run<std::vector<result>>(c->async_pipeline({"SELECT 4"}));
    ASSERT_FALSE(ec2);
    EXPECT_EQ(rs2[0].value().as<int>(), 4);
}

TEST_P(PgDriver, AsyncApplicationNameAndPing) {
    io_thread io;
    auto d = make_async();
    auto c = io.must_connect(d);
    ASSERT_TRUE(c);
    auto [ec, r] = run(c->async_query("SHOW application_name"));
    ASSERT_FALSE(ec);
    EXPECT_EQ(r.value().as<std::string>(), "connmgr:" + name_);
    std::promise<boost::system::error_code> p;
    d.async_ping(*c, clock::now() + 2s, [&p](boost::system::error_code e) { p.set_value(e); });
    EXPECT_FALSE(p.get_future().get());
}

TEST_P(PgDriver, AsyncTerminatedBackendIsBrokenAndFailsWithConnectionLost) {
    if (GetParam().pgbouncer) GTEST_SKIP() << "PgBouncer keeps the client connection";
    io_thread io;
    auto d = make_async();
    auto c = io.must_connect(d);
    auto c2 = io.must_connect(d);
    ASSERT_TRUE(c && c2);
    observer obs;
    ASSERT_TRUE(obs.terminate(c->backend_pid()));
    ASSERT_TRUE(obs.terminate(c2->backend_pid()));
    ASSERT_EQ(obs.await_sessions(name_, 0), 0);
    auto until = clock::now() + 5s;
    while (!d.is_broken(*c) && clock::now() < until) std::this_thread::sleep_for(10ms);
    EXPECT_TRUE(d.is_broken(*c));
    // Used without a check, the other one fails the request with connection_lost.
    auto [ec, r] = run(c2->async_query("SELECT 1"));
    EXPECT_EQ(ec, errc::connection_lost);
    EXPECT_TRUE(d.is_broken(*c2));
    EXPECT_FALSE(d.reset(*c2));
}

TEST_P(PgDriver, AsyncWrongPasswordFailsWithoutPrintingIt) {
    for (auto& [k, v] : params_)
        if (k == "password") v = "wrong-secret-xyz";
    io_thread io;
    auto d = make_async();
    auto out = io.connect(d);
    EXPECT_EQ(out.error, errc::connect_failed);
    EXPECT_FALSE(out.connection);
    EXPECT_EQ(out.message.find("wrong-secret-xyz"), std::string::npos) << out.message;
}

TEST_P(PgDriver, AsyncConnectCutShortByItsIoContextFreesEverything) {
    // A process exiting mid-connect destroys the io_context with the connect still waiting
    // on its socket: the connection and the pool's callback must go with it.
    auto d = make_async();
    auto sentinel = std::make_shared<int>(0);
    bool called = false;
    {
        asio::io_context ioc;
        d.async_connect(ioc.get_executor(), clock::now() + 5s,
                        [sentinel, &called](connect_outcome<async_connection>) { called = true; });
        ioc.poll();  // the connect starts and waits for the server
    }
    EXPECT_EQ(sentinel.use_count(), 1)
        << "the connect callback outlived its io_context" << (called ? " (it ran)" : "");
}

TEST_P(PgDriver, AsyncResetRefusesConnectionInsideTransaction) {
    io_thread io;
    auto d = make_async();
    auto c = io.must_connect(d);
    ASSERT_TRUE(c);
    auto [ec, r] = run(c->async_query("BEGIN"));
    ASSERT_FALSE(ec);
    EXPECT_FALSE(d.reset(*c));
    run(c->async_query("ROLLBACK"));
    EXPECT_TRUE(d.reset(*c));
}

INSTANTIATE_TEST_SUITE_P(Servers, PgDriver, testing::ValuesIn(targets), print_target);

}  // namespace
}  // namespace connmgr::pg::test
