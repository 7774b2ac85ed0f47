#pragma once
// The fault tests' handle on the local servers: scripts/services.sh (CONNMGR_SERVICES) run
// with its output kept, so that a failed restart says why.

#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>

namespace connmgr::test {

/// What `command` (run by /bin/sh) wrote to stdout and stderr, and whether it exited with 0.
struct command_result {
    std::string output;
    bool ok{false};
};

inline command_result run_command(const std::string& command) {
    command_result out;
    if (FILE* p = ::popen((command + " 2>&1").c_str(), "r")) {
        char buf[4096];
        std::size_t n;
        while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.output.append(buf, n);
        out.ok = ::pclose(p) == 0;
    }
    return out;
}

/// scripts/services.sh of the servers under test, or nullopt when CONNMGR_SERVICES is unset.
inline std::optional<std::string> services_script() {
    const char* v = std::getenv("CONNMGR_SERVICES");
    if (v == nullptr || *v == '\0') return std::nullopt;
    return std::string(v);
}

/// `services.sh ACTION [SERVICE]` (start, stop, restart); fails when CONNMGR_SERVICES is unset.
inline command_result services(const std::string& action, const std::string& service = {}) {
    const auto script = services_script();
    if (!script) return {"CONNMGR_SERVICES is not set", false};
    return run_command("'" + *script + "' " + action + (service.empty() ? "" : " " + service));
}

}  // namespace connmgr::test
