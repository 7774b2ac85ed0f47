// `connmgr check` on a multi-host PostgreSQL database (DESIGN §12, issue 21): every server is
// probed and listed with its state, and the database is healthy when one fits its target.
// Stops nodes of the pg-ha topology (tests/support/pg_ha.hpp); skips unless
// `scripts/services.sh start pg-ha` ran and `scripts/services.sh env` was evaluated.
#include "../integration/http_client.hpp"
#include "pg_ha.hpp"

#include <connmgr/connmgr.hpp>

#include <boost/json.hpp>

#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <regex>
#include <string>

namespace connmgr::test {
namespace {

::testing::AssertionResult done(const command_result& r) {
    if (r.ok) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << r.output;
}

struct cli_result {
    int exit_code{-1};
    std::string out;  ///< stdout and stderr
};

#ifdef CONNMGR_CLI_PATH
cli_result connmgr_cli(const std::string& args) {
    cli_result r;
    if (FILE* p = ::popen((std::string(CONNMGR_CLI_PATH) + " " + args + " 2>&1").c_str(), "r")) {
        char buf[4096];
        std::size_t n = 0;
        while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, n);
        const int status = ::pclose(p);
        if (WIFEXITED(status)) r.exit_code = WEXITSTATUS(status);
    }
    return r;
}
#endif

std::string server(int node) { return "127.0.0.1:" + std::to_string(pg_ha_port(node)); }

// The "servers" of database `name` in check's JSON, as "state" per server, in URL order.
std::vector<std::string> states(const boost::json::value& doc, const std::string& name) {
    std::vector<std::string> out;
    for (const auto& sv : doc.at("databases").at(name).at("servers").as_array())
        out.emplace_back(sv.at("state").as_string());
    return out;
}

class PgHaCheck : public ::testing::Test {
protected:
    void SetUp() override {
#ifndef CONNMGR_CLI_PATH
        GTEST_SKIP() << "built without the CLI";
#endif
        if (pg_ha_url().empty() || !services_script())
            GTEST_SKIP() << "CONNMGR_TEST_PG_HA_URL or CONNMGR_SERVICES is not set";
        // The test before may have left a node stopped or promoted: reset, then check.
        const auto reset = pg_ha("reset");
        if (!reset.ok && reset.output.find("not created") != std::string::npos)
            GTEST_SKIP() << "pg-ha is not running (scripts/services.sh start pg-ha)";
        reset_at_end_ = true;
        ASSERT_TRUE(done(reset));
        ASSERT_TRUE(pg_ha_available());
        config_ = "/tmp/connmgr-pg-ha-check-" + std::to_string(::getpid()) + ".yaml";
        std::ofstream out(config_);
        out << "databases:\n"
            << "  ha: {url: \"" << pg_ha_url() << "?target_session_attrs=read-write\"}\n"
            << "  ha_standby: {url: \"" << pg_ha_url() << "?target_session_attrs=standby\"}\n";
    }
    void TearDown() override {
        if (!config_.empty()) std::remove(config_.c_str());
        if (reset_at_end_) {
            EXPECT_TRUE(done(pg_ha("reset")));  // the topology as found
        }
    }

#ifdef CONNMGR_CLI_PATH
    cli_result check(const std::string& args) {
        auto r = connmgr_cli("--config " + config_ + " check " + args);
        EXPECT_EQ(r.out.find("connmgr-secret"), std::string::npos) << "a password: " << r.out;
        return r;
    }
#endif

