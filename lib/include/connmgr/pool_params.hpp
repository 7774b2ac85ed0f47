#pragma once
/// Identity and settings of one pool: what a sync_pool or async_pool is built from.
///
/// \par Thread safety
/// A plain value: copy freely; concurrent reads are safe.

#include <connmgr/config.hpp>

#include <chrono>
#include <optional>
#include <string>

namespace connmgr {

struct pool_params {
    std::string database;  ///< display name(s) for messages and stats ("app, app2")
    std::string url;       ///< already redacted
    std::string backend;   ///< "postgres" | "redis" | "falkordb"
    pool_options pool{};
    retry_options retry{};
    breaker_options breaker{};
    std::string role{"write"};  ///< "write" (the database's pools) or "read" (reader()'s)
};

/// Per-call settings of one acquire.
struct acquire_options {
    /// Overrides pool_options::acquire_timeout for this call (0 = fail fast when exhausted).
    std::optional<std::chrono::milliseconds> timeout;
    /// The store name of the borrower: named by leak warnings and close summaries.
    std::string holder;
};

}  // namespace connmgr
