// The telemetry endpoint through the CLI (issue 14): a real Prometheus scrapes
// `connmgr bench --serve` under load and answers queries about the bench's pools;
// `connmgr stats --watch` redraws in place on a terminal and prints one table per interval
// when piped; the shipped scrape config and alert rules pass promtool.
#include "http_client.hpp"
#include "manager_support.hpp"

#include <boost/json.hpp>

#include <gtest/gtest.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

namespace {

namespace fs = std::filesystem;
using connmgr::test::env;
using connmgr::test::eventually;
using connmgr::test::http_get;

const std::string source_dir = CONNMGR_TEST_SOURCE_DIR;

std::string connmgr_binary() {
#ifdef CONNMGR_CLI_PATH
    return CONNMGR_CLI_PATH;
#else
    return "connmgr";
#endif
}

std::string slurp(const fs::path& p) {
    std::ifstream in(p);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

/// A command run in the background by /bin/sh (`exec`, so the pid is the command's own);
/// stopped with SIGTERM and reaped when it goes out of scope.
class background {
public:
    explicit background(const std::string& command) {
        pid_ = ::fork();
        if (pid_ == 0) {
            ::execl("/bin/sh", "sh", "-c", ("exec " + command).c_str(),
                    static_cast<char*>(nullptr));
            ::_exit(127);
        }
    }
    ~background() { stop(); }
    background(const background&) = delete;
    background& operator=(const background&) = delete;

    /// SIGTERM, then its exit code (-1 when a signal ended it or it was stopped before).
    int stop() {
        if (pid_ <= 0) return -1;
        ::kill(pid_, SIGTERM);
        int status = 0;
        ::waitpid(pid_, &status, 0);
        pid_ = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    }

private:
    pid_t pid_{-1};
};

/// A directory of its own under /tmp, removed at the end.
struct temp_dir {
    fs::path path = fs::temp_directory_path() / connmgr::test::unique_name("connmgr_telemetry");
    temp_dir() { fs::create_directories(path); }
    ~temp_dir() {
        std::error_code ignored;
        fs::remove_all(path, ignored);
    }
};

/// A loopback port nobody listens on right now.
unsigned short free_port() {
    boost::asio::io_context io;
    boost::asio::ip::tcp::acceptor a(io, {boost::asio::ip::make_address("127.0.0.1"), 0});
    return a.local_endpoint().port();
}

/// The "http://HOST:PORT" a CLI command logged on stderr (`file`), once it did.
std::string served_address(const fs::path& file) {
    std::string address;
    eventually([&] {
        std::smatch m;
        const std::string text = slurp(file);
        static const std::regex served("serving http://([0-9.]+:[0-9]+)");
        if (std::regex_search(text, m, served)) address = m[1];
        return !address.empty();
    });
    return address;
}

/// A bench of `database` with --serve on any free port, running for up to `duration`.
std::string start_bench(const temp_dir& dir, const std::string& yaml, const std::string& database,
                        const std::string& extra, std::optional<background>& bench) {
    const fs::path config = dir.path / "connmgr.yaml";
    std::ofstream(config) << yaml;
    const fs::path log = dir.path / "bench.err";
    bench.emplace(connmgr_binary() + " --config " + config.string() + " bench " + database + " " +
                  extra + " --serve 127.0.0.1:0 >" + (dir.path / "bench.out").string() + " 2>" +
                  log.string());
    return served_address(log);
}

std::string url_encode(const std::string& s) {
    std::string out;
    char buf[4];
    for (unsigned char c : s) {
        if (std::isalnum(c) || c == '_' || c == '-' || c == '.') {
            out += static_cast<char>(c);
        } else {
            std::snprintf(buf, sizeof buf, "%%%02X", c);
            out += buf;
        }
    }
    return out;
}

/// The result vector of an instant query, or an empty array.
boost::json::array prometheus_query(const std::string& address, const std::string& promql) {
    const auto r = http_get(address, "/api/v1/query?query=" + url_encode(promql));
    if (r.status != 200) return {};
    boost::system::error_code ec;
    auto doc = boost::json::parse(r.body, ec);
    if (ec || doc.at("status") != "success") return {};
    return doc.at("data").at("result").as_array();
}

double value_of(const boost::json::value& sample) {
    return std::stod(std::string(sample.at("value").at(1).as_string()));
}

TEST(TelemetryConfigs, ShippedScrapeConfigAndAlertRulesPassPromtool) {
    if (std::system("command -v promtool >/dev/null 2>&1") != 0) GTEST_SKIP() << "no promtool";
    const std::string dir = source_dir + "/configs/prometheus";
    const auto rules =
        connmgr::test::run("promtool check rules " + dir + "/connmgr-alerts.yml 2>&1; echo rc=$?");
    EXPECT_NE(rules.find("SUCCESS: 3 rules found"), std::string::npos) << rules;
    EXPECT_NE(rules.find("rc=0"), std::string::npos) << rules;
    const auto config =
        connmgr::test::run("promtool check config " + dir + "/prometheus.yml 2>&1; echo rc=$?");
    EXPECT_NE(config.find("rc=0"), std::string::npos) << config;
}

TEST(TelemetryPrometheus, ScrapesBenchServeUnderLoad) {
    const auto pg_url = env("CONNMGR_TEST_PG_URL");
    if (!pg_url) GTEST_SKIP() << "servers not configured";
    if (std::system("command -v prometheus >/dev/null 2>&1") != 0) GTEST_SKIP() << "no prometheus";
    temp_dir dir;
    const std::string db = connmgr::test::unique_name("prom");
    std::optional<background> bench;
    const std::string target = start_bench(
        dir, "databases:\n  " + db + ": {url: '${CONNMGR_TEST_PG_URL}', pool: {max_size: 4}}\n", db,
        "--clients 6 --duration 40s", bench);
    ASSERT_FALSE(target.empty()) << slurp(dir.path / "bench.err");

    // The shipped scrape config, pointed at the bench and scraping every second.
    std::string config = slurp(source_dir + "/configs/prometheus/prometheus.yml");
    config = std::regex_replace(config, std::regex("15s"), "1s");
    config = std::regex_replace(config, std::regex("127\\.0\\.0\\.1:9187"), target);
    config = std::regex_replace(config, std::regex("connmgr-alerts\\.yml"),
                                source_dir + "/configs/prometheus/connmgr-alerts.yml");
    std::ofstream(dir.path / "prometheus.yml") << config;
    const std::string prometheus = "127.0.0.1:" + std::to_string(free_port());
    background server("prometheus --config.file=" + (dir.path / "prometheus.yml").string() +
                      " --storage.tsdb.path=" + (dir.path / "data").string() +
                      " --web.listen-address=" + prometheus + " >" +
                      (dir.path / "prometheus.log").string() + " 2>&1");

    const auto limit = std::chrono::seconds(20);
    boost::json::array max_size;
    EXPECT_TRUE(eventually(
        [&] {
            max_size =
                prometheus_query(prometheus, "connmgr_pool_max_size{database=\"" + db + "\"}");
            return !max_size.empty();
        },
        limit))
        << slurp(dir.path / "prometheus.log");
    ASSERT_FALSE(max_size.empty());
    EXPECT_EQ(max_size[0].at("metric").at("flavour").as_string(), "sync");
    EXPECT_EQ(max_size[0].at("metric").at("backend").as_string(), "postgres");
    EXPECT_EQ(max_size[0].at("metric").at("instance").as_string(), target);
    EXPECT_EQ(value_of(max_size[0]), 4.0);

    boost::json::array used;
    EXPECT_TRUE(eventually(
        [&] {
            used = prometheus_query(prometheus,
                                    "db_client_connection_count{"
                                    "db_client_connection_pool_name=\"" +
                                        db + "/sync\"}");
            return used.size() == 2;
        },
        limit));
    double open = 0;
    for (const auto& s : used) open += value_of(s);
    EXPECT_GE(open, 1.0);  // under load the pool holds connections...
    EXPECT_LE(open, 4.0);  // ...never more than max_size

    boost::json::array rate;
    EXPECT_TRUE(eventually(
        [&] {
            rate = prometheus_query(
                prometheus, "rate(connmgr_pool_acquire_total{database=\"" + db + "\"}[5s])");
            return !rate.empty() && value_of(rate[0]) > 0;
        },
        limit));
    ASSERT_FALSE(rate.empty());
    std::printf(
        "prometheus: %s acquires/s through the bench's pool (%zu series of "
        "db_client_connection_count, %.0f connections)\n",
        std::string(rate[0].at("value").at(1).as_string()).c_str(), used.size(), open);
    // The alert rules loaded into this Prometheus too, and the utilization rule matches the
    // real series: 6 clients on 4 connections keep the pool above 80% (pending for its 1m).
    const auto rules = http_get(prometheus, "/api/v1/rules");
    EXPECT_NE(rules.body.find("ConnmgrPoolUtilizationHigh"), std::string::npos) << rules.body;
    EXPECT_TRUE(eventually(
        [&] {
            return !prometheus_query(prometheus,
                                     "ALERTS{alertname=\"ConnmgrPoolUtilizationHigh\","
                                     "database=\"" +
                                         db + "\"}")
                        .empty();
        },
        limit))
        << http_get(prometheus, "/api/v1/rules").body;
}

TEST(TelemetryServe, ServesEveryConfiguredDatabaseAndExitsZeroOnSigterm) {
    const auto redis_url = env("CONNMGR_TEST_REDIS_URL");
    if (!redis_url) GTEST_SKIP() << "servers not configured";
    temp_dir dir;
    const std::string db = connmgr::test::unique_name("serve");
    const fs::path config = dir.path / "connmgr.yaml";
    std::ofstream(config) << "databases:\n  " + db + ": {url: '${CONNMGR_TEST_REDIS_URL}'}\n";
    const fs::path log = dir.path / "serve.err";
    background serve(connmgr_binary() + " --config " + config.string() +
                     " serve --listen 127.0.0.1:0 2>" + log.string());
    std::string address;
    eventually([&] {
        std::smatch m;
        const std::string text = slurp(log);
        static const std::regex listening("listening on http://([0-9.]+:[0-9]+)");
        if (std::regex_search(text, m, listening)) address = m[1];
        return !address.empty();
    });
    ASSERT_FALSE(address.empty()) << slurp(log);
    // /health probes every configured database, opened or not.
    const auto health = http_get(address, "/health");
    EXPECT_EQ(health.status, 200) << health.body << health.error;
    EXPECT_NE(health.body.find("\"" + db + "\""), std::string::npos) << health.body;
    EXPECT_EQ(http_get(address, "/metrics").status, 200);
    EXPECT_EQ(http_get(address, "/nope").status, 404);
    EXPECT_EQ(serve.stop(), 0) << slurp(log);
    EXPECT_NE(slurp(log).find("connmgr serve: closed"), std::string::npos) << slurp(log);
}

int count_of(const std::string& text, const std::string& part) {
    int n = 0;
    for (auto at = text.find(part); at != std::string::npos; at = text.find(part, at + 1)) ++n;
    return n;
}

TEST(TelemetryStatsWatch, RedrawsInPlaceOnATerminalAndPrintsTablesWhenPiped) {
    const auto redis_url = env("CONNMGR_TEST_REDIS_URL");
    if (!redis_url) GTEST_SKIP() << "servers not configured";
    if (std::system("command -v script >/dev/null 2>&1") != 0) GTEST_SKIP() << "no script(1)";
    temp_dir dir;
    const std::string db = connmgr::test::unique_name("watch");
    std::optional<background> bench;
    const std::string address = start_bench(
        dir, "databases:\n  " + db + ": {url: '${CONNMGR_TEST_REDIS_URL}', pool: {max_size: 2}}\n",
        db, "--clients 4 --duration 30s", bench);
    ASSERT_FALSE(address.empty()) << slurp(dir.path / "bench.err");
    const std::string watch = connmgr_binary() + " stats --watch 300ms --url http://" + address;

    // On a terminal (script(1) gives it one): frames replace each other in place.
    const auto tty =
        connmgr::test::run("timeout -s INT 2 script -qfec '" + watch + "' /dev/null 2>&1");
    EXPECT_GE(count_of(tty, "connmgr stats http://" + address), 2) << tty;
    static const std::regex redraw("\x1b\\[[0-9]+F\x1b\\[J");
    EXPECT_TRUE(std::regex_search(tty, redraw)) << tty;
    EXPECT_NE(tty.find(db), std::string::npos);
    EXPECT_NE(tty.find("[#"), std::string::npos) << tty;  // a utilization bar
    // 4 clients on 2 connections: the pool is full, and the warning is highlighted.
    EXPECT_NE(tty.find("\x1b[1;31m[####################] 100% !"), std::string::npos) << tty;
    EXPECT_NE(tty.find("warning:"), std::string::npos) << tty;

    // Piped: plain successive tables, no escape sequences.
    const auto piped = connmgr::test::run("timeout -s INT 2 " + watch + " | cat");
    EXPECT_GE(count_of(piped, "connmgr stats http://" + address), 2) << piped;
    EXPECT_EQ(count_of(piped, "connmgr stats http://"), count_of(piped, "DATABASE "));
    EXPECT_EQ(piped.find('\x1b'), std::string::npos) << piped;
    EXPECT_NE(piped.find("[####################] 100% !"), std::string::npos) << piped;
}

}  // namespace
