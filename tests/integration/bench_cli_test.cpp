// `connmgr bench` end to end: the built binary against the servers of scripts/services.sh,
// sync and async, PostgreSQL, Redis and FalkorDB, for the seed load plans; assertions on its
// JSON and, for FalkorDB, on the server's CLIENT LIST while the run lasts.
#include <gtest/gtest.h>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include <sys/wait.h>

#include <csignal>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <ostream>
#include <string>
#include <thread>
#include <vector>

namespace {

namespace fs = std::filesystem;
namespace json = boost::json;

struct process_output {
    int exit_code{-1};
    std::string out;
};

// Runs a shell command; stdout is captured, stderr goes to the test's log.
process_output run(const std::string& command) {
    process_output r;
    FILE* pipe = ::popen(command.c_str(), "r");
    if (pipe == nullptr) return r;
    char buf[4096];
    for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, pipe)) > 0;) r.out.append(buf, n);
    const int status = ::pclose(pipe);
    r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return r;
}

const char* env(const char* name) {
    const char* v = std::getenv(name);
    return v != nullptr && *v != '\0' ? v : nullptr;
}

fs::path connmgr_binary() {
#ifdef CONNMGR_CLI_PATH
    return CONNMGR_CLI_PATH;
#else
    return "connmgr";  // not built: the tests fail on its absence
#endif
}

struct load_plan {
    const char* name;
    std::size_t clients;
    std::size_t requests;
    bool burst;  // cold start: no warm-up, the waiters queue behind 20 connections
};

struct bench_case {
    const char* backend;  // "postgres" | "redis" | "falkordb"
    const char* flavour;
    load_plan plan;
};

void PrintTo(const bench_case& c, std::ostream* os) {
    *os << c.backend << "/" << c.flavour << "/" << c.plan.name;
}

std::string case_name(const testing::TestParamInfo<bench_case>& info) {
    return std::string(info.param.backend) + "_" + info.param.flavour + "_" + info.param.plan.name;
}

constexpr std::size_t max_size = 20;

class BenchCli : public testing::TestWithParam<bench_case> {
protected:
    void SetUp() override {
        pg_url_ = env("CONNMGR_TEST_PG_URL");
        redis_url_ = env("CONNMGR_TEST_REDIS_URL");
        falkordb_url_ = env("CONNMGR_TEST_FALKORDB_URL");
        if (pg_url_ == nullptr || redis_url_ == nullptr)
            GTEST_SKIP() << "CONNMGR_TEST_PG_URL / CONNMGR_TEST_REDIS_URL not set";
        if (std::string(GetParam().backend) == "falkordb" && falkordb_url_ == nullptr) {
            const char* why = env("CONNMGR_TEST_FALKORDB_UNAVAILABLE");
            GTEST_SKIP() << "CONNMGR_TEST_FALKORDB_URL not set: "
                         << (why != nullptr ? why : "no FalkorDB from scripts/services.sh");
        }
        ASSERT_TRUE(fs::exists(connmgr_binary())) << connmgr_binary();
        dir_ = fs::temp_directory_path() /
               ("connmgr-bench-" + std::to_string(::getpid()) + "-" + case_name({GetParam(), 0}));
        fs::create_directories(dir_);
        std::ofstream yaml(dir_ / "bench.yaml");
        yaml << "defaults:\n"
             << "  pool: {max_size: " << max_size << ", acquire_timeout: 10s}\n"
             << "databases:\n"
             << "  bench_pg: {url: \"" << pg_url_ << "\"}\n"
             << "  bench_redis: {url: \"" << redis_url_ << "\"}\n";
        if (falkordb_url_ != nullptr) yaml << "  bench_graph: {url: \"" << falkordb_url_ << "\"}\n";
    }
    void TearDown() override {
        std::error_code ec;
        if (!dir_.empty()) fs::remove_all(dir_, ec);
    }

    // One `connmgr bench --json` run; its exit code and parsed document.
    std::pair<int, json::object> bench(const bench_case& c, std::size_t clients,
                                       std::size_t requests, bool warmup) {
        const std::string backend = c.backend;
        const std::string db = backend == "postgres" ? "bench_pg"
                               : backend == "redis"  ? "bench_redis"
                                                     : "bench_graph";
        std::string cmd = "'" + connmgr_binary().string() + "' --config '" +
                          (dir_ / "bench.yaml").string() + "' bench " + db + " --clients " +
                          std::to_string(clients) + " --requests " + std::to_string(requests) +
                          " --flavour " + c.flavour + " --json" + (warmup ? "" : " --no-warmup");
        const auto r = run(cmd);
        json::value v;
        try {
            v = json::parse(r.out);
        } catch (const std::exception& e) {
            ADD_FAILURE() << cmd << ": not JSON (" << e.what() << "): " << r.out;
            return {r.exit_code, {}};
        }
        EXPECT_TRUE(v.is_object()) << r.out;
        return {r.exit_code, v.is_object() ? v.as_object() : json::object{}};
    }

