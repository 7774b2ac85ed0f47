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

struct database_health {
    std::string name;
    connmgr::backend backend{connmgr::backend::postgres};
    std::string url;  ///< redacted
    bool healthy{false};
    std::chrono::duration<double, std::milli> latency{0};  ///< connect + one round trip
    std::string error;  ///< empty when healthy; never contains a password
};

struct health {
    bool overall_healthy{true};  ///< every probed database healthy (true when none probed)
    std::size_t total_databases{0};
    std::size_t healthy_databases{0};
    std::vector<database_health> databases;  ///< sorted by name
};

/// The JSON of `connmgr check --json` (DESIGN §8): {"overall_healthy", "total_databases",
/// "healthy_databases", "databases": {"<name>": {"healthy", "backend", "url", "latency_ms",
/// "error"}}}.
std::string to_json(const health& h);

}  // namespace connmgr
