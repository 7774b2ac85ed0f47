// The async PostgreSQL statement cache (pool.statement_cache) against the real servers, directly
// and through PgBouncer: statements are prepared once per connection and run by name, the cache
// is bounded, invalidated statements are prepared again, and it is off where it must be.
#include <gtest/gtest.h>

#include "pg_client_fixture.hpp"

#include <connmgr/config.hpp>
#include <connmgr/error.hpp>
#include <connmgr/pg/async_driver.hpp>
#include <connmgr/pg/pg_client.hpp>
#include <connmgr/url.hpp>

#include <algorithm>
#include <optional>
#include <stdexcept>

namespace connmgr::pg::test {
namespace {

using namespace std::chrono_literals;
using boost::system::error_code;
using async_lease = lease<async_driver>;

class PgStatementCache : public pg_client_fixture {
protected:
    PgStatementCache() : pg_client_fixture("stmtcache") {}

    /// One connection per pool, so every borrower gets the same one.
    pg_client make_client(pool_options o = {}, std::optional<bool> pgbouncer = {}) {
        o.max_size = 1;
        o.acquire_timeout = 10s;
        return pg_client_fixture::make_client(o, pgbouncer);
    }

    async_lease borrow(const pg_client& db) {
        auto [ec, l] = run<async_lease>(db.async_acquire());
        // Thrown, not only reported: the callers go on to use the lease (a down server made
        // them dereference an empty one).
        if (ec) throw std::runtime_error("async_acquire failed: " + ec.message());
        return std::move(l);
    }

    /// A statement text no other test uses (the server's view is searched by text).
    std::string unique_sql(const std::string& body) {
        return body + " /* " + unique_name(name_) + " */";
    }

    /// The server's own view of this connection's prepared statements holding `sql`:
    /// "<count> <executions>" (custom + generic plans).
    std::string server_view(async_lease& l, const std::string& sql) {
        auto [ec, r] = run(l->async_query(
            "SELECT count(*) || ' ' || coalesce(sum(generic_plans + custom_plans), 0) "
            "FROM pg_prepared_statements WHERE statement = $1",
            sql));
        EXPECT_FALSE(ec) << r.error_message();
        return ec ? "error" : r.value().as<std::string>();
    }

