#pragma once
// Freezing this checkout's own test servers (SIGSTOP / SIGCONT) for the fault tests. The pids
// come from the pid files under the .run/ of the checkout whose scripts/services.sh the tests
// were given (CONNMGR_SERVICES), so another checkout's servers are never touched.
//
// A stopped server keeps accepting TCP connections and ACKs data (the kernel does it), so only
// a client-side deadline notices it (../shared/PLATFORM.md).

#include <gtest/gtest.h>

#include <signal.h>
#include <sys/types.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

namespace connmgr::test {

inline std::optional<std::filesystem::path> services_run_dir() {
    const char* services = std::getenv("CONNMGR_SERVICES");
    if (services == nullptr || *services == '\0') return std::nullopt;
    return std::filesystem::path(services).parent_path().parent_path() / ".run";
}

inline std::optional<pid_t> pid_in(const std::filesystem::path& file) {
    std::ifstream in(file);
    long pid = 0;
    if (!(in >> pid) || pid <= 1) return std::nullopt;
    return static_cast<pid_t>(pid);
}

inline std::vector<pid_t> children_of(pid_t parent) {
    std::vector<pid_t> out;
    const std::string cmd = "ps --ppid " + std::to_string(parent) + " -o pid=";
    if (FILE* p = ::popen(cmd.c_str(), "r")) {
        long pid = 0;
        while (std::fscanf(p, "%ld", &pid) == 1) out.push_back(static_cast<pid_t>(pid));
        ::pclose(p);
    }
    return out;
}

/// Processes stopped with SIGSTOP until thaw() or destruction (so a failed assertion never
/// leaves a server frozen).
class frozen {
public:
    frozen() = default;
    explicit frozen(std::vector<pid_t> stopped) : stopped_(std::move(stopped)) {}
    frozen(frozen&& o) noexcept : stopped_(std::move(o.stopped_)) { o.stopped_.clear(); }
    frozen& operator=(frozen&&) = delete;
    ~frozen() { thaw(); }

    bool empty() const noexcept { return stopped_.empty(); }

    /// Continues them in reverse order (children before the parent).
    void thaw() {
        for (auto it = stopped_.rbegin(); it != stopped_.rend(); ++it) ::kill(*it, SIGCONT);
        stopped_.clear();
    }

private:
    std::vector<pid_t> stopped_;
};

/// The postmaster first (so it forks no new backend), then every child of it.
inline frozen freeze_postgres() {
    auto run = services_run_dir();
    if (!run) return {};
    auto postmaster = pid_in(*run / "pg" / "data" / "postmaster.pid");
    if (!postmaster || ::kill(*postmaster, SIGSTOP) != 0) return {};
    std::vector<pid_t> stopped{*postmaster};
    for (pid_t child : children_of(*postmaster))
        if (::kill(child, SIGSTOP) == 0) stopped.push_back(child);
    return frozen(std::move(stopped));
}

inline frozen freeze_redis() {
    auto run = services_run_dir();
    if (!run) return {};
    auto pid = pid_in(*run / "redis" / "redis.pid");
    if (!pid || ::kill(*pid, SIGSTOP) != 0) return {};
    return frozen({*pid});
}

/// One request as a client saw it.
struct request_record {
    std::chrono::steady_clock::time_point start;
    std::chrono::steady_clock::time_point end;
    std::string outcome;  // "ok", "query_timeout", or what else happened
};

/// The checks every freeze test makes: while the server was frozen every request on an open
/// connection failed with a timeout within `bound`, and after the thaw requests succeed again.
inline void expect_timeouts_then_recovery(const std::vector<request_record>& records,
                                          std::chrono::steady_clock::time_point frozen_at,
                                          std::chrono::steady_clock::time_point thawed_at,
                                          std::chrono::milliseconds bound,
                                          const std::vector<std::string>& timeout_outcomes) {
    using namespace std::chrono_literals;
    auto is_timeout = [&](const std::string& o) {
        for (const auto& t : timeout_outcomes)
            if (o == t) return true;
        return false;
    };
    int timeouts = 0;
    int recovered = 0;
    std::chrono::milliseconds worst{0};
    for (const auto& r : records) {
        const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(r.end - r.start);
        const bool during = r.start >= frozen_at + 50ms && r.start < thawed_at;
        // Started while frozen (a request still waiting at the thaw may succeed after it), or
        // failed while frozen.
        const bool answered_after_thaw = r.outcome == "ok" && r.end > thawed_at;
        if ((during && !answered_after_thaw) ||
            (r.outcome != "ok" && r.start < thawed_at && r.end > frozen_at)) {
            worst = std::max(worst, took);
            EXPECT_TRUE(is_timeout(r.outcome))
                << "a request during the freeze ended with " << r.outcome << " (started "
                << std::chrono::duration_cast<std::chrono::milliseconds>(r.start - frozen_at)
                       .count()
                << " ms into it, took " << took.count() << " ms)";
            EXPECT_LE(took, bound) << "a request during the freeze took " << took.count() << "ms";
            if (during && r.end <= thawed_at) {
                EXPECT_NE(r.outcome, "ok") << "answered while frozen: the freeze did not hold";
            }
        }
        if (is_timeout(r.outcome)) ++timeouts;
        if (r.outcome == "ok" && r.start > thawed_at && r.end < thawed_at + 5s) ++recovered;
    }
    std::printf(
        "freeze: %zu requests on open connections, %d timed out (slowest %lld ms), %d "
        "succeeded within 5 s of the thaw\n",
        records.size(), timeouts, static_cast<long long>(worst.count()), recovered);
    EXPECT_GE(timeouts, 1) << "no request ran into the freeze";
    EXPECT_GT(recovered, 0) << "nothing succeeded within 5 s of the thaw";
}

}  // namespace connmgr::test
