// The telemetry endpoint of a program that uses the library (issue 14): its /metrics agree
// with stats() after load from its own threads and coroutines, /stats lists the leases out,
// /health probes without blocking, bad requests get 4xx, idle connections cannot lock
// scrapers out, and the endpoint stops with close_all() and with the manager.
#include "http_client.hpp"
#include "manager_support.hpp"
#include "promtool_check.hpp"

#include <connmgr/config_loader.hpp>
#include <connmgr/connmgr.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/json.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <cstdio>
#include <fstream>
#include <thread>

namespace {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using connmgr::test::env;
using connmgr::test::http_get;
using connmgr::test::http_request;

/// The value of the sample `name{labels}` in an exposition, or -1 when absent.
double sample(const std::string& text, const std::string& name, const std::string& labels) {
    const std::string key = "\n" + name + "{" + labels + "} ";
    const auto at = text.find(key);
    if (at == std::string::npos) return -1;
    return std::stod(text.substr(at + key.size(), text.find('\n', at + 1) - at - key.size()));
}

std::string connmgr_labels(const connmgr::pool_stats& p) {
    return "database=\"" + p.databases.at(0) + "\",backend=\"" + p.backend + "\",flavour=\"" +
           to_string(p.flavour) + "\",role=\"" + p.role + "\"";
}

std::string otel_labels(const connmgr::pool_stats& p) {
    return "db_client_connection_pool_name=\"" + p.databases.at(0) + "/" + to_string(p.flavour) +
           "\"";
}

std::string write_config(const std::string& name, const std::string& yaml) {
    const std::string file = "/tmp/" + name + ".yaml";
    std::ofstream(file) << yaml;
    return file;
}

TEST(Telemetry, MetricsAgreeWithStatsAfterLoadFromThreadsAndCoroutines) {
    const auto pg_url = env("CONNMGR_TEST_PG_URL");
    const auto redis_url = env("CONNMGR_TEST_REDIS_URL");
    if (!pg_url || !redis_url) GTEST_SKIP() << "servers not configured";
    const std::string prefix = connmgr::test::unique_name("telemetry");
    const std::string file = write_config(
        prefix,
        "runtime:\n  telemetry: {listen: '127.0.0.1:0'}\n"
        "databases:\n"
        "  " +
            prefix +
            "_pg: {url: '${CONNMGR_TEST_PG_URL}', pool: {max_size: 4}}\n"
            "  " +
            prefix + "_redis: {url: '${CONNMGR_TEST_REDIS_URL}', pool: {max_size: 3}}\n");
    connmgr::manager m;
    m.configure(connmgr::load_config({file}));
    std::remove(file.c_str());
    const std::string address = m.telemetry_address();
    ASSERT_FALSE(address.empty()) << "runtime.telemetry.listen did not start the endpoint";
    EXPECT_EQ(address.rfind("127.0.0.1:", 0), 0u) << address;

    auto pg = m.get_client<connmgr::pg_client>(prefix + "_pg");
    auto redis = m.get_client<connmgr::redis_client>(prefix + "_redis");
    constexpr int workers = 4;
    constexpr int rounds = 50;
    std::atomic<int> failures{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < workers; ++t)
        threads.emplace_back([&, t] {
            for (int i = 0; i < rounds; ++i) {
                try {
                    {
                        auto conn = pg.acquire();
                        pqxx::nontransaction tx{*conn};
                        tx.exec("SELECT 1");
                    }
                    redis.command({"INCR", prefix + ":" + std::to_string(t)});
                } catch (const std::exception&) {
                    ++failures;
                }
            }
        });
    asio::io_context io;
    for (int c = 0; c < workers; ++c)
        asio::co_spawn(
            io,
            [&]() -> asio::awaitable<void> {
                for (int i = 0; i < rounds; ++i) {
                    try {
                        co_await pg.async_query("SELECT 1")(asio::use_awaitable);
                        auto op = redis.async_command({"PING"}, asio::use_awaitable);
                        co_await std::move(op);
                    } catch (const std::exception&) {
                        ++failures;
                    }
                }
            },
            asio::detached);
    std::thread coroutines([&] { io.run(); });
    // Scrapes during the load answer too.
    const auto during = http_get(address, "/metrics");
    EXPECT_EQ(during.status, 200) << during.error;
    for (auto& t : threads) t.join();
    coroutines.join();
    ASSERT_EQ(failures.load(), 0);

    // Quiesced, with leases held so that in_use is not zero.
    auto held1 = pg.acquire({.timeout = std::nullopt, .holder = "report-job"});
    auto held2 = pg.acquire({.timeout = std::nullopt, .holder = "report-job"});
    auto held3 = redis.async_acquire(asio::use_future).get();

    const auto before = m.stats();
    const auto metrics = http_get(address, "/metrics");
    const auto after = m.stats();
    ASSERT_EQ(metrics.status, 200) << metrics.error;
    EXPECT_EQ(metrics.content_type, "text/plain; version=0.0.4; charset=utf-8");
    if (const auto problems = connmgr::test::promtool_problems(metrics.body)) {
        EXPECT_EQ(*problems, "") << metrics.body;
    }
    const std::string text = "\n" + metrics.body;
    ASSERT_EQ(before.pools.size(), 4u);
    ASSERT_EQ(after.pools.size(), 4u);
    for (std::size_t i = 0; i < after.pools.size(); ++i) {
        const auto& p = after.pools[i];
        const auto& b = before.pools[i];
        SCOPED_TRACE(p.databases.at(0) + "/" + to_string(p.flavour));
        // Nothing moved while /metrics was rendered: the three views are one moment.
        ASSERT_EQ(b.in_use, p.in_use);
        ASSERT_EQ(b.idle, p.idle);
        ASSERT_EQ(b.acquired_total, p.acquired_total);
        const auto l = connmgr_labels(p);
        const auto o = otel_labels(p);
        EXPECT_EQ(sample(text, "connmgr_pool_connections", l + ",state=\"in_use\""),
                  static_cast<double>(p.in_use));
        EXPECT_EQ(sample(text, "connmgr_pool_connections", l + ",state=\"idle\""),
                  static_cast<double>(p.idle));
        EXPECT_EQ(sample(text, "connmgr_pool_max_size", l), static_cast<double>(p.max_size));
        EXPECT_EQ(sample(text, "connmgr_pool_acquire_total", l),
                  static_cast<double>(p.acquired_total));
        EXPECT_EQ(
            sample(text, "db_client_connection_count", o + ",db_client_connection_state=\"used\""),
            static_cast<double>(p.in_use));
        EXPECT_EQ(
            sample(text, "db_client_connection_count", o + ",db_client_connection_state=\"idle\""),
            static_cast<double>(p.idle));
        EXPECT_EQ(sample(text, "db_client_connection_max", o), static_cast<double>(p.max_size));
        EXPECT_EQ(sample(text, "db_client_connection_pending_requests", o), 0.0);
        EXPECT_EQ(sample(text, "db_client_connection_create_time_seconds_count", o),
                  static_cast<double>(p.created_total));
        // Every lease given back was timed.
        EXPECT_EQ(sample(text, "db_client_connection_use_time_seconds_count", o),
                  static_cast<double>(p.acquired_total - p.in_use));
    }
    // The load itself, exactly: one borrow per query or command, plus the held leases.
    auto pool = [&](const std::string& db, connmgr::flavour f) {
        for (const auto& p : after.pools)
            if (p.databases.at(0) == db && p.flavour == f) return p;
        ADD_FAILURE() << "no pool " << db;
        return connmgr::pool_stats{};
    };
    constexpr std::uint64_t per_flavour = workers * rounds;
    EXPECT_EQ(pool(prefix + "_pg", connmgr::flavour::sync).acquired_total, per_flavour + 2);
    EXPECT_EQ(pool(prefix + "_pg", connmgr::flavour::sync).in_use, 2u);
    EXPECT_EQ(pool(prefix + "_pg", connmgr::flavour::async).acquired_total, per_flavour);
    EXPECT_EQ(pool(prefix + "_redis", connmgr::flavour::sync).acquired_total, per_flavour);
    EXPECT_EQ(pool(prefix + "_redis", connmgr::flavour::async).acquired_total, per_flavour + 1);
    EXPECT_EQ(pool(prefix + "_redis", connmgr::flavour::async).in_use, 1u);

    // /stats: the same pools, and the leases out now with holder, flavour, database and age.
    const auto stats = http_get(address, "/stats");
    ASSERT_EQ(stats.status, 200) << stats.error;
    const auto doc = boost::json::parse(stats.body);
    EXPECT_EQ(doc.at("pools").as_array().size(), 4u);
    int report_jobs = 0;
    for (const auto& l : doc.at("leases").as_array()) {
        if (l.at("holder").as_string() != "report-job") continue;
        ++report_jobs;
        EXPECT_EQ(l.at("flavour").as_string(), "sync");
        EXPECT_EQ(l.at("database").as_string(), prefix + "_pg");
        EXPECT_GE(l.at("age_seconds").as_double(), 0.0);
    }
    EXPECT_EQ(report_jobs, 2);
    EXPECT_EQ(doc.at("leases").as_array().size(), 3u);

    const auto health = http_get(address, "/health");
    EXPECT_EQ(health.status, 200) << health.body;
    const auto h = boost::json::parse(health.body);
    EXPECT_TRUE(h.at("overall_healthy").as_bool());
    EXPECT_EQ(h.at("total_databases").as_int64(), 2);
}

TEST(Telemetry, HealthIs503WhenADatabaseIsDown) {
    connmgr::manager_config c;
    const std::string name = connmgr::test::unique_name("telemetry_down");
    auto db = connmgr::test::database(name, "redis://127.0.0.1:1/0");
    db.sync_pool.connect_timeout = std::chrono::milliseconds(500);
    db.async_pool.connect_timeout = std::chrono::milliseconds(500);
    c.databases.emplace(name, db);
    connmgr::manager m;
    m.configure(c);
    const auto address = m.serve_telemetry("127.0.0.1:0", connmgr::health_scope::all_configured);
    const auto r = http_get(address, "/health");
    EXPECT_EQ(r.status, 503) << r.error;
    EXPECT_EQ(r.content_type, "application/json");
    const auto doc = boost::json::parse(r.body);
    EXPECT_FALSE(doc.at("overall_healthy").as_bool());
    EXPECT_FALSE(doc.at("databases").at(name).at("healthy").as_bool());
    // The probe ran on the I/O thread without holding it: /metrics answered meanwhile too.
    EXPECT_EQ(http_get(address, "/metrics").status, 200);
}

TEST(Telemetry, BadRequestsGet4xxAndIdleConnectionsDoNotBlockPoolsOrScrapes) {
    const auto redis_url = env("CONNMGR_TEST_REDIS_URL");
    if (!redis_url) GTEST_SKIP() << "servers not configured";
    const std::string name = connmgr::test::unique_name("telemetry_bad");
    connmgr::manager_config c;
    c.databases.emplace(name, connmgr::test::database(name, *redis_url));
    connmgr::manager m;
    m.configure(c);
    const auto address = m.serve_telemetry("127.0.0.1:0");
    auto redis = m.get_client<connmgr::redis_client>(name);
    redis.command({"PING"});

    EXPECT_EQ(http_get(address, "/").status, 404);
    EXPECT_EQ(http_get(address, "/metrics/../secret").status, 404);
    EXPECT_EQ(http_request(address, "/metrics", http::verb::post).status, 405);
    EXPECT_EQ(http_request(address, "/stats", http::verb::put).status, 405);
    EXPECT_EQ(http_request(address, "/health", http::verb::delete_).status, 405);
    const auto huge =
        connmgr::test::http_raw(address, "GET /metrics HTTP/1.1\r\nHost: x\r\nX-Filler: " +
                                             std::string(std::size_t{1} << 20, 'a') + "\r\n\r\n");
    EXPECT_TRUE(huge.status == 431 || huge.status == 0) << huge.status;
    std::printf("1 MiB header: %s\n",
                huge.status ? "431" : ("connection closed (" + huge.error + ")").c_str());

    // 200 connections opened and held without a request.
    asio::io_context io;
    const auto [host, port] = connmgr::test::split_address(address);
    const asio::ip::tcp::endpoint target(asio::ip::make_address(host),
                                         static_cast<unsigned short>(std::stoi(port)));
    std::vector<asio::ip::tcp::socket> idle;
    for (int i = 0; i < 200; ++i) {
        idle.emplace_back(io);
        idle.back().connect(target);
    }
    // The pools keep serving.
    for (int i = 0; i < 20; ++i) EXPECT_NO_THROW(redis.command({"INCR", name}));
    // And a scrape still answers.
    const auto start = std::chrono::steady_clock::now();
    const auto scrape = http_get(address, "/metrics");
    const auto took =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start);
    EXPECT_EQ(scrape.status, 200) << scrape.error;
    EXPECT_NE(scrape.body.find("connmgr_pool_acquire_total{database=\"" + name), std::string::npos);
    std::printf("/metrics with 200 idle connections held: %.1f ms\n", took.count());
}

TEST(Telemetry, StopsOnCloseAllAndWithTheManager) {
    std::string address;
    {
        connmgr::manager m;
        address = m.serve_telemetry("127.0.0.1:0");
        EXPECT_EQ(m.telemetry_address(), address);
        EXPECT_EQ(http_get(address, "/metrics").status, 200);
        m.close_all();
        EXPECT_EQ(m.telemetry_address(), "");
        EXPECT_EQ(http_get(address, "/metrics").status, 0);
        address = m.serve_telemetry("127.0.0.1:0");
        EXPECT_EQ(http_get(address, "/stats").status, 200);
    }
    EXPECT_EQ(http_get(address, "/stats").status, 0);
}

TEST(Telemetry, AnAddressInUseIsAnErrorNamingIt) {
    connmgr::manager first;
    const auto address = first.serve_telemetry("127.0.0.1:0");
    connmgr::manager second;
    try {
        second.serve_telemetry(address);
        ADD_FAILURE() << "bound twice";
    } catch (const connmgr::error& e) {
        EXPECT_NE(std::string(e.what()).find("cannot listen on " + address), std::string::npos)
            << e.what();
    }
    EXPECT_THROW(second.serve_telemetry("example.com:80"), connmgr::config_error);
}

}  // namespace
