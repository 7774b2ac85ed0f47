// Renderings of stats and health without servers: JSON shapes, Prometheus names, promtool.
#include <connmgr/health.hpp>
#include <connmgr/manager_stats.hpp>

#include <boost/json.hpp>

#include <gtest/gtest.h>

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
    return p;
}

std::string run(const std::string& command) {
    std::string out;
    if (FILE* p = ::popen(command.c_str(), "r")) {
        std::array<char, 4096> buf{};
        std::size_t n;
        while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0) out.append(buf.data(), n);
        ::pclose(p);
    }
    return out;
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
                        "flavour=\"async\",state=\"in_use\"} 3"),
              std::string::npos)
        << text;
    EXPECT_NE(text.find("le=\"+Inf\"} 100"), std::string::npos) << text;
    EXPECT_NE(text.find("connmgr_database_up{database=\"app\",backend=\"postgres\"} 1"),
              std::string::npos);
    EXPECT_EQ(text.find("idle_db"), std::string::npos);  // never opened, never probed

    if (std::system("command -v promtool >/dev/null 2>&1") != 0) GTEST_SKIP() << "no promtool";
    const std::string file = "/tmp/manager_render_" + std::to_string(::getpid()) + ".prom";
    std::ofstream(file) << text;
    const auto out = run("promtool check metrics < " + file + " 2>&1; echo rc=$?");
    EXPECT_NE(out.find("rc=0"), std::string::npos) << out << text;
    std::remove(file.c_str());
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
    h.databases = {{"a", connmgr::backend::redis, "redis://h:6379/0", true,
                    std::chrono::duration<double, std::milli>(1.5), ""},
                   {"b", connmgr::backend::postgres, "postgresql://u:***@h/db", false,
                    std::chrono::duration<double, std::milli>(2), "connection refused"}};
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
}