    std::string config_;
    bool reset_at_end_{false};
};

TEST_F(PgHaCheck, ListsEveryServerWithItsStateAndFitsTheTarget) {
#ifdef CONNMGR_CLI_PATH
    // All up: node 0 primary, 1 and 2 standbys.
    auto json = check("ha ha_standby --json");
    ASSERT_EQ(json.exit_code, 0) << json.out;
    auto doc = boost::json::parse(json.out);
    EXPECT_TRUE(doc.at("overall_healthy").as_bool());
    const std::vector<std::string> all_up{"primary", "standby", "standby"};
    EXPECT_EQ(states(doc, "ha"), all_up);
    EXPECT_EQ(states(doc, "ha_standby"), all_up);
    const auto& servers = doc.at("databases").at("ha").at("servers").as_array();
    for (int i = 0; i < 3; ++i) {
        const auto& sv = servers[static_cast<std::size_t>(i)].as_object();
        EXPECT_EQ(sv.at("server").as_string(), server(i));
        EXPECT_TRUE(sv.at("healthy").as_bool());
        EXPECT_TRUE(sv.at("error").is_null());
    }
    auto text = check("ha");
    EXPECT_EQ(text.exit_code, 0) << text.out;
    EXPECT_TRUE(std::regex_search(text.out, std::regex(server(0) + " +primary +ok\n"))) << text.out;
    EXPECT_TRUE(std::regex_search(text.out, std::regex(server(1) + " +standby +ok\n"))) << text.out;
    EXPECT_TRUE(std::regex_search(text.out, std::regex(server(2) + " +standby +ok\n"))) << text.out;

    // Node 2 down: listed down with its error, and read-write still fits node 0.
    ASSERT_TRUE(done(pg_ha("stop", {"2", "fast"})));
    json = check("ha --json");
    EXPECT_EQ(json.exit_code, 0) << json.out;
    doc = boost::json::parse(json.out);
    EXPECT_TRUE(doc.at("databases").at("ha").at("healthy").as_bool());
    EXPECT_EQ(states(doc, "ha"), (std::vector<std::string>{"primary", "standby", "down"}));
    const auto& down = doc.at("databases").at("ha").at("servers").as_array()[2].as_object();
    EXPECT_FALSE(down.at("healthy").as_bool());
    ASSERT_TRUE(down.at("error").is_string());
    const std::string error(down.at("error").as_string());
    EXPECT_NE(error.find(std::to_string(pg_ha_port(2))), std::string::npos) << error;
    text = check("ha");
    EXPECT_EQ(text.exit_code, 0) << text.out;
    EXPECT_TRUE(std::regex_search(text.out, std::regex(server(0) + " +primary +ok\n"))) << text.out;
    EXPECT_TRUE(std::regex_search(text.out, std::regex(server(2) + " +down +\\S.*\n"))) << text.out;
    EXPECT_FALSE(std::regex_search(text.out, std::regex(server(2) + " +down +ok"))) << text.out;

    // Both standbys down: nothing fits target_session_attrs=standby.
    ASSERT_TRUE(done(pg_ha("stop", {"1", "fast"})));
    json = check("ha_standby --json");
    EXPECT_EQ(json.exit_code, 1) << json.out;
    doc = boost::json::parse(json.out);
    EXPECT_FALSE(doc.at("overall_healthy").as_bool());
    const auto& db = doc.at("databases").at("ha_standby");
    EXPECT_FALSE(db.at("healthy").as_bool());
    EXPECT_NE(std::string(db.at("error").as_string()).find("target_session_attrs=standby"),
              std::string::npos)
        << json.out;
    EXPECT_EQ(states(doc, "ha_standby"), (std::vector<std::string>{"primary", "down", "down"}));
    text = check("ha_standby");
    EXPECT_EQ(text.exit_code, 1) << text.out;
    EXPECT_NE(text.out.find("UNHEALTHY"), std::string::npos) << text.out;
    // ...while read-write, on the same servers, still fits the primary.
    EXPECT_EQ(check("ha --json").exit_code, 0);
#endif
}

// GET /health probes without blocking (async_driver::async_probe_hosts): the same servers.
TEST_F(PgHaCheck, HealthEndpointListsEveryServerProbedWithoutBlocking) {
    manager_config c;
    database_config db;
    db.name = "ha_http";
    db.url = db_url::parse(pg_ha_url() + "?target_session_attrs=read-write");
    db.async_pool.connect_timeout = std::chrono::seconds(2);
    c.databases.emplace(db.name, db);
    manager m;
    m.configure(c);
    const auto address = m.serve_telemetry("127.0.0.1:0", health_scope::all_configured);

    ASSERT_TRUE(done(pg_ha("stop", {"2", "fast"})));
    const auto reply = http_get(address, "/health");
    ASSERT_EQ(reply.status, 200) << reply.error << reply.body;
    const auto doc = boost::json::parse(reply.body);
    EXPECT_EQ(states(doc, "ha_http"), (std::vector<std::string>{"primary", "standby", "down"}));
    const auto& servers = doc.at("databases").at("ha_http").at("servers").as_array();
    EXPECT_EQ(servers[0].at("server").as_string(), server(0));
    EXPECT_TRUE(servers[0].at("healthy").as_bool());
    EXPECT_FALSE(servers[2].at("healthy").as_bool());
    EXPECT_NE(std::string(servers[2].at("error").as_string()).find(std::to_string(pg_ha_port(2))),
              std::string::npos)
        << reply.body;
    EXPECT_EQ(reply.body.find("connmgr-secret"), std::string::npos) << reply.body;

    // Node 0 down too: nothing fits read-write, 503.
    ASSERT_TRUE(done(pg_ha("stop", {"0", "fast"})));
    const auto down = http_get(address, "/health");
    EXPECT_EQ(down.status, 503) << down.body;
    const auto d = boost::json::parse(down.body);
    EXPECT_EQ(states(d, "ha_http"), (std::vector<std::string>{"down", "standby", "down"}));
    EXPECT_NE(std::string(d.at("databases").at("ha_http").at("error").as_string())
                  .find("no server fits target_session_attrs=read-write"),
              std::string::npos)
        << down.body;
    m.close_all();
}

}  // namespace
}  // namespace connmgr::test
