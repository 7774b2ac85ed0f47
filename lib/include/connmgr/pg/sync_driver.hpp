#pragma once
/// The blocking PostgreSQL driver: pooled connections are plain `pqxx::connection`s.
///
/// Every connection gets, unless the URL sets them: `application_name=connmgr:<name>`
/// (as libpq's fallback_application_name, so a URL's application_name wins), TCP keepalives
/// from `pool_options::keepalive`, `connect_timeout` from the pool's deadline and, when
/// `query_timeout` is set, `statement_timeout` as a startup option (`options=-c ...`).
///
/// `query_timeout` is also enforced by the client, directly and through PgBouncer: a watchdog
/// thread (one per process) watches each connection's socket without touching libpq; a request
/// that has had no answer for query_timeout gets a CancelRequest (non-blocking, bounded), and
/// if the server stays silent for 700 ms more the socket is shut down. The blocked statement
/// then fails within query_timeout + 1 s; libpqxx reports it as `pqxx::sql_error` SQLSTATE
/// 57014 (cancelled) or `pqxx::broken_connection` (socket shut down; the pool discards the
/// connection), and `pg::run` / `pg_client::run` (pg_client.hpp) turn that into
/// `connmgr::error` with `errc::query_timeout`. This needs TCP: over a unix socket only the
/// server-side statement_timeout applies.
///
/// PgBouncer mode (`database_config::pgbouncer`): PgBouncer rejects startup `options` and a
/// session `SET` would leak to other clients in transaction pooling, so no statement_timeout
/// is applied by the driver (the client-side timeout above still is): set it per role on the
/// server (`ALTER ROLE ... SET statement_timeout`) or per transaction (`SET LOCAL`).
///
/// On return (`reset()`), an open or failed transaction is rolled back and `reset_query`, when
/// set, runs (e.g. `DISCARD ALL`; never in pgbouncer mode, which the configuration refuses).
///
/// libpqxx 6 silently reconnects a broken connection on next use; the driver turns that off so
/// that a broken connection stays broken and the pool discards it.
///
/// \par Thread safety
/// A driver is immutable after construction: its members may be called from many threads at
/// once. A connection is used by one thread at a time.

#include <connmgr/config.hpp>
#include <connmgr/detail/server_table.hpp>
#include <connmgr/driver.hpp>
#include <connmgr/health.hpp>

#include <pqxx/connection>

#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace connmgr::pg {

namespace detail {
class host_plan;
}

/// libpq keyword/value pairs.
using conn_params = std::vector<std::pair<std::string, std::string>>;

/// What probing every host of a multi-host database found (sync_driver::probe_hosts,
/// async_driver::async_probe_hosts).
struct hosts_probe {
    std::vector<server_health> servers;  ///< in URL order
    bool fits{false};                    ///< some server answered in a state that fits the target
    std::string message;                 ///< when none fits: the target and what each server is
};

class sync_driver {
public:
    using connection = pqxx::connection;

    sync_driver(const database_config& db, const pool_options& options);
    /// For callers without a parsed db_url: `params` as from `db_url::pg_params()`.
    sync_driver(conn_params params, std::string name, const pool_options& options,
                bool pgbouncer = false);

    connect_outcome<connection> connect(steady_time deadline) const;
    boost::system::error_code ping(connection& c, steady_time deadline) const;
    bool reset(connection& c) const noexcept;
    bool is_broken(connection& c) const noexcept;
    void close(connection& c) const noexcept;

    /// A request starts on `c` (pg::run): forget how the one before ended.
    static void begin_request(connection& c) noexcept;
    /// When the client-side query_timeout cut short the request on `c` that failed with `e`
    /// (the watchdog cancelled it or closed the connection, or the server's statement_timeout
    /// the driver set fired): the message to report, naming query_timeout, the database and its
    /// redacted URL. nullopt when the failure is not ours.
    static std::optional<std::string> timeout_message(connection& c, const std::exception& e);

    /// The conninfo string passed to libpq for a given connect_timeout (seconds, >= 2).
    /// Contains the password: never print it.
    std::string conninfo(long connect_timeout_seconds) const;

    /// For a multi-host database: whether its pool should retire its connections to `server`
    /// now that the server is in `state` (a state that does not fit its target). Empty for a
    /// single-server database. Safe from any thread.
    std::function<bool(std::uint32_t server, server_state state)> retire_rule() const;
    /// The server ids of a multi-host database's hosts, in URL order; empty otherwise.
    std::vector<std::uint32_t> servers() const;

    /// For a database whose URL names several hosts (DESIGN §12): each host alone, all at once
    /// (one thread each), a connect and one round trip within `deadline`; each state is read
    /// from the session's in_hot_standby / default_transaction_read_only and learned in the
    /// server table. nullopt for a single-host database.
    std::optional<hosts_probe> probe_hosts(steady_time deadline) const;

private:
    connect_outcome<connection> connect_one(const conn_params& params, steady_time deadline) const;

    conn_params params_;
    std::string name_;
    std::string display_;  ///< the redacted URL, for messages
    pool_options options_;
    bool pgbouncer_;
    /// Several hosts or a target_session_attrs: connmgr tries the hosts itself (DESIGN §12).
    std::shared_ptr<const detail::host_plan> plan_;
};

static_assert(connmgr::sync_driver<sync_driver>);

}  // namespace connmgr::pg
