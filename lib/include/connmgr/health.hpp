#pragma once
/// The result of probing databases (DESIGN §7): one short-lived connect and round trip per
/// database, outside the pools, so a probe never takes pool capacity.
///
/// \par Thread safety
/// Plain values: copy freely; concurrent reads are safe.

#include <connmgr/url.hpp>

#include <chrono>
#include <cstddef>
#include <string>
#include <vector>

namespace connmgr {

/// Which databases `manager::health()` probes.
enum class health_scope {
    opened,          ///< databases with at least one open pool (the default)
    all_configured,  ///< every configured database, opened or not
};

/// One server of a database that reaches several (DESIGN §12: a PostgreSQL URL with several
/// hosts), as the probe found it: each host is probed alone (a connect and one round trip).
struct server_health {
    std::string server;  ///< "host:port"
    /// unknown | primary | standby | read_only | down: from the session's in_hot_standby and
    /// default_transaction_read_only; "down" when the connect or the round trip failed,
    /// "unknown" when the server answered but refused the session (e.g. authentication).
    std::string state{"unknown"};
    bool healthy{false};  ///< it answered a connect and a round trip, whatever its state
    std::string error;    ///< empty when healthy; never contains a password
};

struct database_health {
    std::string name;
    connmgr::backend backend{connmgr::backend::postgres};
    std::string url;  ///< redacted
    bool healthy{false};
    std::chrono::duration<double, std::milli> latency{0};  ///< connect + one round trip
    std::string error;  ///< empty when healthy; never contains a password
    /// A multi-server database's servers, in URL order; empty for a single-server one. Every
    /// server is probed (all at once, each a connect and one round trip, within the one probe
    /// budget, by manager::health() as by the non-blocking probes of the monitor and GET
    /// /health) and the database is healthy when some server that answered is in a state that
    /// fits its target_session_attrs; what each probe finds is learned in the server table.
    std::vector<server_health> servers;
};

struct health {
    bool overall_healthy{true};  ///< every probed database healthy (true when none probed)
    std::size_t total_databases{0};
    std::size_t healthy_databases{0};
    std::vector<database_health> databases;  ///< sorted by name
};

/// The JSON of `connmgr check --json` (DESIGN §8): {"overall_healthy", "total_databases",
/// "healthy_databases", "databases": {"<name>": {"healthy", "backend", "url", "latency_ms",
/// "error"}}}; a multi-server database's entry also has "servers": [{"server": "h:p", "state",
/// "healthy", "error": null | "..."}] (DESIGN §12).
std::string to_json(const health& h);

}  // namespace connmgr
