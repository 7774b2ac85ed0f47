#pragma once
// Shared by the PostgreSQL integration tests: the servers of scripts/services.sh, read from
// CONNMGR_TEST_PG_URL / CONNMGR_TEST_PGBOUNCER_URL, and a side connection for server-side truth.

#include <connmgr/pg/sync_driver.hpp>

#include <libpq-fe.h>

#include <unistd.h>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <memory>
#include <optional>
#include <ostream>
#include <stdexcept>
#include <string>
#include <thread>

namespace connmgr::pg::test {

/// One server the suites run against.
struct target {
    std::string label;  // "direct" or "pgbouncer"
    const char* env;
    bool pgbouncer;
};

inline void PrintTo(const target& t, std::ostream* os) { *os << t.label; }

inline std::string print_target(const testing::TestParamInfo<target>& info) {
    return info.param.label;
}

inline const target targets[] = {{"direct", "CONNMGR_TEST_PG_URL", false},
                                 {"pgbouncer", "CONNMGR_TEST_PGBOUNCER_URL", true}};

/// libpq keyword/value pairs of a URL, as db_url::pg_params() gives them (PQconninfoParse).
inline conn_params parse_params(const std::string& url) {
    char* err = nullptr;
    PQconninfoOption* opts = PQconninfoParse(url.c_str(), &err);
    if (opts == nullptr) {
        std::string msg = err != nullptr ? err : "bad URL";
        PQfreemem(err);
        throw std::runtime_error(msg);
    }
    conn_params out;
    for (auto* o = opts; o->keyword != nullptr; ++o)
        if (o->val != nullptr && *o->val != '\0') out.emplace_back(o->keyword, o->val);
    PQconninfoFree(opts);
    return out;
}

inline std::optional<std::string> env(const char* name) {
    const char* v = std::getenv(name);
    if (v == nullptr || *v == '\0') return std::nullopt;
    return std::string(v);
}

/// A name no other test (or earlier run) uses: application_name is "connmgr:<name>".
inline std::string unique_name(const std::string& base) {
    static std::atomic<int> counter{0};
    return base + "-" + std::to_string(::getpid()) + "-" + std::to_string(counter++);
}

/// A plain libpq connection straight to PostgreSQL (never through PgBouncer), with its own
/// application_name, for observing the server (pg_stat_activity, pg_terminate_backend).
class observer {
public:
    observer() {
        auto url = env("CONNMGR_TEST_PG_URL");
        if (!url) throw std::runtime_error("CONNMGR_TEST_PG_URL unset");
        auto params = parse_params(*url);
        params.emplace_back("application_name", "connmgr-test-observer");
        std::vector<const char*> k, v;
        for (auto& [a, b] : params) {
            k.push_back(a.c_str());
            v.push_back(b.c_str());
        }
        k.push_back(nullptr);
        v.push_back(nullptr);
        conn_.reset(PQconnectdbParams(k.data(), v.data(), 0));
        if (PQstatus(conn_.get()) != CONNECTION_OK)
            throw std::runtime_error(PQerrorMessage(conn_.get()));
    }

    /// First column of the first row of `sql` as a long (-1 on error).
    long scalar(const std::string& sql) {
        std::unique_ptr<PGresult, decltype(&PQclear)> r(PQexec(conn_.get(), sql.c_str()), PQclear);
        if (PQresultStatus(r.get()) != PGRES_TUPLES_OK || PQntuples(r.get()) < 1) return -1;
        return std::atol(PQgetvalue(r.get(), 0, 0));
    }

    /// Server connections of one test's pools (application_name connmgr:<name>).
    long sessions(const std::string& name) {
        return scalar("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'connmgr:" +
                      name + "'");
    }

    /// Polls until sessions(name) == n or the timeout passes; returns the last count.
    long await_sessions(const std::string& name, long n,
                        std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
        auto until = std::chrono::steady_clock::now() + timeout;
        long got = sessions(name);
        while (got != n && std::chrono::steady_clock::now() < until) {
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
            got = sessions(name);
        }
        return got;
    }

    bool terminate(int pid) {
        return scalar("SELECT pg_terminate_backend(" + std::to_string(pid) + ")::int") == 1;
    }

private:
    std::unique_ptr<PGconn, decltype(&PQfinish)> conn_{nullptr, PQfinish};
};

}  // namespace connmgr::pg::test
