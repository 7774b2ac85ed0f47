#pragma once
// Helpers of the manager's server tests: configs built in code, and server-side connection
// counts by client name (application_name / CLIENT SETNAME "connmgr:<name>").

#include <connmgr/config.hpp>
#include <connmgr/config_loader.hpp>
#include <connmgr/url.hpp>

#include <pqxx/pqxx>

#include <gtest/gtest.h>

#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <sstream>
#include <string>
#include <thread>

namespace connmgr::test {

/// Every per-pool field DESIGN §7 names: the JSON of stats() must hold each one.
inline constexpr std::array<const char*, 20> pool_stats_fields{"databases",
                                                               "url",
                                                               "backend",
                                                               "flavour",
                                                               "max_size",
                                                               "open",
                                                               "idle",
                                                               "in_use",
                                                               "connecting",
                                                               "waiters",
                                                               "created_total",
                                                               "closed_total",
                                                               "acquired_total",
                                                               "timeouts_total",
                                                               "connect_failures_total",
                                                               "wait_seconds_sum",
                                                               "wait_seconds_max",
                                                               "utilization",
                                                               "references",
                                                               "breaker"};

inline std::optional<std::string> env(const char* name) {
    const char* v = std::getenv(name);
    if (!v || !*v) return std::nullopt;
    return std::string(v);
}

/// A name no other test (or earlier run) uses: "<prefix>_<pid>_<n>".
inline std::string unique_name(const std::string& prefix) {
    static int n = 0;
    return prefix + "_" + std::to_string(::getpid()) + "_" + std::to_string(++n);
}

/// An empty configuration whose `runtime.io_threads` follows CONNMGR_RUNTIME__IO_THREADS, as
/// a loaded one would: the TSan stage of scripts/test.sh runs these tests on 2 I/O threads.
inline manager_config base_config() {
    env_map runtime_only;
    for (const auto& [key, value] : current_environment())
        if (key.rfind("CONNMGR_RUNTIME__IO_THREADS", 0) == 0) runtime_only.emplace(key, value);
    manager_config c;
    c.runtime.io_threads = load_config({}, runtime_only).runtime.io_threads;
    return c;
}

inline database_config database(const std::string& name, const std::string& url,
                                std::size_t max_size = 4) {
    database_config db;
    db.name = name;
    db.url = db_url::parse(url);
    db.sync_pool.max_size = max_size;
    db.async_pool.max_size = max_size;
    db.sync_pool.acquire_timeout = std::chrono::seconds(10);
    db.async_pool.acquire_timeout = std::chrono::seconds(10);
    db.retry.attempts = 1;
    db.drain_timeout = std::chrono::seconds(5);
    return db;
}

inline std::string run(const std::string& command) {
    std::string out;
    if (FILE* p = ::popen(command.c_str(), "r")) {
        std::array<char, 4096> buf{};
        std::size_t n;
        while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0) out.append(buf.data(), n);
        ::pclose(p);
    }
    return out;
}

/// Polls until `pred` holds or `limit` passes: server-side views lag the client by a round
/// trip, and the manager's monitor ticks once a second.
template <class Pred>
bool eventually(Pred pred, std::chrono::milliseconds limit = std::chrono::seconds(10)) {
    const auto end = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < end) {
        if (pred()) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return pred();
}

/// PostgreSQL backends whose application_name is LIKE `pattern`.
inline long pg_connections(const std::string& pg_url, const std::string& pattern) {
    pqxx::connection admin{pg_url};
    pqxx::nontransaction tx{admin};
    auto r = tx.exec_params("SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE $1",
                            pattern);
    return r[0][0].as<long>();
}

/// Redis clients of the server at `redis_url` whose name starts with `prefix`.
inline long redis_connections(const std::string& redis_url, const std::string& prefix) {
    const auto u = db_url::parse(redis_url);
    std::string cmd = "redis-cli -h " + u.redis().host + " -p " + std::to_string(u.redis().port);
    if (!u.redis().password.empty()) {
        if (!u.redis().user.empty()) cmd += " --user " + u.redis().user;
        cmd += " --pass " + u.redis().password + " --no-auth-warning";
    }
    std::istringstream lines(run(cmd + " CLIENT LIST"));
    long n = 0;
    for (std::string line; std::getline(lines, line);)
        if (line.find(" name=" + prefix) != std::string::npos) ++n;
    return n;
}

}  // namespace connmgr::test

#define CONNMGR_REQUIRE_ENV(var, name)                                  \
    const auto var##_opt = ::connmgr::test::env(name);                  \
    if (!var##_opt) GTEST_SKIP() << name << " is not set (no servers)"; \
    const std::string var = *var##_opt