    const char* pg_url_{nullptr};
    const char* redis_url_{nullptr};
    const char* falkordb_url_{nullptr};
    fs::path dir_;
};

std::uint64_t count_errors(const json::object& doc) {
    std::uint64_t n = 0;
    for (const auto& [name, count] : doc.at("errors").as_object())
        n += count.to_number<std::uint64_t>();
    return n;
}

// The most connections named `name` the server at `url` (scheme://host:port) listed at once
// while `run` ran. One redis-cli repeats CLIENT LIST over one connection every millisecond
// (a process per sample would miss a run that lasts 100 ms); a sample ends where the ids,
// which the server lists in ascending order, start over.
template <class Run>
std::size_t peak_clients_while(const std::string& url, const std::string& name, Run run) {
    const auto hostport = url.substr(url.find("://") + 3);
    const auto colon = hostport.rfind(':');
    const std::string cli = "exec redis-cli -h " + hostport.substr(0, colon) + " -p " +
                            std::to_string(std::stoi(hostport.substr(colon + 1))) +
                            " -r -1 -i 0.001 CLIENT LIST";
    FILE* pipe = ::popen(("echo $$; " + cli).c_str(), "r");
    if (pipe == nullptr) return 0;
    char buf[4096];
    const pid_t pid = std::fgets(buf, sizeof buf, pipe) != nullptr ? std::atoi(buf) : 0;
    std::atomic<std::size_t> peak{0};
    std::atomic<std::size_t> samples{0};
    std::thread sampler([&] {
        long last_id = -1;
        std::size_t n = 0;
        while (std::fgets(buf, sizeof buf, pipe) != nullptr) {
            const std::string line = buf;
            if (line.rfind("id=", 0) != 0) continue;
            const long id = std::atol(line.c_str() + 3);
            if (id <= last_id) {  // the next sample
                peak = std::max(peak.load(), n);
                ++samples;
                n = 0;
            }
            last_id = id;
            if (line.find(" name=" + name + " ") != std::string::npos) ++n;
        }
        peak = std::max(peak.load(), n);
    });
    while (samples == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    run();
    if (pid > 0) ::kill(pid, SIGTERM);
    sampler.join();
    ::pclose(pipe);
    return peak;
}

TEST_P(BenchCli, CountsAddUpAndThePoolStaysBounded) {
    const bench_case& c = GetParam();
    const bool graph = std::string(c.backend) == "falkordb";
    std::pair<int, json::object> first;
    const auto run_plan = [&] { first = bench(c, c.plan.clients, c.plan.requests, !c.plan.burst); };
    std::size_t peak_clients = 0;
    if (graph) {
        peak_clients = peak_clients_while(falkordb_url_, "connmgr:bench_graph", run_plan);
        EXPECT_GE(peak_clients, 1U);
    } else {
        run_plan();
    }
    const auto& [code, doc] = first;
    // One flavour per run: the server never sees more connections than its pool's max_size.
    EXPECT_LE(peak_clients, max_size);
    ASSERT_FALSE(doc.empty());
    SCOPED_TRACE("exit code " + std::to_string(code) + ", report " + json::serialize(doc));

    EXPECT_EQ(doc.at("backend").as_string(), c.backend);
    EXPECT_EQ(doc.at("flavour").as_string(), c.flavour);
    EXPECT_EQ(doc.at("clients").to_number<std::uint64_t>(), c.plan.clients);
    EXPECT_EQ(doc.at("requests_per_client").to_number<std::uint64_t>(), c.plan.requests);

    const std::uint64_t ok = doc.at("requests_ok").to_number<std::uint64_t>();
    const std::uint64_t failed = count_errors(doc);
    EXPECT_EQ(ok + failed, c.plan.clients * c.plan.requests);
    EXPECT_EQ(code, failed == 0 ? 0 : 1);
    if (c.plan.burst) {
        // Under the burst, a request may only fail by waiting too long for a connection.
        for (const auto& [name, count] : doc.at("errors").as_object())
            EXPECT_EQ(name, "acquire_timeout") << count;
    } else {
        EXPECT_EQ(failed, 0u) << json::serialize(doc.at("errors"));
    }

    const auto& pool = doc.at("pool").as_object();
    EXPECT_EQ(pool.at("max_size").to_number<std::uint64_t>(), max_size);
    EXPECT_LE(pool.at("peak_in_use").to_number<std::uint64_t>(), max_size);
    EXPECT_GE(pool.at("wait_seconds_sum").to_number<double>(), 0.0);
    EXPECT_GE(pool.at("wait_seconds_max").to_number<double>(), 0.0);
    // Both are the run's, without the warm-up's waits for its connects: the longest wait of
    // the run is part of its sum (the warm-up's was counted in the max only).
    EXPECT_LE(pool.at("wait_seconds_max").to_number<double>(),
              pool.at("wait_seconds_sum").to_number<double>() + 1e-12);

    const auto& latency = doc.at("latency_ms").as_object();
    if (ok > 0) {
        const double p50 = latency.at("p50").to_number<double>();
        const double p99 = latency.at("p99").to_number<double>();
        EXPECT_GT(p50, 0.0);
        EXPECT_LE(p50, p99);
        EXPECT_LE(p99, latency.at("max").to_number<double>());
        EXPECT_GT(doc.at("throughput_per_second").to_number<double>(), 0.0);
    }

    // The pool (and the server) recover: a follow-up run right after has no errors.
    const auto [code2, again] = bench(c, 10, 10, true);
    ASSERT_FALSE(again.empty());
    EXPECT_EQ(code2, 0);
    EXPECT_EQ(again.at("requests_ok").to_number<std::uint64_t>(), 100u);
    EXPECT_EQ(count_errors(again), 0u);
}

std::vector<bench_case> all_cases() {
    const load_plan plans[] = {{"steady10x10", 10, 10, false},
                               {"steady50x20", 50, 20, false},
                               {"burst100x5", 100, 5, true}};
    std::vector<bench_case> out;
    for (const char* backend : {"postgres", "redis", "falkordb"})
        for (const char* flavour : {"sync", "async"})
            for (const auto& plan : plans) out.push_back({backend, flavour, plan});
    return out;
}

INSTANTIATE_TEST_SUITE_P(SeedPlans, BenchCli, testing::ValuesIn(all_cases()), case_name);

TEST(BenchCliUsage, BadArgumentsExitTwo) {
    ASSERT_TRUE(fs::exists(connmgr_binary())) << connmgr_binary();
    EXPECT_EQ(run("'" + connmgr_binary().string() + "' bench 2>/dev/null").exit_code, 2);
    EXPECT_EQ(
        run("'" + connmgr_binary().string() + "' bench x --requests 1 --duration 1s 2>/dev/null")
            .exit_code,
        2);
    EXPECT_EQ(
        run("'" + connmgr_binary().string() + "' bench x --flavour fast 2>/dev/null").exit_code, 2);
}

// A run whose connects fail: the report carries the first message of each error kind (the
// server's words), a long warm-up says what it waits for, and no password is ever printed.
class BenchCliErrors : public testing::Test {
protected:
    void SetUp() override {
        ASSERT_TRUE(fs::exists(connmgr_binary())) << connmgr_binary();
        dir_ = fs::temp_directory_path() /
               ("connmgr-bench-errors-" + std::to_string(::getpid()) + "-" +
                testing::UnitTest::GetInstance()->current_test_info()->name());
        fs::create_directories(dir_);
    }
    void TearDown() override {
        std::error_code ec;
        fs::remove_all(dir_, ec);
    }

    struct outcome {
        int exit_code{-1};
        std::string out;
        std::string err;
    };

    // `connmgr --config c.yaml GLOBALS bench ARGS`, stdout and stderr captured.
    outcome bench(const std::string& yaml, const std::string& args,
                  const std::string& globals = "") {
        std::ofstream(dir_ / "c.yaml") << yaml;
        const auto r =
            run("'" + connmgr_binary().string() + "' --config '" + (dir_ / "c.yaml").string() +
                "' " + globals + " bench " + args + " 2>'" + (dir_ / "stderr.txt").string() + "'");
        std::ifstream in(dir_ / "stderr.txt");
        return {
            r.exit_code, r.out,
            std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>())};
    }

    fs::path dir_;
};

