// Renderings of stats and health without servers: JSON shapes, Prometheus names, promtool.
#include <connmgr/health.hpp>
#include <connmgr/manager_stats.hpp>

#include <boost/json.hpp>

#include <gtest/gtest.h>

#include "../integration/promtool_check.hpp"

#include <unistd.h>

#include <array>
#include <cstdio>
#include <fstream>
#include <limits>

namespace {

connmgr::pool_stats sample_pool(connmgr::flavour f) {
    connmgr::pool_stats p;
    p.databases = {"app", "app2"};
    p.url = "postgresql://app:***@db:5432/app";
    p.backend = "postgres";
    p.flavour = f;
    p.max_size = 10;
    p.open = 5;
    p.idle = 2;
    p.in_use = 3;
    p.connecting = 1;
    p.waiters = 4;
    p.created_total = 6;
    p.closed_total = 1;
    p.acquired_total = 100;
    p.timeouts_total = 2;
    p.connect_failures_total = 1;
    p.wait_seconds_sum = 0.25;
    p.wait_seconds_max = 0.1;
    p.wait_buckets_le = {0.001, 0.01, 0.1, 1.0};
    p.wait_buckets = {90, 95, 100, 100};
    p.utilization = 0.3;
    p.references = {"store\"1"};
    p.breaker = connmgr::breaker_state::half_open;
    p.min_idle = 1;
    p.create_time = {{0.005, 0.01}, {4, 6}, 6, 0.042, 0.009};
    p.use_time = {{0.001, 0.1}, {50, 97}, 98, 1.5, 0.4};
    p.leases = {{"memory-store#7", 2.5}, {"", 0.25}};
    return p;
}

}  // namespace

TEST(ManagerRender, PrometheusHasEveryFamilyAndPassesPromtool) {
    connmgr::manager_stats s;
    s.pools = {sample_pool(connmgr::flavour::sync), sample_pool(connmgr::flavour::async)};
    s.databases = {{"app", "postgres", "postgresql://app:***@db:5432/app", true, {}, true},
                   {"idle_db", "redis", "redis://h:6379/0", false, {}, std::nullopt}};
    const auto text = connmgr::to_prometheus(s);
    for (const char* family :
         {"connmgr_pool_connections", "connmgr_pool_max_size", "connmgr_pool_waiters",
          "connmgr_pool_acquire_total", "connmgr_pool_acquire_timeouts_total",
          "connmgr_pool_wait_seconds", "connmgr_pool_connections_created_total",
          "connmgr_pool_connections_closed_total", "connmgr_database_up", "connmgr_circuit_open"}) {
        EXPECT_NE(text.find(std::string("# TYPE ") + family + " "), std::string::npos) << family;
        EXPECT_NE(text.find(std::string("# HELP ") + family + " "), std::string::npos) << family;
    }
    EXPECT_NE(text.find("connmgr_pool_connections{database=\"app,app2\",backend=\"postgres\","
                        "flavour=\"async\",role=\"write\",state=\"in_use\"} 3"),
              std::string::npos)
        << text;
    EXPECT_NE(text.find("le=\"+Inf\"} 100"), std::string::npos) << text;
    EXPECT_NE(text.find("connmgr_database_up{database=\"app\",backend=\"postgres\"} 1"),
              std::string::npos);
    EXPECT_EQ(text.find("idle_db"), std::string::npos);  // never opened, never probed

    const auto problems = connmgr::test::promtool_problems(text);
    if (!problems) GTEST_SKIP() << "no promtool";
    EXPECT_EQ(*problems, "") << text;
}

