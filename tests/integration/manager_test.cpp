// The manager against real servers: one pool per URL under races, sharing, laziness, backend
// checks, store references, close_all, health, renderings, fork.
#include "manager_support.hpp"
#include "promtool_check.hpp"

#include <connmgr/connmgr.hpp>
#include <connmgr/detail/log.hpp>

#include <boost/asio/use_future.hpp>
#include <boost/json.hpp>

#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <fstream>
#include <future>
#include <mutex>
#include <thread>

using namespace std::chrono_literals;
using connmgr::test::database;
using connmgr::test::eventually;
using connmgr::test::pg_connections;
using connmgr::test::redis_connections;
using connmgr::test::unique_name;

namespace {

connmgr::manager_config config_of(std::initializer_list<connmgr::database_config> dbs) {
    connmgr::manager_config c = connmgr::test::base_config();
    c.drain_timeout = 5s;
    for (const auto& db : dbs) c.databases[db.name] = db;
    return c;
}

std::size_t pools_of(const connmgr::manager_stats& s, const std::string& name) {
    std::size_t n = 0;
    for (const auto& p : s.pools)
        for (const auto& d : p.databases) n += d == name ? 1 : 0;
    return n;
}

}  // namespace

TEST(ManagerRegistry, ConcurrentGetClientCreatesOnePostgresPool) {
    CONNMGR_REQUIRE_ENV(pg_url, "CONNMGR_TEST_PG_URL");
    const auto name = unique_name("mgr_race_pg");
    connmgr::manager m;
    m.configure(config_of({database(name, pg_url, 4)}));

    std::atomic<bool> done{false};
    std::atomic<long> peak{0};
    std::thread monitor([&] {
        while (!done) {
            const long n = pg_connections(pg_url, "connmgr:" + name);
            long p = peak.load();
            while (n > p && !peak.compare_exchange_weak(p, n)) {
            }
            std::this_thread::sleep_for(5ms);
        }
    });
    std::atomic<int> calls{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 16; ++t) {
        threads.emplace_back([&] {
            while (calls.fetch_add(1) < 100) {
                auto db = m.get_client<connmgr::pg_client>(name);
                auto conn = db.acquire();
                pqxx::work tx{*conn};
                EXPECT_EQ(tx.exec("SELECT 1")[0][0].as<int>(), 1);
                tx.commit();
            }
        });
    }
    for (auto& t : threads) t.join();
    done = true;
    monitor.join();

    const auto s = m.stats();
    ASSERT_EQ(s.pools.size(), 1u);
    EXPECT_EQ(s.pools[0].flavour, connmgr::flavour::sync);
    EXPECT_LE(s.pools[0].created_total, 4u);
    EXPECT_GE(s.pools[0].acquired_total, 100u);
    EXPECT_LE(peak.load(), 4);
    EXPECT_LE(pg_connections(pg_url, "connmgr:" + name), 4);
}

TEST(ManagerRegistry, ConcurrentGetClientCreatesOneRedisPool) {
    CONNMGR_REQUIRE_ENV(redis_url, "CONNMGR_TEST_REDIS_URL");
    const auto name = unique_name("mgr_race_redis");
    connmgr::manager m;
    m.configure(config_of({database(name, redis_url, 3)}));

    std::atomic<bool> done{false};
    std::atomic<long> peak{0};
    std::thread monitor([&] {
        while (!done) {
            const long n = redis_connections(redis_url, "connmgr:" + name);
            long p = peak.load();
            while (n > p && !peak.compare_exchange_weak(p, n)) {
            }
            std::this_thread::sleep_for(5ms);
        }
    });
    std::atomic<int> calls{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 16; ++t) {
        threads.emplace_back([&] {
            while (calls.fetch_add(1) < 100) {
                auto cache = m.get_client<connmgr::redis_client>(name);
                cache.command({"PING"});
            }
        });
    }
    for (auto& t : threads) t.join();
    done = true;
    monitor.join();

    const auto s = m.stats();
    ASSERT_EQ(s.pools.size(), 1u);
    EXPECT_LE(s.pools[0].created_total, 3u);
    EXPECT_LE(peak.load(), 3);
    EXPECT_GT(redis_connections(redis_url, "connmgr:" + name), 0);
}

