#pragma once
/// A snapshot of one pool (DESIGN §7).
///
/// \par Thread safety
/// A plain value, taken under the pool's lock: copy and read freely.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace connmgr {

enum class breaker_state { closed, open, half_open };

/// "closed", "open", "half_open".
const char* to_string(breaker_state s) noexcept;

enum class flavour { sync, async };

/// "sync", "async".
const char* to_string(flavour f) noexcept;

/// A cumulative histogram of durations in seconds (Prometheus buckets).
struct histogram_stats {
    std::vector<double> bounds;             ///< upper bounds (`le`), seconds, ascending
    std::vector<std::uint64_t> cumulative;  ///< observations <= bounds[i]
    std::uint64_t count{0};                 ///< every observation (the `+Inf` bucket)
    double sum{0};                          ///< seconds
    double max{0};                          ///< seconds
};

/// One lease out now (the leak view of `/stats`).
struct lease_stats {
    std::string holder;  ///< store name of the borrower ("" when it gave none)
    double age_seconds{0};
};

/// One server of a database that reaches several (DESIGN §12), as one pool sees it.
struct server_stats {
    std::string server;   ///< "host:port"
    std::string state;    ///< unknown | primary | standby | read_only | down
    std::size_t open{0};  ///< this pool's connections on it
};

struct pool_stats {
    std::vector<std::string> databases;  ///< names that resolve to this pool's URL
    std::string url;                     ///< redacted
    std::string backend;                 ///< "postgres", "redis", "falkordb"
    connmgr::flavour flavour{connmgr::flavour::sync};
    std::size_t max_size{0};
    std::size_t open{0};  ///< idle + in_use (connected)
    std::size_t idle{0};
    std::size_t in_use{0};
    std::size_t connecting{0};
    std::size_t waiters{0};
    std::uint64_t created_total{0};
    std::uint64_t closed_total{0};
    std::uint64_t acquired_total{0};
    std::uint64_t timeouts_total{0};
    std::uint64_t connect_failures_total{0};
    double wait_seconds_sum{0};
    double wait_seconds_max{0};
    /// Cumulative acquire wait histogram: count of waits <= wait_buckets_le[i] seconds.
    std::vector<double> wait_buckets_le;
    std::vector<std::uint64_t> wait_buckets;
    std::size_t min_idle{0};              ///< pool option: connections kept open while idle
    histogram_stats create_time;          ///< how long each successful connect took
    histogram_stats use_time;             ///< how long each returned lease was held
    std::vector<lease_stats> leases;      ///< the leases out now, oldest first
    double utilization{0};                ///< in_use / max_size
    std::vector<std::string> references;  ///< store names holding this database
    breaker_state breaker{breaker_state::closed};
    std::string role{"write"};          ///< "write", or "read" for pg_client::reader()'s pools
    std::vector<server_stats> servers;  ///< a multi-server database's servers; else empty
};

}  // namespace connmgr
