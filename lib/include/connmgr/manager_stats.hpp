#pragma once
/// A snapshot of every pool of a manager and every configured database (DESIGN §7), with its
/// JSON and Prometheus renderings.
///
/// \par Thread safety
/// Plain values: copy freely; concurrent reads are safe.

#include <connmgr/pool_stats.hpp>

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

namespace connmgr {

/// One configured database, opened or not.
struct database_status {
    std::string name;
    std::string backend;                  ///< "postgres", "redis", "falkordb"
    std::string url;                      ///< redacted
    bool open{false};                     ///< at least one of its pools exists
    std::vector<std::string> references;  ///< store names attached to it
    std::optional<bool> healthy;          ///< the last health probe, if any ran
};

struct manager_stats {
    std::vector<pool_stats> pools;           ///< every open pool, sorted by database, flavour
    std::vector<database_status> databases;  ///< every configured database, sorted by name
};

/// {"pools": [{every field of pool_stats, "breaker": "closed", ...}], "databases": {...},
/// "leases": [{"holder", "flavour", "database", "backend", "age_seconds"}, ...] (oldest first)}.
std::string to_json(const manager_stats& s);

/// Prometheus text exposition (version 0.0.4) with the metric names of DESIGN §7; passes
/// `promtool check metrics`. `connmgr_database_up` is the last health probe, or, for an open
/// database never probed, 1 unless its circuit breaker is open.
std::string to_prometheus(const manager_stats& s);

}  // namespace connmgr