TEST(ManagerRegistry, NamesWithOneUrlSharePools) {
    CONNMGR_REQUIRE_ENV(pg_url, "CONNMGR_TEST_PG_URL");
    const auto prefix = unique_name("mgr_share");
    const auto a = prefix + "_a";
    const auto b = prefix + "_b";
    connmgr::manager m;
    m.configure(config_of({database(a, pg_url, 2), database(b, pg_url, 2)}));

    auto ca = m.get_client<connmgr::pg_client>(a);
    auto cb = m.get_client<connmgr::pg_client>(b);
    {
        auto l1 = ca.acquire();
        auto l2 = cb.acquire();
        // max_size 2 shared: both leases come from one pool of 2 connections.
        EXPECT_EQ(pg_connections(pg_url, "connmgr:" + prefix + "%"), 2);
    }
    const auto s = m.stats();
    ASSERT_EQ(s.pools.size(), 1u);
    EXPECT_EQ(s.pools[0].databases, (std::vector<std::string>{a, b}));
    EXPECT_EQ(s.pools[0].created_total, 2u);
    EXPECT_EQ(pg_connections(pg_url, "connmgr:" + prefix + "%"), 2);
}

TEST(ManagerRegistry, OtherDbNumberOrUserIsAnotherEntry) {
    CONNMGR_REQUIRE_ENV(redis_url, "CONNMGR_TEST_REDIS_URL");
    CONNMGR_REQUIRE_ENV(auth_url, "CONNMGR_TEST_REDIS_AUTH_URL");
    const auto prefix = unique_name("mgr_sep");
    auto db0 = connmgr::db_url::parse(redis_url).redis();
    const std::string db1_url =
        "redis://" + db0.host + ":" + std::to_string(db0.port) + "/" + std::to_string(db0.db + 1);
    auto auth = connmgr::db_url::parse(auth_url).redis();
    const std::string default_user_url = "redis://:" + auth.password + "@" + auth.host + ":" +
                                         std::to_string(auth.port) + "/" + std::to_string(auth.db);
    connmgr::manager m;
    m.configure(config_of({database(prefix + "_db0", redis_url), database(prefix + "_db1", db1_url),
                           database(prefix + "_acl", auth_url),
                           database(prefix + "_default", default_user_url)}));
    for (const char* n : {"_db0", "_db1", "_acl", "_default"})
        m.get_client<connmgr::redis_client>(prefix + n).command({"PING"});
    const auto s = m.stats();
    EXPECT_EQ(s.pools.size(), 4u);
    for (const char* n : {"_db0", "_db1", "_acl", "_default"})
        EXPECT_EQ(pools_of(s, prefix + n), 1u);
    EXPECT_EQ(redis_connections(redis_url, "connmgr:" + prefix), 2);
    EXPECT_EQ(redis_connections(auth_url, "connmgr:" + prefix), 2);
}

