// Manager behaviour that needs no client type: open() under races, close_all, store
// references, health, renderings. (manager_test.cpp covers the same through the clients.)
#include "manager_support.hpp"
#include "promtool_check.hpp"

#include <connmgr/manager.hpp>

#include <boost/json.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <fstream>
#include <thread>

using namespace std::chrono_literals;
using connmgr::test::database;
using connmgr::test::eventually;
using connmgr::test::pg_connections;
using connmgr::test::redis_connections;
using connmgr::test::unique_name;

TEST(ManagerOpen, ConcurrentOpensCreateOnePoolPairPerUrl) {
    CONNMGR_REQUIRE_ENV(pg_url, "CONNMGR_TEST_PG_URL");
    CONNMGR_REQUIRE_ENV(redis_url, "CONNMGR_TEST_REDIS_URL");
    const auto prefix = unique_name("mgr_open");
    connmgr::manager_config c = connmgr::test::base_config();
    for (const auto& db :
         {database(prefix + "_pg_a", pg_url, 3), database(prefix + "_pg_b", pg_url, 3),
          database(prefix + "_redis", redis_url, 3)})
        c.databases[db.name] = db;
    connmgr::manager m;
    m.configure(c);

    std::atomic<int> calls{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 16; ++t)
        threads.emplace_back([&] {
            for (int i; (i = calls.fetch_add(1)) < 100;) {
                m.open(i % 3 == 0   ? prefix + "_pg_a"
                       : i % 3 == 1 ? prefix + "_pg_b"
                                    : prefix + "_redis");
            }
        });
    for (auto& t : threads) t.join();

    const auto s = m.stats();
    ASSERT_EQ(s.pools.size(), 4u);  // one sync + one async pool per URL
    for (const auto& p : s.pools) {
        EXPECT_LE(p.created_total, 3u);
        if (p.backend == "postgres") {
            EXPECT_EQ(p.databases, (std::vector<std::string>{prefix + "_pg_a", prefix + "_pg_b"}));
        }
    }
    EXPECT_LE(pg_connections(pg_url, "connmgr:" + prefix + "%"), 6);
    EXPECT_GE(pg_connections(pg_url, "connmgr:" + prefix + "%"), 2);
    EXPECT_LE(redis_connections(redis_url, "connmgr:" + prefix), 6);

    const auto summary = m.close_all();
    EXPECT_EQ(summary.pools_closed, 4u);
    EXPECT_EQ(summary.leases_outstanding, 0u);
    EXPECT_EQ(m.close_all(), connmgr::close_summary{});
    EXPECT_TRUE(m.stats().pools.empty());
    EXPECT_TRUE(eventually([&] {
        return pg_connections(pg_url, "connmgr:" + prefix + "%") == 0 &&
               redis_connections(redis_url, "connmgr:" + prefix) == 0;
    }));

    m.open(prefix + "_redis");  // usable again after close_all
    EXPECT_EQ(m.stats().pools.size(), 2u);
}

TEST(ManagerOpen, StoreRefClosesUnreferencedDatabase) {
    CONNMGR_REQUIRE_ENV(redis_url, "CONNMGR_TEST_REDIS_URL");
    const auto name = unique_name("mgr_open_ref");
    auto db = database(name, redis_url);
    db.close_when_unreferenced = true;
    connmgr::manager_config c = connmgr::test::base_config();
    c.databases[name] = db;
    connmgr::manager m;
    m.configure(c);

    auto ref = m.attach("cache-store", name);
    m.open(name);
    EXPECT_EQ(redis_connections(redis_url, "connmgr:" + name), 2);
    auto s = m.stats();
    ASSERT_EQ(s.pools.size(), 2u);
    EXPECT_EQ(s.pools[0].references, std::vector<std::string>{"cache-store"});
    ASSERT_EQ(s.databases.size(), 1u);
    EXPECT_EQ(s.databases[0].references, std::vector<std::string>{"cache-store"});

    ref.release();
    ref.release();  // idempotent
    EXPECT_TRUE(eventually([&] { return redis_connections(redis_url, "connmgr:" + name) == 0; }));
    EXPECT_TRUE(m.stats().pools.empty());

    m.open(name);
    EXPECT_EQ(redis_connections(redis_url, "connmgr:" + name), 2);
}

TEST(ManagerOpen, ConfigErrorsNameTheDatabase) {
    connmgr::manager_config c = connmgr::test::base_config();
    c.databases["known_one"] = database("known_one", "redis://127.0.0.1:1/0");
    connmgr::manager m;
    m.configure(c);
    try {
        m.open("unknown_one");
        FAIL();
    } catch (const connmgr::config_error& e) {
        EXPECT_NE(std::string(e.what()).find("known_one"), std::string::npos) << e.what();
    }
    EXPECT_THROW((void)m.attach("s", "unknown_one"), connmgr::config_error);
    EXPECT_THROW((void)m.health(std::vector<std::string>{"unknown_one"}), connmgr::config_error);
}

TEST(ManagerOpen, StatsRenderWithoutPasswordsAndPassPromtool) {
    CONNMGR_REQUIRE_ENV(pg_url, "CONNMGR_TEST_PG_URL");
    CONNMGR_REQUIRE_ENV(auth_url, "CONNMGR_TEST_REDIS_AUTH_URL");
    const auto prefix = unique_name("mgr_open_render");
    connmgr::manager_config c = connmgr::test::base_config();
    c.databases[prefix + "_pg"] = database(prefix + "_pg", pg_url);
    c.databases[prefix + "_auth"] = database(prefix + "_auth", auth_url);
    connmgr::manager m;
    m.configure(c);
    auto ref = m.attach("render-store", prefix + "_pg");
    m.open(prefix + "_pg");
    m.open(prefix + "_auth");
    const auto h = m.health();
    EXPECT_TRUE(h.overall_healthy);
    EXPECT_EQ(h.total_databases, 2u);
    const auto s = m.stats();
    ASSERT_EQ(s.pools.size(), 4u);
    const auto prom = connmgr::to_prometheus(s);
    const auto json = connmgr::to_json(s);
    for (const std::string& text : {prom, json, connmgr::to_json(h)}) {
        EXPECT_EQ(text.find("connmgr-secret"), std::string::npos) << text;
        EXPECT_EQ(text.find("redis-secret"), std::string::npos) << text;
    }
    EXPECT_NE(
        prom.find("connmgr_database_up{database=\"" + prefix + "_pg\",backend=\"postgres\"} 1"),
        std::string::npos)
        << prom;
    if (const auto problems = connmgr::test::promtool_problems(prom)) {
        EXPECT_EQ(*problems, "") << prom;
    }
    const auto doc = boost::json::parse(json);
    for (const auto& p : doc.at("pools").as_array())
        for (const char* field : connmgr::test::pool_stats_fields)
            EXPECT_TRUE(p.as_object().contains(field)) << field;
}
