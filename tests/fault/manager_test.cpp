// health() and `connmgr check` while the Redis server is stopped, then started again.
#include "../integration/manager_support.hpp"

#include <connmgr/connmgr.hpp>

#include <boost/json.hpp>

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

using namespace std::chrono_literals;

namespace {

// Restarts Redis when the test ends, whatever it asserted.
struct redis_stopped {
    std::string services;
    explicit redis_stopped(std::string s) : services(std::move(s)) {
        connmgr::test::run(services + " stop redis >/dev/null 2>&1");
    }
    ~redis_stopped() { connmgr::test::run(services + " start redis >/dev/null 2>&1"); }
};

// The CLI of this build tree: tests/<binary> -> ../cmd/connmgr/connmgr.
std::string cli_path() {
    std::string self = std::filesystem::read_symlink("/proc/self/exe").parent_path();
    return self + "/../cmd/connmgr/connmgr";
}

int check_exit(const std::string& config) {
    const auto out = connmgr::test::run(cli_path() + " --config " + config +
                                        " check --json >/dev/null 2>&1; echo $?");
    return std::atoi(out.c_str());
}

}  // namespace

TEST(ManagerFault, RedisStoppedMakesOnlyItUnhealthy) {
    CONNMGR_REQUIRE_ENV(pg_url, "CONNMGR_TEST_PG_URL");
    CONNMGR_REQUIRE_ENV(redis_url, "CONNMGR_TEST_REDIS_URL");
    CONNMGR_REQUIRE_ENV(services, "CONNMGR_SERVICES");
    const auto prefix = connmgr::test::unique_name("mgr_fault");
    const std::string config = "/tmp/" + prefix + ".yaml";
    std::ofstream(config) << "databases:\n  " << prefix << "_pg: {url: \"" << pg_url << "\"}\n  "
                          << prefix << "_redis: {url: \"" << redis_url
                          << "\", pool: {connect_timeout: 1s}}\n";

    connmgr::manager m;
    connmgr::manager_config c;
    auto redis_db = connmgr::test::database(prefix + "_redis", redis_url);
    redis_db.sync_pool.connect_timeout = 1s;
    c.databases[prefix + "_pg"] = connmgr::test::database(prefix + "_pg", pg_url);
    c.databases[redis_db.name] = redis_db;
    m.configure(c);
    m.get_client<connmgr::redis_client>(prefix + "_redis").command({"PING"});
    { auto conn = m.get_client<connmgr::pg_client>(prefix + "_pg").acquire(); }

    ASSERT_TRUE(m.health().overall_healthy);
    EXPECT_EQ(check_exit(config), 0);
    {
        redis_stopped stopped(services);
        const auto h = m.health();
        EXPECT_FALSE(h.overall_healthy);
        EXPECT_EQ(h.total_databases, 2u);
        EXPECT_EQ(h.healthy_databases, 1u);
        for (const auto& d : h.databases)
            EXPECT_EQ(d.healthy, d.name == prefix + "_pg") << d.name << ": " << d.error;
        EXPECT_EQ(check_exit(config), 1);
        const auto s = m.stats();
        const auto prom = connmgr::to_prometheus(s);
        EXPECT_NE(
            prom.find("connmgr_database_up{database=\"" + prefix + "_redis\",backend=\"redis\"} 0"),
            std::string::npos)
            << prom;
    }
    // Started again: healthy, and the pool serves again (its broken connection replaced).
    const auto h = m.health();
    EXPECT_TRUE(h.overall_healthy);
    EXPECT_EQ(check_exit(config), 0);
    std::remove(config.c_str());
}