// `url` with its password replaced by `password` ("" when it has none).
std::string with_password(const std::string& url, const std::string& password) {
    const auto scheme = url.find("://");
    const auto at = url.find('@');
    if (scheme == std::string::npos || at == std::string::npos) return {};
    const auto colon = url.find(':', scheme + 3);
    if (colon == std::string::npos || colon > at) return {};
    return url.substr(0, colon + 1) + password + url.substr(at);
}

TEST_F(BenchCliErrors, WrongPasswordReportsTheServersWords) {
    struct target {
        const char* env;
        const char* words;  // what the server says
    };
    std::size_t ran = 0;
    for (const target& t : {target{"CONNMGR_TEST_PG_URL", "password authentication failed"},
                            target{"CONNMGR_TEST_REDIS_AUTH_URL", "WRONGPASS"}}) {
        const char* url = env(t.env);
        if (url == nullptr) continue;
        const std::string wrong = with_password(url, "WRONG-pw-7x");
        ASSERT_FALSE(wrong.empty()) << t.env << " has no password: " << url;
        const std::string yaml = "databases:\n  bad_pw: {url: \"" + wrong + "\"}\n";
        for (const char* flavour : {"sync", "async"}) {
            SCOPED_TRACE(std::string(t.env) + " " + flavour);
            ++ran;
            auto r = bench(yaml, std::string("bad_pw --requests 1 --json --flavour ") + flavour);
            EXPECT_EQ(r.exit_code, 1) << r.err;
            const json::value doc = json::parse(r.out);
            const auto& errors = doc.at("errors").as_object();
            ASSERT_EQ(errors.size(), 1u) << r.out;
            const std::string kind = errors.begin()->key();
            EXPECT_EQ(kind, "connect_failed") << r.out;
            const auto& messages = doc.at("error_messages").as_object();
            ASSERT_TRUE(messages.contains(kind)) << r.out;
            const std::string message(messages.at(kind).as_string());
            EXPECT_NE(message.find(t.words), std::string::npos) << message;
            EXPECT_EQ(r.out.find("WRONG-pw-7x"), std::string::npos) << r.out;
            EXPECT_EQ(r.err.find("WRONG-pw-7x"), std::string::npos) << r.err;

            r = bench(yaml, std::string("bad_pw --requests 1 --flavour ") + flavour);
            EXPECT_EQ(r.exit_code, 1) << r.err;
            EXPECT_NE(r.out.find("    first connect_failed: "), std::string::npos) << r.out;
            EXPECT_NE(r.out.find(t.words), std::string::npos) << r.out;
            EXPECT_EQ(r.out.find("WRONG-pw-7x"), std::string::npos) << r.out;
            EXPECT_EQ(r.err.find("WRONG-pw-7x"), std::string::npos) << r.err;
        }
    }
    if (ran == 0) GTEST_SKIP() << "CONNMGR_TEST_PG_URL / CONNMGR_TEST_REDIS_AUTH_URL not set";
}

