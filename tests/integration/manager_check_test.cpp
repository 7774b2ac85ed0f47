// `connmgr check` as a user runs it: exit codes and the JSON of DESIGN §8.
#include "manager_support.hpp"

#include <boost/json.hpp>

#include <gtest/gtest.h>

#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

namespace {

// The CLI of this build tree: tests/<binary> -> ../cmd/connmgr/connmgr.
std::string cli_path() {
    std::string self = std::filesystem::read_symlink("/proc/self/exe").parent_path();
    return self + "/../cmd/connmgr/connmgr";
}

struct cli_result {
    int exit_code;
    std::string out;
};

cli_result run_cli(const std::string& args) {
    const std::string out =
        connmgr::test::run(cli_path() + " " + args + " 2>/dev/null; echo \"#rc=$?\"");
    const auto at = out.rfind("#rc=");
    return {std::atoi(out.c_str() + at + 4), out.substr(0, at)};
}

std::string write_config(const std::string& name, const std::string& body) {
    const std::string path = "/tmp/" + name + ".yaml";
    std::ofstream(path) << body;
    return path;
}

}  // namespace

TEST(ManagerCheckCli, AllUpExitsZeroOneDownExitsOne) {
    CONNMGR_REQUIRE_ENV(pg_url, "CONNMGR_TEST_PG_URL");
    CONNMGR_REQUIRE_ENV(redis_url, "CONNMGR_TEST_REDIS_URL");
    const auto prefix = connmgr::test::unique_name("mgr_check");
    const auto path = write_config(prefix,
                                   "databases:\n"
                                   "  " +
                                       prefix + "_pg: {url: \"" + pg_url +
                                       "\"}\n"
                                       "  " +
                                       prefix + "_redis: {url: \"" + redis_url +
                                       "\"}\n"
                                       "  " +
                                       prefix +
                                       "_down:\n"
                                       "    url: \"redis://127.0.0.1:1/0\"\n"
                                       "    pool: {connect_timeout: 1s}\n");

    auto r = run_cli("--config " + path + " check " + prefix + "_pg " + prefix + "_redis");
    EXPECT_EQ(r.exit_code, 0) << r.out;
    EXPECT_NE(r.out.find("healthy"), std::string::npos) << r.out;

    r = run_cli("--config " + path + " check --json");
    EXPECT_EQ(r.exit_code, 1) << r.out;
    const auto doc = boost::json::parse(r.out);
    EXPECT_EQ(doc.at("overall_healthy").as_bool(), false);
    EXPECT_EQ(doc.at("total_databases").as_int64(), 3);
    EXPECT_EQ(doc.at("healthy_databases").as_int64(), 2);
    const auto& dbs = doc.at("databases").as_object();
    const auto& pg = dbs.at(prefix + "_pg").as_object();
    EXPECT_TRUE(pg.at("healthy").as_bool());
    EXPECT_EQ(pg.at("backend").as_string(), "postgres");
    EXPECT_EQ(std::string(pg.at("url").as_string()).find("connmgr-secret"), std::string::npos);
    EXPECT_TRUE(pg.contains("latency_ms"));
    EXPECT_TRUE(pg.contains("error"));
    EXPECT_FALSE(dbs.at(prefix + "_down").at("healthy").as_bool());
    EXPECT_EQ(r.out.find("connmgr-secret"), std::string::npos);

    r = run_cli("--config " + path + " check no_such_database");
    EXPECT_EQ(r.exit_code, 2) << r.out;
    r = run_cli("--config " + path + " check --bogus");
    EXPECT_EQ(r.exit_code, 2) << r.out;
    std::remove(path.c_str());
}
