#pragma once
/// The resolved configuration: what every layer of DESIGN §4 merges into.
///
/// Build these with designated initializers in tests, or with `load_config()` from YAML.
/// Every duration is a `std::chrono::milliseconds`; zero disables where noted.
///
/// \par Thread safety
/// Plain values: copy freely; concurrent reads are safe, writes need external synchronization.

#include <connmgr/log.hpp>
#include <connmgr/url.hpp>

#include <chrono>
#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace connmgr {

using std::chrono::milliseconds;

/// TCP keepalive probes on every pooled socket.
struct keepalive_options {
    milliseconds idle{600'000};     ///< idle time before the first probe
    milliseconds interval{60'000};  ///< between probes
    unsigned count{5};              ///< unanswered probes before the socket is dead
    friend bool operator==(const keepalive_options&, const keepalive_options&) = default;
};

/// The longest duration any option may hold (365 days): far beyond any sensible setting, and
/// far enough below the clocks' limits that no deadline arithmetic can overflow.
inline constexpr milliseconds max_duration{365LL * 24 * 3'600'000};

/// Sizing and timing of one pool (one flavour of one database).
struct pool_options {
    std::size_t min_idle{0};               ///< connections kept open while idle
    std::size_t max_size{20};              ///< hard cap: idle + in use + connecting
    milliseconds acquire_timeout{30'000};  ///< 0 = fail fast when exhausted
    std::size_t max_waiters{0};            ///< bound on queued acquirers; 0 = unbounded
    milliseconds connect_timeout{5'000};   ///< one connection attempt
    milliseconds query_timeout{0};         ///< per statement / command; 0 = none
    milliseconds max_lifetime{
        3'600'000};                      ///< recycle after this, minus up to 10% jitter; 0 = never
    milliseconds idle_timeout{300'000};  ///< close idle above min_idle after this; 0 = never
    milliseconds health_check_interval{30'000};  ///< validate on borrow if idle longer; 0 = always
    milliseconds leak_threshold{0};              ///< warn when a lease is held longer; 0 = off
    keepalive_options keepalive{};
    /// PostgreSQL: a statement run on every returned connection after any open transaction is
    /// rolled back (e.g. "DISCARD ALL"); "" = none. Refused in pgbouncer mode (it would reset
    /// a server connection another client uses next).
    std::string reset_query{};
    /// PostgreSQL async: prepared statements kept per connection, by SQL text (LRU); 0 = off
    /// (unnamed statements). Off in pgbouncer mode (resolved to 0 by the loader).
    std::size_t statement_cache{512};
    friend bool operator==(const pool_options&, const pool_options&) = default;
};

/// Connection establishment retries (never queries): exponential backoff with full jitter.
struct retry_options {
    unsigned attempts{5};            ///< attempts per connect, the first included
    milliseconds base_delay{2'000};  ///< first backoff ceiling; doubles per attempt
    milliseconds max_delay{30'000};  ///< cap on one backoff
    friend bool operator==(const retry_options&, const retry_options&) = default;
};

/// Per-database circuit breaker over consecutive connect failures.
struct breaker_options {
    unsigned failure_threshold{5};  ///< consecutive connect failures that open it; 0 = never
    milliseconds open_for{60'000};  ///< how long it stays open before one trial connect
    friend bool operator==(const breaker_options&, const breaker_options&) = default;
};

/// Everything one named database resolves to, after every layer.
struct database_config {
    std::string name;           ///< the key under `databases:`
    db_url url;                 ///< parsed; `url.redacted()` is safe to print
    pool_options sync_pool{};   ///< options of the sync flavour
    pool_options async_pool{};  ///< options of the async flavour
    retry_options retry{};
    breaker_options circuit_breaker{};
    milliseconds drain_timeout{30'000};   ///< how long close waits for leases to come back
    bool close_when_unreferenced{false};  ///< close the pools when the last store_ref goes
    bool pgbouncer{false};                ///< PostgreSQL behind PgBouncer (transaction pooling):
                                          ///< no named prepared statements, no session settings
    /// A server of a multi-host database found down or of the wrong kind is tried last until
    /// this much time has passed since (DESIGN §12).
    milliseconds hosts_recheck_interval{10'000};
    /// Where pg_client::reader() reads (DESIGN §12); unset: the same hosts with
    /// target_session_attrs=prefer-standby&load_balance_hosts=random.
    std::optional<db_url> read_url{};

    backend kind() const noexcept { return url.kind(); }
};

/// The manager's HTTP telemetry endpoint (DESIGN §7).
struct telemetry_options {
    /// "127.0.0.1:9187" (an IP literal, `[::1]:9187`, or `localhost`) serves /metrics /health
    /// /stats there; port 0 = any free port; "" = off.
    std::string listen;
    friend bool operator==(const telemetry_options&, const telemetry_options&) = default;
};

/// The manager itself, not per database (`runtime:`).
struct runtime_options {
    std::size_t io_threads{0};  ///< threads for async I/O, timers and probes; 0 = one per core
    telemetry_options telemetry{};
    /// Messages below this level are dropped (set_log_level(), connmgr/log.hpp); applied by
    /// manager::configure(). YAML: debug, info, warn or error.
    connmgr::log_level log_level{connmgr::log_level::info};
    friend bool operator==(const runtime_options&, const runtime_options&) = default;
};

/// The whole configuration of a manager.
struct manager_config {
    std::map<std::string, database_config, std::less<>> databases;
    milliseconds drain_timeout{30'000};  ///< defaults.drain_timeout: close_all's overall wait
    runtime_options runtime{};
};

/// Throws config_error naming `path` ("databases.app.pool.min_idle (8) > max_size (4)").
void validate(const pool_options& options, std::string_view path);

/// A listen address ("127.0.0.1:9187", "[::1]:0", "localhost:9187") split into host and port.
struct listen_address {
    std::string host;  ///< an IP literal (brackets removed) or "localhost"
    unsigned short port{0};
};

/// Parses `runtime.telemetry.listen`; throws config_error naming the text and what is wrong.
listen_address parse_listen_address(std::string_view text);

/// Where reads of a PostgreSQL database go (DESIGN §12): `db.read_url` when set, else the
/// same hosts with target_session_attrs=prefer-standby&load_balance_hosts=random.
db_url read_url_of(const database_config& db);

/// "250ms", "30s", "5m", "1h" (chosen as the largest exact unit); used for display and JSON.
std::string format_duration(milliseconds d);

}  // namespace connmgr
