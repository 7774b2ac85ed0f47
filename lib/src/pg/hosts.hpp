#pragma once
// A multi-host PostgreSQL database (DESIGN §12): its hosts with their server ids, the
// target_session_attrs it asks for, and the order to try the hosts in, from the process-wide
// server table. The decisions are pure functions (state_of, fits, order_hosts), tested
// without a server; the drivers carry out the connects.

#include <connmgr/detail/server_table.hpp>
#include <connmgr/pg/sync_driver.hpp>  // conn_params

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

struct pg_conn;

namespace connmgr::pg::detail {

using connmgr::detail::server_id;

/// libpq 15's target_session_attrs.
enum class target { any, read_write, read_only, primary, standby, prefer_standby };

/// "any", "read-write", ... as written in a URL.
const char* to_string(target t) noexcept;
/// The URL's value; nullopt when it names none of the six (the URL parser refuses those).
std::optional<target> parse_target(std::string_view text) noexcept;

/// What a session's reported parameter statuses say of its server (null: not reported, as by
/// a server before 14, taken as off).
server_state state_of(const char* in_hot_standby,
                      const char* default_transaction_read_only) noexcept;

/// What a live session's reported parameter statuses say of its server (state_of on
/// in_hot_standby and default_transaction_read_only).
server_state session_state(const pg_conn* conn) noexcept;

/// Whether a session on a server in state `s` fits `t`. prefer_standby takes only a standby on
/// its first pass (`first_pass`) and any server on the second, as libpq does.
bool fits(target t, server_state s, bool first_pass = false) noexcept;

/// One host of the list, as libpq would get it alone.
struct pg_host {
    std::string host;
    std::string port;
    std::string hostaddr;  ///< from the URL's hostaddr list, if any
    std::string name;      ///< "host:port", the server table's key
    server_id id{0};
};

/// What the table knew of one host when the order was made.
struct host_view {
    server_state state{server_state::unknown};
    bool recent{false};  ///< learned within hosts_recheck_interval
};

/// Indices of `hosts` in the order to try them: those known (recently) to be down or of the
/// wrong kind for `t` go last, the others keep their order (URL order, or `shuffled` first
/// when load_balance_hosts=random).
std::vector<std::size_t> order_hosts(const std::vector<host_view>& hosts, target t);

/// Probing every host (DESIGN §12, `connmgr check`): what one host's failed connect says of
/// it (`transient`: it did not answer, so it is down; else it refused the session, state
/// unknown), recorded in `s` and learned in the server table. `message` is the driver's
/// "PostgreSQL connect to '<name>' failed: ..." (libpq's words: no password).
void probe_refused(const pg_host& h, server_health& s, const std::string& message, bool transient);
/// What a session on host `h` said: its state from its parameter statuses, or down when its
/// round trip failed (`ping_error` not empty); learned in the server table. True when it
/// answered in a state that fits `t`.
bool probe_answered(target t, const pg_host& h, server_health& s, const pg_conn* conn,
                    const std::string& ping_error);
/// The verdict once every host was probed: `out.fits` from `fit` (one per host), and when none
/// fits, `out.message` naming the database, the target and what each server is.
void probe_verdict(target t, const std::string& name, const std::vector<char>& fit,
                   hosts_probe& out);

class host_plan {
public:
    /// The plan of a database whose URL names several hosts or a target other than `any`;
    /// nullptr for a plain single-server database (nothing changes for it).
    static std::shared_ptr<const host_plan> of(const conn_params& params,
                                               std::chrono::milliseconds recheck);

    target goal() const noexcept { return target_; }
    const std::vector<pg_host>& hosts() const noexcept { return hosts_; }

    /// The order to try the hosts now (shuffled first with load_balance_hosts=random).
    std::vector<std::size_t> order() const;

    /// `base` for host `i` alone, without the parameters connmgr handles itself.
    conn_params params_for(const conn_params& base, std::size_t i) const;

    /// The host a live session is on (by libpq's PQhost/PQport), or null.
    const pg_host* host_of(const pg_conn* conn) const noexcept;

    /// Called when a pooled session comes back: false when it no longer fits the target, or
    /// its connection was lost; what that says of its server is learned (the server table
    /// then tells every pool on that server).
    bool still_fits(const pg_conn* conn, bool lost) const;

    /// What a driver's retire_rule() answers (see database_pools): a server of this plan whose
    /// new state does not fit its target is retired. Empty without a plan.
    static std::function<bool(server_id, server_state)> retire_rule(
        const std::shared_ptr<const host_plan>& plan);
    /// The hosts' ids in URL order; empty without a plan.
    static std::vector<server_id> server_ids(const std::shared_ptr<const host_plan>& plan);

    /// The id of "host:port" in the server table (interned at construction).
    server_id id_of(std::string_view name) const noexcept;

private:
    target target_{target::any};
    bool balance_{false};
    std::chrono::milliseconds recheck_{10'000};
    std::vector<pg_host> hosts_;
};

}  // namespace connmgr::pg::detail
