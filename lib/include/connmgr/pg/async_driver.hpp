#pragma once
/// The non-blocking PostgreSQL driver: raw libpq on Asio, no thread offload.
///
/// Statements run through a per-connection prepared-statement cache (`pool.statement_cache`,
/// off in pgbouncer mode; see async_connection.hpp).
///
/// Connects with `PQconnectStartParams` / `PQconnectPoll` driven by Asio readiness waits and
/// bounded by a timer (libpq's own connect_timeout does not apply to polling). Settings are
/// those of `pg::sync_driver`, except statement_timeout: `query_timeout` is enforced by the
/// connection itself (a client-side deadline, then a CancelRequest, then closing the connection
/// when the server stays silent), which also works through PgBouncer and against a frozen
/// server. Connect failures are classified (`connect_failure`) from the server's message.
///
/// Each connection runs its handlers on a strand of the executor it was connected on. Readiness
/// comes from Asio's edge-triggered reactor; give the pools an executor whose io_context runs on
/// one thread (the manager's does), as a second thread could take a readiness edge before the
/// connection waits for it.
///
/// Host names are resolved first with Asio's resolver (getaddrinfo on Asio's own thread, bounded
/// by the connect deadline) and passed to libpq as `hostaddr`, every address of a name in turn,
/// so `PQconnectStartParams` never blocks the I/O thread on DNS.
///
/// Dead connections: `is_broken()` also reads an idle socket without blocking, so a backend
/// that was terminated (pg_terminate_backend, server restart) is noticed as soon as its goodbye
/// arrived (unless the socket was read within the last millisecond, by a request or a probe:
/// a lease returned right after its last request costs no syscall); a request on a connection that
/// breaks fails with `errc::connection_lost` and the connection is discarded. The pools validate
/// idle connections on borrow after `health_check_interval` (an empty-query round trip).
///
/// \par Thread safety
/// A driver is immutable after construction: its members may be called from many threads at
/// once. A connection is used by one thread at a time.

#include <connmgr/config.hpp>
#include <connmgr/detail/server_table.hpp>
#include <connmgr/driver.hpp>
#include <connmgr/pg/async_connection.hpp>
#include <connmgr/pg/sync_driver.hpp>

#include <functional>
#include <memory>
#include <string>

namespace connmgr::pg {

class async_driver {
public:
    using connection = async_connection;

    async_driver(const database_config& db, const pool_options& options);
    async_driver(conn_params params, std::string name, const pool_options& options,
                 bool pgbouncer = false);

    void async_connect(boost::asio::any_io_executor ex, steady_time deadline,
                       connect_handler<connection> handler) const;
    void async_ping(connection& c, steady_time deadline, ping_handler handler) const;
    /// A transaction left open (or failed) by the borrower, or a `reset_query` configured:
    /// async_restore rolls back, then runs the reset_query (never in pgbouncer mode).
    bool needs_restore(connection& c) const noexcept;
    void async_restore(connection& c, steady_time deadline, ping_handler handler) const;
    bool reset(connection& c) const noexcept;
    bool is_broken(connection& c) const noexcept;
    void close(connection& c) const noexcept;

    /// For a multi-host database: whether its pool should retire its connections to `server`
    /// now that the server is in `state` (a state that does not fit its target). Empty for a
    /// single-server database. Safe from any thread.
    std::function<bool(std::uint32_t server, server_state state)> retire_rule() const;
    /// The server ids of a multi-host database's hosts, in URL order; empty otherwise.
    std::vector<std::uint32_t> servers() const;

    /// sync_driver::probe_hosts without blocking: every host of a multi-host database at once,
    /// a connect and one round trip each within `deadline`; `done` runs on `ex` once every host
    /// answered or failed. The returned object owns the probe: dropping it abandons the probe
    /// (its connections close) and `done` never runs. nullptr, and `done` never runs, for a
    /// single-host database.
    std::shared_ptr<void> async_probe_hosts(boost::asio::any_io_executor ex, steady_time deadline,
                                            std::function<void(hosts_probe)> done) const;

private:
    void connect_one(boost::asio::any_io_executor ex, const conn_params& params,
                     steady_time deadline, connect_handler<connection> handler) const;

    conn_params params_;
    std::string name_;
    pool_options options_;
    bool pgbouncer_;
    /// Several hosts or a target_session_attrs: connmgr tries the hosts itself (DESIGN §12).
    std::shared_ptr<const detail::host_plan> plan_;
};

static_assert(connmgr::async_driver<async_driver>);
static_assert(connmgr::async_restorable<async_driver>);

}  // namespace connmgr::pg