TEST(ManagerRegistry, ThousandDatabasesOpenNothingUntilUsed) {
    CONNMGR_REQUIRE_ENV(redis_url, "CONNMGR_TEST_REDIS_URL");
    CONNMGR_REQUIRE_ENV(pg_url, "CONNMGR_TEST_PG_URL");
    const auto prefix = unique_name("mgr_lazy");
    connmgr::manager_config c = connmgr::test::base_config();
    // Distinct URLs (nothing listens on most of these ports): none may ever be dialled.
    for (int i = 0; i < 998; ++i) {
        auto db = database(prefix + "_" + std::to_string(i),
                           "redis://127.0.0.1:" + std::to_string(20000 + i) + "/0");
        c.databases[db.name] = db;
    }
    c.databases[prefix + "_redis"] = database(prefix + "_redis", redis_url);
    c.databases[prefix + "_pg"] = database(prefix + "_pg", pg_url);
    connmgr::manager m;
    m.configure(c);
    for (int i = 0; i < 998; i += 97)
        (void)m.get_client<connmgr::redis_client>(prefix + "_" + std::to_string(i));
    auto s = m.stats();
    EXPECT_TRUE(s.pools.empty());
    EXPECT_EQ(s.databases.size(), 1000u);
    for (const auto& d : s.databases) EXPECT_FALSE(d.open) << d.name;
    EXPECT_EQ(redis_connections(redis_url, "connmgr:" + prefix), 0);

    // Sync use opens only the sync pool of that one database.
    m.get_client<connmgr::redis_client>(prefix + "_redis").command({"PING"});
    s = m.stats();
    ASSERT_EQ(s.pools.size(), 1u);
    EXPECT_EQ(s.pools[0].databases, std::vector<std::string>{prefix + "_redis"});
    EXPECT_EQ(s.pools[0].flavour, connmgr::flavour::sync);

    // Async use opens only the async pool of another.
    auto db = m.get_client<connmgr::pg_client>(prefix + "_pg");
    auto r = db.async_query("SELECT 41 + 1")(boost::asio::use_future).get();
    (void)r;
    s = m.stats();
    ASSERT_EQ(s.pools.size(), 2u);
    EXPECT_EQ(pools_of(s, prefix + "_pg"), 1u);
    for (const auto& p : s.pools) {
        if (p.databases.front() == prefix + "_pg") {
            EXPECT_EQ(p.flavour, connmgr::flavour::async);
        }
    }
    EXPECT_EQ(pg_connections(pg_url, "connmgr:" + prefix + "%"), 1);
}

TEST(ManagerRegistry, WrongBackendAndUnknownNameThrowConfigError) {
    CONNMGR_REQUIRE_ENV(pg_url, "CONNMGR_TEST_PG_URL");
    CONNMGR_REQUIRE_ENV(redis_url, "CONNMGR_TEST_REDIS_URL");
    const auto pg_name = unique_name("mgr_kind_pg");
    const auto redis_name = unique_name("mgr_kind_redis");
    connmgr::manager m;
    m.configure(config_of({database(pg_name, pg_url), database(redis_name, redis_url)}));
    try {
        (void)m.get_client<connmgr::redis_client>(pg_name);
        FAIL() << "no exception";
    } catch (const connmgr::config_error& e) {
        const std::string what = e.what();
        EXPECT_NE(what.find(pg_name), std::string::npos) << what;
        EXPECT_NE(what.find("postgres"), std::string::npos) << what;
        EXPECT_NE(what.find("redis"), std::string::npos) << what;
        EXPECT_EQ(what.find("connmgr-secret"), std::string::npos) << what;
    }
    EXPECT_THROW((void)m.get_client<connmgr::pg_client>(redis_name), connmgr::config_error);
    try {
        (void)m.get_client<connmgr::pg_client>("nope");
        FAIL() << "no exception";
    } catch (const connmgr::config_error& e) {
        const std::string what = e.what();
        EXPECT_NE(what.find("nope"), std::string::npos) << what;
        EXPECT_NE(what.find(pg_name), std::string::npos) << what;
        EXPECT_NE(what.find(redis_name), std::string::npos) << what;
    }
    EXPECT_THROW((void)m.attach("store", "nope"), connmgr::config_error);
    EXPECT_TRUE(m.stats().pools.empty());
}