// Nothing listens on port 1: every connect is refused at once. The warm-up waits through
// acquire_timeout (3 s, the breaker off) and says why after 2 s; the run's one request times
// out with the pool's last connect error in its message. Needs no server.
TEST_F(BenchCliErrors, ClosedPortSaysWhatItWaitsFor) {
    const std::string yaml =
        "defaults:\n"
        "  pool: {acquire_timeout: 3s, connect_timeout: 1s}\n"
        "  retry: {attempts: 1000, base_delay: 200ms, max_delay: 200ms}\n"
        "  circuit_breaker: {failure_threshold: 0}\n"
        "databases:\n"
        "  down: {url: \"postgresql://u:CLOSED-pw-9q@127.0.0.1:1/x\"}\n";
    for (const char* flavour : {"sync", "async"}) {
        SCOPED_TRACE(flavour);
        const auto r = bench(yaml, std::string("down --requests 1 --json --flavour ") + flavour);
        EXPECT_EQ(r.exit_code, 1) << r.err;
        EXPECT_NE(r.err.find(std::string("connmgr bench: waiting for a connection to down (") +
                             flavour + " pool: 0 of 1 connections open"),
                  std::string::npos)
            << r.err;
        EXPECT_NE(r.err.find("a probe connect fails: "), std::string::npos) << r.err;
        EXPECT_NE(r.err.find("refused"), std::string::npos) << r.err;
        const json::value doc = json::parse(r.out);
        EXPECT_EQ(doc.at("errors").at("acquire_timeout").to_number<std::uint64_t>(), 1u) << r.out;
        const std::string message(doc.at("error_messages").at("acquire_timeout").as_string());
        EXPECT_NE(message.find("refused"), std::string::npos) << message;
        EXPECT_EQ(r.out.find("CLOSED-pw-9q"), std::string::npos) << r.out;
        EXPECT_EQ(r.err.find("CLOSED-pw-9q"), std::string::npos) << r.err;
    }
}

