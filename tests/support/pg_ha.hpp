#pragma once
// The failover tests' handle on the pg-ha topology of scripts/services.sh: a PostgreSQL 15
// primary (node 0) and two streaming standbys (nodes 1 and 2), started with
// `scripts/services.sh start pg-ha` (not part of a bare `start`). The URL and ports come from
// `scripts/services.sh env` (CONNMGR_TEST_PG_HA_URL, CONNMGR_TEST_PG_HA_PORTS); the actions run
// `services.sh pg-ha ACTION ...`, which waits until the action is done and fails with a message:
//
//   pg_ha("reset")                 node 0 primary, 1 and 2 standbys of it, all up, none read-only
//   pg_ha("promote", {"1"})        pg_ctl promote -w; the other running standbys follow it
//   pg_ha("stop", {"0", "fast"})   pg_ctl stop -m fast|immediate; returns once the port is closed
//   pg_ha("kill", {"0"})           SIGKILL the postmaster and its backends
//   pg_ha("start-node", {"0"})     start one node as it is (primary or standby)
//   pg_ha("freeze", {"0"})         SIGSTOP the postmaster and its backends (`thaw` undoes it)
//   pg_ha("read-only", {"0", "on"})  ALTER SYSTEM SET default_transaction_read_only + reload
//   pg_ha("rejoin", {"0"})         make a stopped old primary a standby of the current primary
//   pg_ha("role", {"1"})           output "primary", "standby" or "down" (also pg_ha_role(1))

#include "services.hpp"

#include <cstdlib>
#include <initializer_list>
#include <sstream>
#include <string>

namespace connmgr::test {

/// CONNMGR_TEST_PG_HA_URL (the three hosts, libpq's multi-host form), or "" when unset.
inline std::string pg_ha_url() {
    const char* v = std::getenv("CONNMGR_TEST_PG_HA_URL");
    return v == nullptr ? std::string{} : std::string(v);
}

/// The port of node `n` (0, 1 or 2) from CONNMGR_TEST_PG_HA_PORTS, or 0 when unknown.
inline unsigned short pg_ha_port(int n) {
    const char* v = std::getenv("CONNMGR_TEST_PG_HA_PORTS");
    if (v == nullptr || n < 0) return 0;
    std::istringstream in(v);
    unsigned port = 0;
    for (int i = 0; i <= n; ++i)
        if (!(in >> port)) return 0;
    return static_cast<unsigned short>(port);
}

/// `services.sh pg-ha ACTION ARGS...`; fails when CONNMGR_SERVICES is unset.
inline command_result pg_ha(const std::string& action,
                            std::initializer_list<std::string> args = {}) {
    const auto script = services_script();
    if (!script) return {"CONNMGR_SERVICES is not set", false};
    std::string command = "'" + *script + "' pg-ha " + action;
    for (const auto& a : args) command += " '" + a + "'";
    return run_command(command);
}

/// `pg-ha role N`: "primary", "standby" or "down" ("" when the script failed).
inline std::string pg_ha_role(int n) {
    auto r = pg_ha("role", {std::to_string(n)});
    if (!r.ok) return {};
    while (!r.output.empty() && (r.output.back() == '\n' || r.output.back() == ' '))
        r.output.pop_back();
    return r.output;
}

/// The URL and the helper script are known and all three nodes answer (`pg-ha status`); a test
/// that needs the topology skips when this is false, and runs pg_ha("reset") before its faults.
inline bool pg_ha_available() {
    return !pg_ha_url().empty() && services_script() && pg_ha("status").ok;
}

}  // namespace connmgr::test