TEST(ManagerStoreRef, LastReferenceClosesPoolsAndNextUseReopens) {
    CONNMGR_REQUIRE_ENV(pg_url, "CONNMGR_TEST_PG_URL");
    const auto name = unique_name("mgr_ref");
    auto db = database(name, pg_url);
    db.close_when_unreferenced = true;
    connmgr::manager m;
    m.configure(config_of({db}));
    const std::string pattern = "connmgr:" + name;

    auto r1 = m.attach("store-a", name);
    auto r2 = m.attach("store-b", name);
    auto client = m.get_client<connmgr::pg_client>(name);
    { auto conn = client.acquire(); }
    (void)client.async_query("SELECT 1")(boost::asio::use_future).get();
    EXPECT_EQ(pg_connections(pg_url, pattern), 2);
    auto s = m.stats();
    ASSERT_EQ(s.pools.size(), 2u);
    for (const auto& p : s.pools)
        EXPECT_EQ(p.references, (std::vector<std::string>{"store-a", "store-b"}));

    r1.release();
    EXPECT_FALSE(r1.attached());
    EXPECT_EQ(pg_connections(pg_url, pattern), 2);  // store-b still holds it
    {
        connmgr::store_ref moved = std::move(r2);
        EXPECT_FALSE(r2.attached());
        EXPECT_TRUE(moved.attached());
    }  // the last reference goes here
    EXPECT_TRUE(eventually([&] { return pg_connections(pg_url, pattern) == 0; }));
    EXPECT_TRUE(m.stats().pools.empty());

    { auto conn = client.acquire(); }  // the old client opens fresh pools
    EXPECT_EQ(pg_connections(pg_url, pattern), 1);
    EXPECT_EQ(m.stats().pools.size(), 1u);
}

TEST(ManagerCloseAll, WakesWaitersCountsLeasesAndDrains) {
    CONNMGR_REQUIRE_ENV(pg_url, "CONNMGR_TEST_PG_URL");
    const auto name = unique_name("mgr_close");
    auto db = database(name, pg_url, 2);
    db.drain_timeout = 1s;
    connmgr::manager m;
    m.configure(config_of({db}));
    const std::string pattern = "connmgr:" + name;
    auto client = m.get_client<connmgr::pg_client>(name);
    auto store = m.attach("memory-store#1", name);

    std::optional<decltype(client.acquire())> l1, l2;
    l1.emplace(client.acquire(connmgr::acquire_options{.timeout = {}, .holder = "memory-store#1"}));
    l2.emplace(client.acquire(connmgr::acquire_options{.timeout = {}, .holder = "memory-store#1"}));

    std::atomic<int> queued_failures{0};
    std::vector<std::thread> waiters;
    for (int i = 0; i < 3; ++i) {
        waiters.emplace_back([&] {
            try {
                auto l = client.acquire();
            } catch (const connmgr::error& e) {
                if (e.code() == connmgr::errc::shutting_down) ++queued_failures;
            }
        });
    }
    ASSERT_TRUE(eventually([&] {
        auto s = m.stats();
        return !s.pools.empty() && s.pools[0].waiters == 3;
    }));

    const auto start = std::chrono::steady_clock::now();
    connmgr::close_summary summary;
    std::thread closer([&] { summary = m.close_all(); });
    for (auto& w : waiters) w.join();  // woken at once, long before their 10 s deadline
    EXPECT_LT(std::chrono::steady_clock::now() - start, 900ms);
    EXPECT_EQ(queued_failures.load(), 3);
    closer.join();
    EXPECT_EQ(summary.pools_closed, 1u);
    EXPECT_EQ(summary.leases_outstanding, 2u);
    EXPECT_EQ(summary.leases_by_store["memory-store#1"], 2u);
    EXPECT_EQ(pg_connections(pg_url, pattern), 2);  // still leased

    l1.reset();
    l2.reset();
    EXPECT_TRUE(eventually([&] { return pg_connections(pg_url, pattern) == 0; }));

    EXPECT_EQ(m.close_all(), connmgr::close_summary{});  // idempotent
    std::vector<std::thread> closers;
    std::atomic<int> empty{0};
    for (int i = 0; i < 8; ++i)
        closers.emplace_back([&] { empty += m.close_all() == connmgr::close_summary{} ? 1 : 0; });
    for (auto& t : closers) t.join();
    EXPECT_EQ(empty.load(), 8);

    auto again = m.get_client<connmgr::pg_client>(name);
    {
        auto conn = again.acquire();
        pqxx::work tx{*conn};
        EXPECT_EQ(tx.exec("SELECT 2")[0][0].as<int>(), 2);
    }
    EXPECT_EQ(pg_connections(pg_url, pattern), 1);
    EXPECT_EQ(m.close_all().pools_closed, 1u);
    EXPECT_TRUE(eventually([&] { return pg_connections(pg_url, pattern) == 0; }));
}