using BenchCliLogLevel = BenchCliErrors;

// A lease held 500 ms past a leak_threshold of 100 ms: the pool warns on stderr, unless the
// level says otherwise: --log-level (which wins) or runtime.log_level.
TEST_F(BenchCliLogLevel, ErrorSilencesThePoolsWarnings) {
    const char* url = env("CONNMGR_TEST_PG_URL");
    if (url == nullptr) GTEST_SKIP() << "CONNMGR_TEST_PG_URL not set";
    const std::string base =
        "defaults:\n  pool: {leak_threshold: 100ms}\ndatabases:\n  pg: {url: \"" +
        std::string(url) + "\"}\n";
    const std::string quiet = base + "runtime: {log_level: error}\n";
    const std::string args = "pg --requests 1 --command 'SELECT pg_sleep(0.5)' --json --flavour ";
    const std::string warning = "connmgr warn: possible connection leak: a lease of pg (";
    for (const char* flavour : {"sync", "async"}) {
        SCOPED_TRACE(flavour);
        auto r = bench(base, args + flavour);
        EXPECT_EQ(r.exit_code, 0) << r.err;
        EXPECT_NE(r.err.find(warning), std::string::npos) << r.err;
        r = bench(base, args + flavour, "--log-level error");
        EXPECT_EQ(r.exit_code, 0) << r.err;
        EXPECT_EQ(r.err.find("connmgr warn:"), std::string::npos) << r.err;
        r = bench(quiet, args + flavour);
        EXPECT_EQ(r.exit_code, 0) << r.err;
        EXPECT_EQ(r.err.find("connmgr warn:"), std::string::npos) << r.err;
        r = bench(quiet, args + flavour, "--log-level warn");
        EXPECT_EQ(r.exit_code, 0) << r.err;
        EXPECT_NE(r.err.find(warning), std::string::npos) << r.err;
    }
}

// scripts/bench.sh in quick mode, against this build's binary: it completes and writes JSON
// with every comparison filled in (connmgr's figures and the reference tool's).
TEST(BenchScript, QuickModeCompletesWithValidJson) {
    if (env("CONNMGR_TEST_PG_URL") == nullptr || env("CONNMGR_TEST_REDIS_URL") == nullptr)
        GTEST_SKIP() << "servers not configured";
#ifdef CONNMGR_TEST_SOURCE_DIR
    const char* source = CONNMGR_TEST_SOURCE_DIR;
#else
    const char* source = env("CONNMGR_SOURCE_DIR");
#endif
    ASSERT_NE(source, nullptr);
    // One client count (the script's loop is the same for each) and a scratch output
    // directory: the developer's last real table in .run/bench stays untouched.
    const auto out =
        fs::temp_directory_path() / ("connmgr-bench-test-" + std::to_string(::getpid()));
    const auto r =
        run("cd '" + std::string(source) +
            "' && CONNMGR_BENCH_CLIENTS=16 CONNMGR_BENCH_GRAPH_CLIENTS=16 CONNMGR_BENCH_OUT='" +
            out.string() + "' CONNMGR_BIN='" + connmgr_binary().string() +
            "' bash scripts/bench.sh --quick --no-build");
    // 1 = a run had errors (the servers are shared: a concurrent fault test may restart one);
    // the script must still finish with its table and JSON. Anything else is a script failure.
    ASSERT_TRUE(r.exit_code == 0 || r.exit_code == 1) << r.exit_code << "\n" << r.out;
    EXPECT_NE(r.out.find("| workload | clients |"), std::string::npos) << r.out;
    std::ifstream in(out / "latest.json");
    const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const json::value doc = json::parse(text);
    const auto& rows = doc.at("comparisons").as_array();
    // 16 clients: PostgreSQL 5 rows, Redis 12, FalkorDB 8 (when installed).
    EXPECT_GE(rows.size(), 17u);
    for (const auto& row : rows) {
        EXPECT_TRUE(row.at("connmgr").is_object()) << json::serialize(row);
        EXPECT_TRUE(row.at("ratio").is_number()) << json::serialize(row);
    }
    std::error_code ec;
    fs::remove_all(out, ec);
}

}  // namespace