// DESIGN §12: a multi-server database's pools break their connections down by server, each
// server's state is one sample per state name, and reader()'s pools carry role="read".
TEST(ManagerRender, ServersAndRolesOfAMultiHostDatabase) {
    connmgr::manager_stats s;
    auto write = sample_pool(connmgr::flavour::async);
    write.servers = {{"h1:5432", "read_only", 0}, {"h2:5432", "primary", 5}};
    auto read = sample_pool(connmgr::flavour::async);
    read.role = "read";
    read.servers = {{"h1:5432", "read_only", 2}, {"h2:5432", "primary", 0}};
    s.pools = {write, read};
    const auto text = connmgr::to_prometheus(s);
    for (const char* sample :
         {"connmgr_pool_server_connections{database=\"app,app2\",backend=\"postgres\","
          "flavour=\"async\",role=\"write\",server=\"h2:5432\"} 5",
          "connmgr_pool_server_connections{database=\"app,app2\",backend=\"postgres\","
          "flavour=\"async\",role=\"read\",server=\"h1:5432\"} 2",
          "connmgr_server_state{database=\"app,app2\",server=\"h1:5432\",state=\"read_only\"} 1",
          "connmgr_server_state{database=\"app,app2\",server=\"h1:5432\",state=\"primary\"} 0",
          "db_client_connection_max{db_client_connection_pool_name=\"app,app2:read/async\"} 10"})
        EXPECT_NE(text.find(sample), std::string::npos) << sample << "\n" << text;
    const auto json = boost::json::parse(connmgr::to_json(s)).as_object();
    const auto& pools = json.at("pools").as_array();
    ASSERT_EQ(pools.size(), 2u);
    EXPECT_EQ(pools[1].at("role").as_string(), "read");
    const auto& servers = pools[0].at("servers").as_array();
    ASSERT_EQ(servers.size(), 2u);
    EXPECT_EQ(servers[0].at("state").as_string(), "read_only");
    EXPECT_EQ(servers[1].at("open").as_int64(), 5);
    const auto problems = connmgr::test::promtool_problems(text);
    if (!problems) GTEST_SKIP() << "no promtool";
    EXPECT_EQ(*problems, "") << text;
}

TEST(ManagerRender, OpenTelemetryFamiliesCarryThePoolName) {
    connmgr::manager_stats s;
    s.pools = {sample_pool(connmgr::flavour::sync), sample_pool(connmgr::flavour::async)};
    const auto text = connmgr::to_prometheus(s);
    const std::string pool = "db_client_connection_pool_name=\"app,app2/async\"";
    for (const auto& [family, type] : std::vector<std::pair<std::string, std::string>>{
             {"db_client_connection_count", "gauge"},
             {"db_client_connection_max", "gauge"},
             {"db_client_connection_idle_max", "gauge"},
             {"db_client_connection_idle_min", "gauge"},
             {"db_client_connection_pending_requests", "gauge"},
             {"db_client_connection_timeouts_total", "counter"},
             {"db_client_connection_create_time_seconds", "histogram"},
             {"db_client_connection_wait_time_seconds", "histogram"},
             {"db_client_connection_use_time_seconds", "histogram"}}) {
        EXPECT_NE(text.find("# TYPE " + family + " " + type + "\n"), std::string::npos) << family;
        const std::string first = type == "histogram" ? "_bucket{" : "{";
        EXPECT_NE(text.find("\n" + family + first + pool), std::string::npos) << family;
    }
    for (const std::string& sample :
         {"db_client_connection_count{" + pool + ",db_client_connection_state=\"idle\"} 2",
          "db_client_connection_count{" + pool + ",db_client_connection_state=\"used\"} 3",
          "db_client_connection_max{" + pool + "} 10",
          "db_client_connection_idle_max{" + pool + "} 10",
          "db_client_connection_idle_min{" + pool + "} 1",
          "db_client_connection_pending_requests{" + pool + "} 4",
          "db_client_connection_timeouts_total{" + pool + "} 2",
          "db_client_connection_create_time_seconds_bucket{" + pool + ",le=\"0.01\"} 6",
          "db_client_connection_create_time_seconds_count{" + pool + "} 6",
          "db_client_connection_use_time_seconds_bucket{" + pool + ",le=\"+Inf\"} 98",
          "db_client_connection_use_time_seconds_sum{" + pool + "} 1.5",
          "db_client_connection_wait_time_seconds_count{" + pool + "} 100"})
        EXPECT_NE(text.find(sample + "\n"), std::string::npos) << sample << "\n" << text;
}

TEST(ManagerRender, StatsJsonListsTheLeasesOutOldestFirst) {
    connmgr::manager_stats s;
    s.pools = {sample_pool(connmgr::flavour::sync), sample_pool(connmgr::flavour::async)};
    s.pools[1].leases = {{"worker", 9.0}};
    const auto doc = boost::json::parse(connmgr::to_json(s));
    const auto& leases = doc.at("leases").as_array();
    ASSERT_EQ(leases.size(), 3u);
    EXPECT_EQ(leases[0].at("holder").as_string(), "worker");
    EXPECT_EQ(leases[0].at("flavour").as_string(), "async");
    EXPECT_EQ(leases[0].at("database").as_string(), "app,app2");
    EXPECT_DOUBLE_EQ(leases[0].at("age_seconds").as_double(), 9.0);
    EXPECT_EQ(leases[1].at("holder").as_string(), "memory-store#7");
    EXPECT_EQ(leases[1].at("flavour").as_string(), "sync");
    EXPECT_EQ(leases[2].at("holder").as_string(), "");
    EXPECT_EQ(doc.at("pools").at(0).at("leases_out").as_int64(), 2);
    EXPECT_EQ(doc.at("pools").at(0).at("min_idle").as_int64(), 1);
}