TEST(ManagerHealth, UnreachableDatabaseIsUnhealthyOthersHealthy) {
    CONNMGR_REQUIRE_ENV(pg_url, "CONNMGR_TEST_PG_URL");
    CONNMGR_REQUIRE_ENV(redis_url, "CONNMGR_TEST_REDIS_URL");
    const auto prefix = unique_name("mgr_health");
    auto down = database(prefix + "_down", "redis://127.0.0.1:1/0");
    down.sync_pool.connect_timeout = 2s;
    connmgr::manager m;
    m.configure(config_of(
        {database(prefix + "_pg", pg_url), database(prefix + "_redis", redis_url), down}));
    EXPECT_EQ(m.health().total_databases, 0u);  // nothing opened yet

    const auto h = m.health(connmgr::health_scope::all_configured);
    EXPECT_FALSE(h.overall_healthy);
    EXPECT_EQ(h.total_databases, 3u);
    EXPECT_EQ(h.healthy_databases, 2u);
    ASSERT_EQ(h.databases.size(), 3u);
    for (const auto& d : h.databases) {
        EXPECT_EQ(d.healthy, d.name != prefix + "_down") << d.name << ": " << d.error;
        if (!d.healthy) {
            EXPECT_FALSE(d.error.empty());
        }
        EXPECT_LT(d.latency, 3s);
    }
    // Probes take no pool capacity.
    EXPECT_TRUE(m.stats().pools.empty());
    m.get_client<connmgr::redis_client>(prefix + "_redis").command({"PING"});
    const auto opened = m.health();
    EXPECT_TRUE(opened.overall_healthy);
    EXPECT_EQ(opened.total_databases, 1u);
}

TEST(ManagerRender, PrometheusPassesPromtoolAndJsonHasEveryField) {
    CONNMGR_REQUIRE_ENV(pg_url, "CONNMGR_TEST_PG_URL");
    CONNMGR_REQUIRE_ENV(auth_url, "CONNMGR_TEST_REDIS_AUTH_URL");
    const auto prefix = unique_name("mgr_render");
    connmgr::manager m;
    m.configure(
        config_of({database(prefix + "_pg", pg_url), database(prefix + "_auth", auth_url)}));
    auto store = m.attach("render-store", prefix + "_pg");
    { auto conn = m.get_client<connmgr::pg_client>(prefix + "_pg").acquire(); }
    m.get_client<connmgr::redis_client>(prefix + "_auth").command({"PING"});
    (void)m.get_client<connmgr::redis_client>(prefix + "_auth")
        .async_command({"PING"}, boost::asio::use_future)
        .get();
    (void)m.health();
    const auto s = m.stats();
    ASSERT_EQ(s.pools.size(), 3u);

    const auto prom = connmgr::to_prometheus(s);
    const auto json = connmgr::to_json(s);
    for (const std::string& text : {prom, json}) {
        EXPECT_EQ(text.find("connmgr-secret"), std::string::npos);
        EXPECT_EQ(text.find("redis-secret"), std::string::npos);
    }
    for (const char* metric :
         {"connmgr_pool_connections{", "state=\"idle\"", "state=\"in_use\"", "state=\"connecting\"",
          "connmgr_pool_max_size{", "connmgr_pool_waiters{", "connmgr_pool_acquire_total{",
          "connmgr_pool_acquire_timeouts_total{", "connmgr_pool_wait_seconds_bucket{",
          "connmgr_pool_wait_seconds_sum{", "connmgr_pool_wait_seconds_count{",
          "connmgr_pool_connections_created_total{", "connmgr_pool_connections_closed_total{",
          "connmgr_database_up{", "connmgr_circuit_open{"})
        EXPECT_NE(prom.find(metric), std::string::npos) << metric;

    if (const auto problems = connmgr::test::promtool_problems(prom)) {
        EXPECT_EQ(*problems, "") << prom;
    }

    const auto doc = boost::json::parse(json);
    const auto& pools = doc.at("pools").as_array();
    ASSERT_EQ(pools.size(), 3u);
    for (const auto& p : pools) {
        for (const char* field : connmgr::test::pool_stats_fields)
            EXPECT_TRUE(p.as_object().contains(field)) << field;
        EXPECT_EQ(p.at("breaker").as_string(), "closed");
    }
    EXPECT_TRUE(doc.at("databases").as_object().contains(prefix + "_pg"));
}

