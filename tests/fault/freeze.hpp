#pragma once
// Freezing this checkout's own test servers (SIGSTOP / SIGCONT) for the fault tests. The pids
// come from the pid files under the .run/ of the checkout whose scripts/services.sh the tests
// were given (CONNMGR_SERVICES), so another checkout's servers are never touched.
//
// A stopped server keeps accepting TCP connections and ACKs data (the kernel does it), so only
// a client-side deadline notices it (../shared/PLATFORM.md).

#include <signal.h>
#include <sys/types.h>

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

}  // namespace connmgr::test