TEST(ManagerRender, StatsJsonHasEveryField) {
    connmgr::manager_stats s;
    s.pools = {sample_pool(connmgr::flavour::sync)};
    s.databases = {{"app", "postgres", "postgresql://app:***@db:5432/app", true, {"s"}, false}};
    const auto doc = boost::json::parse(connmgr::to_json(s));
    const auto& p = doc.at("pools").at(0).as_object();
    EXPECT_EQ(p.at("flavour").as_string(), "sync");
    EXPECT_EQ(p.at("breaker").as_string(), "half_open");
    EXPECT_EQ(p.at("in_use").as_int64(), 3);
    EXPECT_DOUBLE_EQ(p.at("utilization").as_double(), 0.3);
    EXPECT_EQ(p.at("references").at(0).as_string(), "store\"1");
    EXPECT_EQ(p.at("wait_seconds_buckets").as_array().size(), 4u);
    EXPECT_EQ(doc.at("databases").at("app").at("healthy").as_bool(), false);
}

TEST(ManagerRender, HealthJsonHasCheckShape) {
    connmgr::health h;
    h.overall_healthy = false;
    h.total_databases = 2;
    h.healthy_databases = 1;
    h.databases = {{"a",
                    connmgr::backend::redis,
                    "redis://h:6379/0",
                    true,
                    std::chrono::duration<double, std::milli>(1.5),
                    "",
                    {}},
                   {"b",
                    connmgr::backend::postgres,
                    "postgresql://u:***@h/db",
                    false,
                    std::chrono::duration<double, std::milli>(2),
                    "connection refused",
                    {}}};
    const auto doc = boost::json::parse(connmgr::to_json(h));
    EXPECT_FALSE(doc.at("overall_healthy").as_bool());
    EXPECT_EQ(doc.at("total_databases").as_int64(), 2);
    EXPECT_EQ(doc.at("healthy_databases").as_int64(), 1);
    const auto& a = doc.at("databases").at("a").as_object();
    EXPECT_TRUE(a.at("healthy").as_bool());
    EXPECT_EQ(a.at("backend").as_string(), "redis");
    EXPECT_DOUBLE_EQ(a.at("latency_ms").as_double(), 1.5);
    EXPECT_TRUE(a.at("error").is_null());
    EXPECT_EQ(doc.at("databases").at("b").at("error").as_string(), "connection refused");
    // A single-server database has no "servers" (DESIGN §12: per multi-server database).
    EXPECT_FALSE(a.contains("servers"));
    EXPECT_FALSE(doc.at("databases").at("b").as_object().contains("servers"));
}

TEST(ManagerRender, HealthJsonListsAMultiServerDatabasesServers) {
    connmgr::database_health d;
    d.name = "ha";
    d.backend = connmgr::backend::postgres;
    d.url = "postgresql://u:***@h1:5432,h2:5433,h3:5434/db?target_session_attrs=read-write";
    d.healthy = true;
    d.servers = {{"h1:5432", "primary", true, ""},
                 {"h2:5433", "standby", true, ""},
                 {"h3:5434", "down", false, "connection refused"}};
    connmgr::health h;
    h.total_databases = h.healthy_databases = 1;
    h.databases = {d};
    const auto doc = boost::json::parse(connmgr::to_json(h));
    const auto& db = doc.at("databases").at("ha").as_object();
    EXPECT_TRUE(db.at("healthy").as_bool());
    EXPECT_TRUE(db.at("error").is_null());
    const auto& servers = db.at("servers").as_array();
    ASSERT_EQ(servers.size(), 3u);
    const std::array<const char*, 3> names{"h1:5432", "h2:5433", "h3:5434"};
    const std::array<const char*, 3> states{"primary", "standby", "down"};
    for (std::size_t i = 0; i < servers.size(); ++i) {
        const auto& sv = servers[i].as_object();
        EXPECT_EQ(sv.size(), 4u) << "exactly server, state, healthy, error";
        EXPECT_EQ(sv.at("server").as_string(), names[i]);
        EXPECT_EQ(sv.at("state").as_string(), states[i]);
        EXPECT_EQ(sv.at("healthy").as_bool(), i < 2);
    }
    EXPECT_TRUE(servers[0].at("error").is_null());
    EXPECT_TRUE(servers[1].at("error").is_null());
    EXPECT_EQ(servers[2].at("error").as_string(), "connection refused");
}