TEST(ManagerFork, ChildGetsFreshConnectionsParentKeepsWorking) {
    CONNMGR_REQUIRE_ENV(pg_url, "CONNMGR_TEST_PG_URL");
    CONNMGR_REQUIRE_ENV(redis_url, "CONNMGR_TEST_REDIS_URL");
    const auto prefix = unique_name("mgr_fork");
    connmgr::manager m;
    m.configure(
        config_of({database(prefix + "_pg", pg_url), database(prefix + "_redis", redis_url)}));
    auto pg = m.get_client<connmgr::pg_client>(prefix + "_pg");
    auto redis = m.get_client<connmgr::redis_client>(prefix + "_redis");
    { auto conn = pg.acquire(); }
    (void)pg.async_query("SELECT 1")(boost::asio::use_future).get();
    redis.command({"SET", prefix, "parent"});
    ASSERT_EQ(pg_connections(pg_url, "connmgr:" + prefix + "%"), 2);

    const pid_t child = ::fork();
    if (child == 0) {
        // Only async-signal-safe exits from here: no gtest assertions in the child.
        int rc = 0;
        try {
            auto cpg = m.get_client<connmgr::pg_client>(prefix + "_pg");
            {
                auto conn = cpg.acquire();
                pqxx::work tx{*conn};
                if (tx.exec("SELECT 7")[0][0].as<int>() != 7) rc = 10;
            }
            // use_future completions once ran on Asio's system thread pool, which the parent
            // had started and the child does not have: bounded waits, so a regression fails.
            auto q = cpg.async_query("SELECT 8")(boost::asio::use_future);
            if (q.wait_for(10s) != std::future_status::ready)
                rc = 14;
            else if (q.get()[0][0].as<int>() != 8)
                rc = 15;
            auto cr = m.get_client<connmgr::redis_client>(prefix + "_redis");
            cr.command({"SET", prefix + "_child", "child"});
            auto r = cr.async_command({"GET", prefix + "_child"}, boost::asio::use_future);
            if (rc == 0 && r.wait_for(10s) != std::future_status::ready)
                rc = 16;
            else if (rc == 0)
                (void)r.get();
            // The parent's two PostgreSQL connections plus the child's own two.
            if (rc == 0 && pg_connections(pg_url, "connmgr:" + prefix + "%") != 4) rc = 12;
        } catch (...) {
            rc = 13;
        }
        ::_exit(rc);
    }
    ASSERT_GT(child, 0);
    int status = 0;
    ASSERT_EQ(::waitpid(child, &status, 0), child);
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 0);

    // The parent's connections still work after the child exited.
    {
        auto conn = pg.acquire();
        pqxx::work tx{*conn};
        EXPECT_EQ(tx.exec("SELECT 3")[0][0].as<int>(), 3);
    }
    EXPECT_EQ(pg.async_query("SELECT 1")(boost::asio::use_future).get().size(), 1u);
    redis.command({"GET", prefix + "_child"});
    EXPECT_TRUE(eventually([&] { return pg_connections(pg_url, "connmgr:" + prefix + "%") == 2; }));
    const auto s = m.stats();
    for (const auto& p : s.pools) EXPECT_LE(p.created_total, 1u) << p.databases.front();
}