    long named_statements(async_lease& l) {
        auto [ec, r] = run(l->async_query(
            "SELECT count(*) FROM pg_prepared_statements WHERE name LIKE 'connmgr\\_%'"));
        EXPECT_FALSE(ec) << r.error_message();
        return ec ? -1 : r.value().as<long>();
    }
};

TEST_P(PgStatementCache, AStatementIsPreparedOnceAndThenRunByName) {
    auto db = make_client();
    auto l = borrow(db);
    const auto sql = unique_sql("SELECT $1::int + 1");
    const auto before = l->statements_prepared();
    for (int i : {1, 2}) {
        auto [ec, r] = run(l->async_query(sql, i));
        ASSERT_FALSE(ec) << r.error_message();
        EXPECT_EQ(r.value().as<int>(), i + 1);
    }
    if (GetParam().pgbouncer) {
        // Transaction pooling: the next transaction may run on another server connection.
        EXPECT_EQ(l->statements_prepared(), 0u);
        EXPECT_EQ(l->cached_statements(), 0u);
        return;
    }
    EXPECT_EQ(l->statements_prepared() - before, 1u) << "the second run prepared again";
    EXPECT_EQ(server_view(l, sql), "1 2") << "one prepared statement, executed twice";
}

TEST_P(PgStatementCache, APipelinePreparesAndRunsInOneRequestAndReusesItsStatements) {
    auto db = make_client();
    auto l = borrow(db);
    const auto a = unique_sql("SELECT $1::int * 2");
    const auto b = unique_sql("SELECT $1::text || 'x'");
    for (int round = 0; round < 2; ++round) {
        auto [ec, rs] = run<std::vector<result>>(
            l->async_pipeline({query::with(a, 21), query::with(b, "y"), query::with(a, 4)}));
        ASSERT_FALSE(ec);
        ASSERT_EQ(rs.size(), 3u);
        EXPECT_EQ(rs[0].value().as<int>(), 42);
        EXPECT_EQ(rs[1].value().as<std::string>(), "yx");
        EXPECT_EQ(rs[2].value().as<int>(), 8);
    }
    if (GetParam().pgbouncer) return;
    EXPECT_EQ(server_view(l, a), "1 4");
    EXPECT_EQ(server_view(l, b), "1 2");
}

TEST_P(PgStatementCache, TheCacheHoldsAtMostItsCapacityOnTheServer) {
    auto db = make_client({.statement_cache = 3});
    auto l = borrow(db);
    std::vector<std::string> texts;
    for (int i = 0; i < 4; ++i) {
        texts.push_back(unique_sql("SELECT " + std::to_string(i)));
        auto [ec, r] = run(l->async_query(texts.back()));
        ASSERT_FALSE(ec) << r.error_message();
        EXPECT_EQ(r.value().as<int>(), i);
    }
    EXPECT_LE(l->cached_statements(), 3u);
    if (GetParam().pgbouncer) return;
    // The view query is itself a fifth statement: it evicts one more, deallocated at once.
    EXPECT_EQ(named_statements(l), 3);
    EXPECT_EQ(server_view(l, texts[0]), "0 0") << "the least recently used was not deallocated";
    EXPECT_EQ(server_view(l, texts[3]), "1 1");
}

TEST_P(PgStatementCache, AChangedResultTypeIsPreparedAgainAndTheQuerySucceeds) {
    auto db = make_client();
    auto l = borrow(db);
    auto table = unique_name("stmtcache_table");
    std::replace(table.begin(), table.end(), '-', '_');
    const auto select = unique_sql("SELECT a FROM " + table);
    auto exec = [&](const std::string& sql) {
        auto [ec, r] = run(l->async_query(sql));
        EXPECT_FALSE(ec) << sql << ": " << r.error_message();
        return r;
    };
    exec("DROP TABLE IF EXISTS " + table);
    exec("CREATE TABLE " + table + " (a int)");
    exec("INSERT INTO " + table + " VALUES (7)");
    EXPECT_EQ(exec(select).value().as<int>(), 7);
    exec("ALTER TABLE " + table + " ALTER COLUMN a TYPE text USING 'seven'");
    EXPECT_EQ(exec(select).value().as<std::string>(), "seven");

    // Inside a transaction the failed statement aborted it: no retry, the caller sees the
    // error, and the statement works again after the rollback.
    exec("ALTER TABLE " + table + " ALTER COLUMN a TYPE int USING 8");
    exec("BEGIN");
    auto [ec, r] = run(l->async_query(select));
    if (GetParam().pgbouncer) {
        EXPECT_FALSE(ec) << r.error_message();  // no cache: nothing to invalidate
    } else {
        EXPECT_EQ(ec, errc::query_failed);
        EXPECT_EQ(r.sqlstate(), "0A000") << r.error_message();
    }
    exec("ROLLBACK");
    EXPECT_EQ(exec(select).value().as<int>(), 8);
    exec("DROP TABLE " + table);
}

TEST_P(PgStatementCache, AStatementTheServerLostIsPreparedAgain) {
    if (GetParam().pgbouncer) GTEST_SKIP() << "no cache through PgBouncer";
    auto db = make_client();
    auto l = borrow(db);
    const auto sql = unique_sql("SELECT 'still here'");
    ASSERT_FALSE(std::get<0>(run(l->async_query(sql))));
    auto [e1, names] =
        run(l->async_query("SELECT name FROM pg_prepared_statements WHERE statement = $1", sql));
    ASSERT_FALSE(e1) << names.error_message();
    ASSERT_EQ(names.size(), 1u);
    const auto dropped = names[0][0].as<std::string>();
    auto [e2, r2] = run(l->async_query("DEALLOCATE \"" + dropped + "\""));  // behind its back
    ASSERT_FALSE(e2) << r2.error_message();
    const auto before = l->statements_prepared();
    auto [ec, r] = run(l->async_query(sql));
    ASSERT_FALSE(ec) << r.error_message();
    EXPECT_EQ(r.value().as<std::string>(), "still here");
    EXPECT_EQ(l->statements_prepared() - before, 1u);
    EXPECT_EQ(server_view(l, sql), "1 1");
}

// Prepared statements are not transactional: one prepared inside a rolled-back transaction
// stays on the server and in the cache (a lease returned mid-transaction is rolled back too).
TEST_P(PgStatementCache, AStatementPreparedInARolledBackTransactionIsKept) {
    if (GetParam().pgbouncer) GTEST_SKIP() << "no cache through PgBouncer";
    auto db = make_client();
    const auto sql = unique_sql("SELECT 'kept'");
    {
        auto l = borrow(db);
        ASSERT_FALSE(std::get<0>(run(l->async_query("BEGIN"))));
        ASSERT_FALSE(std::get<0>(run(l->async_query(sql))));
    }  // returned inside the transaction: the pool rolls it back
    auto l = borrow(db);
    const auto before = l->statements_prepared();
    auto [ec, r] = run(l->async_query(sql));
    ASSERT_FALSE(ec) << r.error_message();
    EXPECT_EQ(r.value().as<std::string>(), "kept");
    EXPECT_EQ(l->statements_prepared(), before) << "prepared again after the rollback";
    EXPECT_EQ(server_view(l, sql), "1 2");
}

TEST_P(PgStatementCache, ZeroTurnsItOff) {
    auto db = make_client({.statement_cache = 0});
    auto l = borrow(db);
    const auto sql = unique_sql("SELECT 5");
    for (int i = 0; i < 2; ++i) {
        auto [ec, r] = run(l->async_query(sql));
        ASSERT_FALSE(ec) << r.error_message();
        EXPECT_EQ(r.value().as<int>(), 5);
    }
    EXPECT_EQ(l->statements_prepared(), 0u);
    EXPECT_EQ(l->cached_statements(), 0u);
    if (!GetParam().pgbouncer) {
        EXPECT_EQ(named_statements(l), 0);
    }
}

// Without the cache, a statement without parameters goes out in the simple protocol (one Query
// message, as pgbench's default and PQexec): the server then accepts several statements in one
// text and the last one's result comes back. The extended protocol refuses that (42601).
TEST_P(PgStatementCache, WithoutTheCacheAParameterlessTextRunsAsPQexecWould) {
    auto db = make_client({.statement_cache = 0});
    auto l = borrow(db);
    auto [ec, r] = run(l->async_query("SELECT 1; SELECT 2"));
    ASSERT_FALSE(ec) << r.error_message();
    EXPECT_EQ(r.value().as<int>(), 2);
    // A failing statement among them is the request's error.
    auto [bad_ec, bad] = run(l->async_query("SELECT 1; SELECT 1/0"));
    EXPECT_EQ(bad_ec, make_error_code(errc::query_failed));
    EXPECT_EQ(bad.sqlstate(), "22012");
    // Parameters still travel apart from the text (the extended protocol).
    auto [p_ec, p] = run(l->async_query("SELECT $1::int + 1", 41));
    ASSERT_FALSE(p_ec) << p.error_message();
    EXPECT_EQ(p.value().as<int>(), 42);
}

// The flag, not the server, turns it off: pgbouncer mode against PostgreSQL itself prepares
// nothing either (what the server shows is the proof).
TEST_P(PgStatementCache, PgbouncerModeTurnsItOff) {
    if (GetParam().pgbouncer) GTEST_SKIP() << "checked on the server directly";
    auto db = make_client({.statement_cache = 64}, true);
    auto l = borrow(db);
    const auto sql = unique_sql("SELECT 6");
    for (int i = 0; i < 2; ++i) ASSERT_FALSE(std::get<0>(run(l->async_query(sql))));
    EXPECT_EQ(l->statements_prepared(), 0u);
    EXPECT_EQ(named_statements(l), 0);
}

TEST_P(PgStatementCache, DiscardAllOnReturnGivesTheNextBorrowerAnEmptyCache) {
    if (GetParam().pgbouncer) GTEST_SKIP() << "reset_query is refused in pgbouncer mode";
    auto db = make_client({.reset_query = "DISCARD ALL"});
    const auto sql = unique_sql("SELECT 9");
    int pid = 0;
    {
        auto l = borrow(db);
        pid = l->backend_pid();
        for (int i = 0; i < 2; ++i) ASSERT_FALSE(std::get<0>(run(l->async_query(sql))));
        EXPECT_EQ(l->cached_statements(), 1u);
    }
    auto l = borrow(db);
    ASSERT_EQ(l->backend_pid(), pid) << "not the same connection";
    EXPECT_EQ(l->cached_statements(), 0u);
    EXPECT_EQ(server_view(l, sql), "0 0");
    const auto before = l->statements_prepared();
    auto [ec, r] = run(l->async_query(sql));
    ASSERT_FALSE(ec) << r.error_message();
    EXPECT_EQ(r.value().as<int>(), 9);
    EXPECT_EQ(l->statements_prepared() - before, 1u);
    EXPECT_EQ(server_view(l, sql), "1 1");
}

INSTANTIATE_TEST_SUITE_P(Servers, PgStatementCache, testing::ValuesIn(targets), print_target);

}  // namespace
}  // namespace connmgr::pg::test
