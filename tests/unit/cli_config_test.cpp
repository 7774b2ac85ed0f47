// Runs the built `connmgr` binary: `connmgr config` output, exit codes and error messages.
#include "config_test_files.hpp"

#include <gtest/gtest.h>

#include <sys/wait.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

namespace connmgr {
namespace {

using test::temp_dir;

struct run_result {
    int exit_code{-1};
    std::string out;
    std::string err;
};

std::string quote(const std::string& s) {
    std::string q = "'";
    for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return q + "'";
}

std::string slurp(const std::filesystem::path& p) {
    std::ifstream in(p);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

// Runs connmgr with `args` and extra environment `env`, in `dir`; CONNMGR_CONFIG is cleared
// unless `env` sets it.
run_result run(const temp_dir& dir, const std::vector<std::string>& args,
               const std::map<std::string, std::string>& env = {}) {
    std::string cmd = "cd " + quote(dir.path().string()) + " && env -u CONNMGR_CONFIG";
    for (const auto& [k, v] : env) cmd += " " + quote(k + "=" + v);
    cmd += " " + quote(CONNMGR_CLI_PATH);
    for (const auto& a : args) cmd += " " + quote(a);
    cmd += " >stdout.txt 2>stderr.txt";
    const int status = std::system(cmd.c_str());
    run_result r;
    r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    r.out = slurp(dir.path() / "stdout.txt");
    r.err = slurp(dir.path() / "stderr.txt");
    return r;
}

#define EXPECT_CONTAINS(text, part) \
    EXPECT_NE(std::string(text).find(part), std::string::npos) << (text)

class ConnmgrConfig : public ::testing::Test {
protected:
    temp_dir dir;

    // `connmgr --config bad.yaml config` must exit 2 with `expected` on stderr and nothing on
    // stdout.
    std::string config_error(const std::string& yaml, const std::string& expected,
                             const std::map<std::string, std::string>& env = {}) {
        dir.write("bad.yaml", yaml);
        const auto r = run(dir, {"--config", "bad.yaml", "config"}, env);
        EXPECT_EQ(r.exit_code, 2) << r.err;
        EXPECT_EQ(r.out, "");
        EXPECT_CONTAINS(r.err, expected);
        return r.err;
    }
};

TEST_F(ConnmgrConfig, PrintsResolvedSettings) {
    dir.write("c.yaml",
              "databases:\n  app:\n    url: postgresql://u@h/db\n    pool:\n      max_size: 4\n"
              "      async: {max_size: 6}\n");
    const auto r = run(dir, {"--config", "c.yaml", "config"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_CONTAINS(r.out, "databases.app.url = postgresql://u@h:5432/db\n");
    EXPECT_CONTAINS(r.out, "databases.app.pool.sync.max_size = 4\n");
    EXPECT_CONTAINS(r.out, "databases.app.pool.async.max_size = 6\n");
    EXPECT_CONTAINS(r.out, "databases.app.pool.sync.acquire_timeout = 30s\n");
}

TEST_F(ConnmgrConfig, ShowOriginNamesFileLineAndEnv) {
    dir.write("c.yaml",
              "databases:\n  app:\n    url: postgresql://u@h/db\n    pool:\n      max_size: 4\n");
    const auto r = run(dir, {"--config", "c.yaml", "config", "--show-origin"},
                       {{"CONNMGR_DATABASES__APP__POOL__MIN_IDLE", "2"}});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.out.find("databases.app.pool.sync.max_size = 4"), std::string::npos);
    EXPECT_CONTAINS(r.out, "# c.yaml:5\n");
    EXPECT_CONTAINS(r.out, "# env:CONNMGR_DATABASES__APP__POOL__MIN_IDLE\n");
    EXPECT_CONTAINS(r.out, "# default\n");
}

TEST_F(ConnmgrConfig, JsonShape) {
    dir.write("c.yaml",
              "databases:\n  main:\n    url: redis://h/1\n    pool: {acquire_timeout: 250ms}\n");
    const auto r = run(dir, {"--config", "c.yaml", "config", "--json"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out.front(), '{');
    EXPECT_CONTAINS(r.out, R"("databases":{"main":{"url":"redis://h:6379/1","backend":"redis")");
    EXPECT_CONTAINS(r.out,
                    R"("pool":{"sync":{"min_idle":0,"max_size":20,"acquire_timeout":"250ms")");
    EXPECT_CONTAINS(r.out, R"("keepalive":{"idle":"10m","interval":"1m","count":5})");
    EXPECT_CONTAINS(r.out, R"("retry":{"attempts":5,"base_delay":"2s","max_delay":"30s"})");
    EXPECT_CONTAINS(r.out, R"("circuit_breaker":{"failure_threshold":5,"open_for":"1m"})");
    EXPECT_CONTAINS(r.out, R"("close_when_unreferenced":false)");
    EXPECT_CONTAINS(r.out, R"("defaults":{"pool":{"min_idle":0)");
}

TEST_F(ConnmgrConfig, JsonWithOrigins) {
    dir.write("c.yaml", "databases:\n  main:\n    url: redis://h/1\n");
    const auto r = run(dir, {"--config", "c.yaml", "config", "--json", "--show-origin"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_CONTAINS(r.out, R"("url":{"value":"redis://h:6379/1","origin":"c.yaml:3"})");
    EXPECT_CONTAINS(r.out, R"("max_size":{"value":20,"origin":"default"})");
}

// --changed: only the values that differ from the built-in defaults (a database's URL always),
// each with the file:line or variable that set it; a value set to its built-in default is not
// a change.
TEST_F(ConnmgrConfig, ChangedShowsOnlyNonDefaultsWithOrigin) {
    dir.write("c.yaml",
              "defaults:\n"
              "  pool: {max_size: 20, acquire_timeout: 5s}\n"
              "databases:\n"
              "  app:\n"
              "    url: postgresql://u:PW-CHANGED-1@h/db\n"
              "    pool:\n"
              "      async: {max_size: 6}\n");
    const std::map<std::string, std::string> env{{"CONNMGR_DATABASES__APP__RETRY__ATTEMPTS", "3"}};
    auto r = run(dir, {"--config", "c.yaml", "config", "--changed"}, env);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    std::vector<std::string> lines;
    std::istringstream in(r.out);
    for (std::string l; std::getline(in, l);) lines.push_back(l);
    const std::vector<std::pair<std::string, std::string>> expected{
        {"databases.app.url = postgresql://u:***@h:5432/db", "# c.yaml:5"},
        {"databases.app.pool.sync.acquire_timeout = 5s", "# c.yaml:2"},
        {"databases.app.pool.async.max_size = 6", "# c.yaml:7"},
        {"databases.app.pool.async.acquire_timeout = 5s", "# c.yaml:2"},
        {"databases.app.retry.attempts = 3", "# env:CONNMGR_DATABASES__APP__RETRY__ATTEMPTS"},
        {"defaults.pool.acquire_timeout = 5s", "# c.yaml:2"},
    };
    ASSERT_EQ(lines.size(), expected.size()) << r.out;
    for (const auto& [setting, origin] : expected) {
        const auto line = std::find_if(lines.begin(), lines.end(), [&](const std::string& l) {
            return l.rfind(setting + " ", 0) == 0;
        });
        ASSERT_NE(line, lines.end()) << setting << " missing from\n" << r.out;
        EXPECT_EQ(line->substr(line->size() - origin.size()), origin) << *line;
    }
    EXPECT_EQ(r.out.find("max_size = 20"), std::string::npos) << r.out;
    EXPECT_EQ(r.out.find("PW-CHANGED-1"), std::string::npos) << r.out;

    r = run(dir, {"--config", "c.yaml", "config", "--changed", "--json"}, env);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(
        r.out,
        R"({"databases":{"app":{"url":{"value":"postgresql://u:***@h:5432/db","origin":)"
        R"("c.yaml:5"},"pool":{"sync":{"acquire_timeout":{"value":"5s","origin":"c.yaml:2"}},)"
        R"("async":{"max_size":{"value":6,"origin":"c.yaml:7"},"acquire_timeout":{"value":)"
        R"("5s","origin":"c.yaml:2"}}},"retry":{"attempts":{"value":3,"origin":)"
        R"("env:CONNMGR_DATABASES__APP__RETRY__ATTEMPTS"}}}},"defaults":{"pool":)"
        R"({"acquire_timeout":{"value":"5s","origin":"c.yaml:2"}}}})"
        "\n");

    // Nothing configured: nothing changed.
    r = run(dir, {"config", "--changed"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out, "# every value is a built-in default\n");
    r = run(dir, {"config", "--changed", "--json"});
    EXPECT_EQ(r.out, "{}\n");
}

TEST_F(ConnmgrConfig, ConnmgrConfigVariableWithTwoFiles) {
    dir.write("a.yaml", "databases:\n  main:\n    url: redis://h/1\n");
    dir.write("b.yaml", "databases:\n  main:\n    pool: {max_size: 3}\n");
    const auto r = run(dir, {"config"}, {{"CONNMGR_CONFIG", "a.yaml:b.yaml"}});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_CONTAINS(r.out, "databases.main.pool.sync.max_size = 3\n");
}

TEST_F(ConnmgrConfig, UsageErrorsExitTwo) {
    EXPECT_EQ(run(dir, {}).exit_code, 2);
    EXPECT_EQ(run(dir, {"frobnicate"}).exit_code, 2);
    EXPECT_EQ(run(dir, {"config", "--bogus"}).exit_code, 2);
    EXPECT_EQ(run(dir, {"config", "extra"}).exit_code, 2);
    EXPECT_EQ(run(dir, {"--config"}).exit_code, 2);
    EXPECT_EQ(run(dir, {"--log-level", "loud", "config"}).exit_code, 2);
    EXPECT_EQ(run(dir, {"--log-level", "debug", "config"}).exit_code, 0);
    EXPECT_EQ(run(dir, {"--help"}).exit_code, 0);
}

// Every command's --help and -h print its usage and options on stdout and exit 0, before
// any configuration is read; every option of the command's synopsis is described.
TEST_F(ConnmgrConfig, EveryCommandHasHelp) {
    const std::map<std::string, std::vector<std::string>> options{
        {"config", {"--show-origin", "--changed", "--json"}},
        {"check", {"--json"}},
        {"bench",
         {"--clients", "--requests", "--duration", "--flavour", "--command", "--pipeline",
          "--graph", "--no-warmup", "--serve", "--json"}},
        {"serve", {"--listen"}},
        {"stats", {"--json", "--watch", "--url"}},
    };
    for (const auto& [command, described] : options) {
        for (const char* flag : {"--help", "-h"}) {
            SCOPED_TRACE(command + " " + flag);
            // A configuration that does not exist: help must not need one.
            const auto r = run(dir, {"--config", "missing.yaml", command, flag});
            EXPECT_EQ(r.exit_code, 0) << r.err;
            EXPECT_EQ(r.err, "");
            EXPECT_EQ(
                r.out.rfind(
                    "usage: connmgr [--config FILE]... [--log-level LEVEL] " + command + " ", 0),
                0u)
                << r.out;
            EXPECT_CONTAINS(r.out, "-h, --help");
            for (const auto& option : described) EXPECT_CONTAINS(r.out, "  " + option + " ");
        }
    }
    // After other arguments too.
    auto r = run(dir, {"bench", "app", "--clients", "4", "--help"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_CONTAINS(r.out, "--no-warmup");
    // The value of an option is not an option: here -h is the SQL text, and the run goes on
    // to read the (missing) configuration.
    r = run(dir, {"--config", "missing.yaml", "bench", "app", "--command", "-h"});
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_EQ(r.out, "");
    EXPECT_CONTAINS(r.err, "missing.yaml: cannot open config file");
    // A bad option still names the way to the help.
    r = run(dir, {"bench", "app", "--bogus"});
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_CONTAINS(r.err, "unknown option '--bogus'");
    EXPECT_CONTAINS(r.err, "connmgr bench --help");
}

TEST_F(ConnmgrConfig, TopLevelHelp) {
    for (const char* flag : {"--help", "-h"}) {
        const auto r = run(dir, {flag});
        EXPECT_EQ(r.exit_code, 0) << r.err;
        EXPECT_EQ(r.out.rfind("usage: connmgr [--config FILE]...", 0), 0u) << r.out;
        for (const char* command : {"bench", "check", "config", "serve", "stats"})
            EXPECT_CONTAINS(r.out, std::string("\n  ") + command + " ");
        EXPECT_CONTAINS(r.out, "'connmgr COMMAND --help'");
    }
}

TEST_F(ConnmgrConfig, BadLogLevel) {
    config_error(
        "runtime:\n  log_level: loud\n",
        "bad.yaml:2:3: runtime.log_level: expected debug, info, warn or error, got 'loud'");
}

// --log-level overrides runtime.log_level, and `config` says so.
TEST_F(ConnmgrConfig, LogLevelOptionOverridesTheFile) {
    dir.write("c.yaml", "runtime:\n  log_level: warn\n");
    auto r = run(dir, {"--config", "c.yaml", "config", "--show-origin"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_CONTAINS(r.out, "runtime.log_level = warn");
    EXPECT_CONTAINS(r.out, "# c.yaml:2\n");
    r = run(dir, {"--config", "c.yaml", "--log-level", "error", "config", "--changed"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_CONTAINS(r.out, "runtime.log_level = error");
    EXPECT_CONTAINS(r.out, "# --log-level\n");
    r = run(dir, {"--log-level=trace", "config", "--json"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_CONTAINS(r.out, R"("log_level":"trace")");
}

TEST_F(ConnmgrConfig, MalformedYaml) {
    config_error("databases:\n  app: {url: x\n  b: [\n", "bad.yaml:");
    const auto err = config_error("databases:\n  app:\n    url: [a, b\n", "malformed YAML");
    EXPECT_CONTAINS(err, "bad.yaml:4:1: malformed YAML: end of sequence flow not found");
}

TEST_F(ConnmgrConfig, UnknownKeyWithHint) {
    config_error("databases:\n  app:\n    url: postgresql://u@h/db\n    pool:\n      max_siz: 4\n",
                 "bad.yaml:5:7: databases.app.pool.max_siz: unknown key 'max_siz' (did you mean "
                 "'max_size'?)");
}

TEST_F(ConnmgrConfig, UnknownTopLevelKeyListsKnownKeys) {
    config_error("databasez: {}\n",
                 "bad.yaml:1:1: databasez: unknown key 'databasez' (did you mean 'databases'?)");
}

TEST_F(ConnmgrConfig, WrongType) {
    config_error(
        "databases:\n  app:\n    url: postgresql://u@h/db\n    pool:\n      max_size: many\n",
        "bad.yaml:5:7: databases.app.pool.max_size: expected a non-negative integer, got 'many'");
    config_error("defaults:\n  pool: 5\n", "bad.yaml:2:3: defaults.pool: expected a map");
    config_error("databases:\n  app:\n    url: [x]\n",
                 "bad.yaml:3:5: databases.app.url: expected a URL string, got a list");
}

TEST_F(ConnmgrConfig, NegativeSize) {
    config_error("defaults:\n  pool:\n    max_waiters: -3\n",
                 "bad.yaml:3:5: defaults.pool.max_waiters: must not be negative, got '-3'");
}

TEST_F(ConnmgrConfig, MinIdleAboveMaxSize) {
    config_error(
        "databases:\n  app:\n    url: postgresql://u@h/db\n    pool:\n      max_size: 4\n"
        "      min_idle: 8\n",
        "bad.yaml:6:7: databases.app.pool.min_idle: 8 > max_size 4");
}

TEST_F(ConnmgrConfig, MinIdleAboveMaxSizeInOneFlavour) {
    config_error(
        "databases:\n  app:\n    url: postgresql://u@h/db\n    pool:\n      min_idle: 8\n"
        "      async: {max_size: 4}\n",
        "bad.yaml:5:7: databases.app.pool.min_idle: 8 > max_size 4");
}

TEST_F(ConnmgrConfig, BadDuration) {
    config_error("defaults:\n  pool:\n    acquire_timeout: 5 parsecs\n",
                 "bad.yaml:3:5: defaults.pool.acquire_timeout: invalid duration '5 parsecs'");
}

TEST_F(ConnmgrConfig, BadUrl) {
    config_error("databases:\n  main:\n    url: redis://h/notadb\n",
                 "bad.yaml:3:5: databases.main.url: invalid URL");
}

TEST_F(ConnmgrConfig, UnsupportedScheme) {
    config_error("databases:\n  legacy:\n    url: mysql://u@h/db\n",
                 "bad.yaml:3:5: databases.legacy.url: invalid URL: unsupported scheme 'mysql'");
}

TEST_F(ConnmgrConfig, SameUrlDifferentOptions) {
    const auto err = config_error(
        "databases:\n  a:\n    url: postgresql://u:pw1@h/db\n  b:\n"
        "    url: postgres://u:pw1@H:5432/db\n    pool: {max_size: 3}\n",
        "bad.yaml:5:5: databases.b.url: databases.a (bad.yaml:3:5) and databases.b have the same "
        "URL");
    EXPECT_EQ(err.find("pw1"), std::string::npos);
}

TEST_F(ConnmgrConfig, MissingConfigFile) {
    const auto r = run(dir, {"--config", "nope.yaml", "config"});
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_CONTAINS(r.err, "nope.yaml: cannot open config file");
}

TEST_F(ConnmgrConfig, UnsetVariable) {
    config_error("databases:\n  app:\n    url: postgresql://u:${NOPE_PW}@h/db\n",
                 "bad.yaml:3:5: databases.app.url: environment variable 'NOPE_PW' is not set");
}

// Passwords put in a file, in an environment override and through interpolation never show
// in any output form.
TEST_F(ConnmgrConfig, NoOutputShowsAPassword) {
    dir.write("c.yaml",
              "databases:\n"
              "  file_pg: {url: 'postgresql://u:FILE-PW-1@h/db'}\n"
              "  file_pgq: {url: 'postgresql://u@h/db2?password=FILE-PW-2'}\n"
              "  file_redis: {url: 'redis://user:FILE-PW-3@h/0'}\n"
              "  interp: {url: 'rediss://:${SECRET_PW}@h/0'}\n"
              "  from_env: {url: 'redis://placeholder/0'}\n");
    const std::map<std::string, std::string> env{
        {"SECRET_PW", "INTERP-PW-4"},
        {"CONNMGR_DATABASES__FROM_ENV__URL", "postgresql://x:ENV-PW-5@h/db3"}};
    const std::vector<std::vector<std::string>> forms{
        {"--config", "c.yaml", "config"},
        {"--config", "c.yaml", "config", "--show-origin"},
        {"--config", "c.yaml", "config", "--json"},
        {"--config", "c.yaml", "config", "--json", "--show-origin"}};
    for (const auto& args : forms) {
        const auto r = run(dir, args, env);
        EXPECT_EQ(r.exit_code, 0) << r.err;
        EXPECT_CONTAINS(r.out, "***");
        EXPECT_CONTAINS(r.out, "postgresql://x:***@h:5432/db3");
        for (const char* pw : {"FILE-PW-1", "FILE-PW-2", "FILE-PW-3", "INTERP-PW-4", "ENV-PW-5"}) {
            EXPECT_EQ(r.out.find(pw), std::string::npos) << pw << " in\n" << r.out;
            EXPECT_EQ(r.err.find(pw), std::string::npos) << pw;
        }
    }
}

TEST_F(ConnmgrConfig, NoErrorShowsAPassword) {
    const std::vector<std::string> bad_urls{
        "mysql://u:ERR-PW@h/db",           "redis://u:ERR-PW@h/x",
        "redis://u:ERR-PW@h:99999/0",      "postgresql://u:ERR-PW@h:0/db",
        "postgresql://u:ERR-PW@h/db?zz=1", "redis://u:ERR-PW@h/0?zz=1",
    };
    for (const auto& url : bad_urls) {
        const auto err = config_error("databases:\n  x:\n    url: '" + url + "'\n",
                                      "bad.yaml:3:5: databases.x.url: invalid URL");
        EXPECT_EQ(err.find("ERR-PW"), std::string::npos) << err;
    }
    // A URL where a map belongs, or where a number belongs.
    auto misplaced = config_error("databases:\n  x: 'postgresql://u:MISPLACED-PW@h/db'\n",
                                  "bad.yaml:2:3: databases.x: expected a map");
    EXPECT_EQ(misplaced.find("MISPLACED-PW"), std::string::npos) << misplaced;
    misplaced = config_error("defaults:\n  pool:\n    max_size: 'redis://:MISPLACED-PW@h'\n",
                             "bad.yaml:3:5: defaults.pool.max_size: expected a non-negative");
    EXPECT_EQ(misplaced.find("MISPLACED-PW"), std::string::npos) << misplaced;
    // Through interpolation and an environment override.
    auto err = config_error("databases:\n  x:\n    url: 'mysql://u:${P}@h/db'\n",
                            "unsupported scheme", {{"P", "INTERP-ERR-PW"}});
    EXPECT_EQ(err.find("INTERP-ERR-PW"), std::string::npos) << err;
    err = config_error("databases: {}\n", "env:CONNMGR_DATABASES__X__URL",
                       {{"CONNMGR_DATABASES__X__URL", "redis://u:ENV-ERR-PW@h/abc"}});
    EXPECT_EQ(err.find("ENV-ERR-PW"), std::string::npos) << err;
}

}  // namespace
}  // namespace connmgr