TEST(ManagerStats, UtilizationAbove80PercentWarnsOncePerCrossing) {
    CONNMGR_REQUIRE_ENV(pg_url, "CONNMGR_TEST_PG_URL");
    const auto name = unique_name("mgr_util");
    connmgr::manager m;
    m.configure(config_of({database(name, pg_url, 2)}));
    std::mutex mu;
    std::vector<std::string> warnings;
    auto previous = connmgr::detail::set_log_sink([&](connmgr::detail::log_level level,
                                                      std::string_view msg) {
        std::lock_guard lock(mu);
        if (level == connmgr::detail::log_level::warn && msg.find(name) != std::string_view::npos &&
            msg.find("utilization") != std::string_view::npos)
            warnings.emplace_back(msg);
    });
    auto client = m.get_client<connmgr::pg_client>(name);
    auto count = [&] {
        std::lock_guard lock(mu);
        return warnings.size();
    };
    {
        auto l1 = client.acquire();
        (void)m.stats();
        EXPECT_EQ(count(), 0u);  // 50%
        auto l2 = client.acquire();
        (void)m.stats();
        (void)m.stats();
        EXPECT_EQ(count(), 1u);  // crossed once, still above: no repeat
    }
    (void)m.stats();  // back to 0%
    {
        auto l1 = client.acquire();
        auto l2 = client.acquire();
        (void)m.stats();
    }
    EXPECT_EQ(count(), 2u);  // the second crossing
    connmgr::detail::set_log_sink(std::move(previous));
    std::lock_guard lock(mu);
    ASSERT_FALSE(warnings.empty());
    EXPECT_EQ(warnings[0].find("connmgr-secret"), std::string::npos) << warnings[0];
}

// Defects: a child that first gave back a lease taken in the parent walked freed memory on its
// next acquire, and a child closing the pools closed the parent's idle sessions.
TEST(ManagerFork, ChildReleasingAParentLeaseThenClosingLeavesTheParentsSessions) {
    CONNMGR_REQUIRE_ENV(pg_url, "CONNMGR_TEST_PG_URL");
    const auto prefix = unique_name("mgr_fork_close");
    connmgr::manager m;
    m.configure(config_of({database(prefix, pg_url)}));
    auto pg = m.get_client<connmgr::pg_client>(prefix);
    auto held = pg.acquire();
    { auto idle = pg.acquire(); }  // a second, idle connection (and the pool's thread)
    ASSERT_EQ(pg_connections(pg_url, "connmgr:" + prefix), 2);

    const pid_t child = ::fork();
    if (child == 0) {
        int rc = 0;
        try {
            held.release();  // the parent's lease, before anything else
            {
                auto conn = pg.acquire();
                pqxx::work tx{*conn};
                if (tx.exec("SELECT 9")[0][0].as<int>() != 9) rc = 10;
            }
            (void)m.close_all();
        } catch (...) {
            rc = 11;
        }
        ::_exit(rc);
    }
    ASSERT_GT(child, 0);
    int status = 0;
    ASSERT_EQ(::waitpid(child, &status, 0), child);
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 0);
    // Both of the parent's sessions are still open and serve.
    EXPECT_TRUE(eventually([&] { return pg_connections(pg_url, "connmgr:" + prefix) == 2; }));
    {
        pqxx::work tx{*held};
        EXPECT_EQ(tx.exec("SELECT 3")[0][0].as<int>(), 3);
    }
    held.release();
    auto a = pg.acquire();
    auto b = pg.acquire();
    for (const auto& p : m.stats().pools)
        EXPECT_EQ(p.created_total, 2u) << "both reused, none replaced";
}
