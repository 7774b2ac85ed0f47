#include <connmgr/error.hpp>
#include <connmgr/pg/sync_driver.hpp>

#include "cancel.hpp"
#include "connect_failure.hpp"
#include "conninfo.hpp"
#include "hosts.hpp"
#include "sync_watchdog.hpp"

#include <libpq-fe.h>
#include <poll.h>

#include <pqxx/except>

#include <optional>
#include <string>
#include <system_error>
#include <thread>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <exception>

namespace connmgr::pg {

namespace {

// libpqxx 6.4 exposes neither the PGconn nor the transaction status, and the pool must know
// whether a returned connection is still inside a transaction. Reading the private member
// through an explicit instantiation (which may name private members) is the one portable way
// in; it is confined to this file.
struct pgconn_member {
    using type = pqxx::internal::pq::PGconn* pqxx::connection_base::*;
};
pgconn_member::type member_of(pgconn_member);
template <class Tag, typename Tag::type Member>
struct expose_member {
    friend typename Tag::type member_of(Tag) { return Member; }
};
template struct expose_member<pgconn_member, &pqxx::connection_base::m_conn>;

PGconn* raw(pqxx::connection& c) noexcept { return c.*member_of(pgconn_member{}); }

std::string trimmed(std::string s) {
    while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
    return s;
}

// Runs `sql` (no results wanted) with a deadline, on libpq directly: libpqxx 6 has no
// deadline and would throw. False when it failed, timed out or the connection broke.
bool run_until(PGconn* conn, const char* sql, steady_time deadline) noexcept {
    if (conn == nullptr || PQstatus(conn) != CONNECTION_OK) return false;
    if (PQsendQuery(conn, sql) == 0) return false;
    bool ok = true;
    for (;;) {
        while (PQisBusy(conn) == 0) {
            PGresult* r = PQgetResult(conn);
            if (r == nullptr) return ok && PQstatus(conn) == CONNECTION_OK;
            auto status = PQresultStatus(r);
            if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK &&
                status != PGRES_EMPTY_QUERY)
                ok = false;
            PQclear(r);
        }
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) return false;
        pollfd p{PQsocket(conn), POLLIN, 0};
        int n = ::poll(&p, 1, static_cast<int>(std::min<long long>(left.count(), 60'000)));
        if (n < 0 && errno != EINTR) return false;
        if (n > 0 && PQconsumeInput(conn) == 0) return false;
    }
}

// "postgresql://user@host:port/dbname" from libpq parameters, for messages (no password).
std::string display_of(const conn_params& params) {
    auto get = [&](const char* key) {
        for (const auto& [k, v] : params)
            if (k == key) return v;
        return std::string();
    };
    std::string user = get("user");
    std::string port = get("port");
    return "postgresql://" + (user.empty() ? "" : user + "@") + get("host") +
           (port.empty() ? "" : ":" + port) + "/" + get("dbname");
}

}  // namespace

sync_driver::sync_driver(const database_config& db, const pool_options& options)
    : sync_driver(detail::params_of(db), db.name, options, db.pgbouncer) {
    display_ = db.url.redacted();
    if (plan_) plan_ = detail::host_plan::of(params_, db.hosts_recheck_interval);
}

sync_driver::sync_driver(conn_params params, std::string name, const pool_options& options,
                         bool pgbouncer)
    : params_(std::move(params)),
      name_(std::move(name)),
      display_(display_of(params_)),
      options_(options),
      pgbouncer_(pgbouncer),
      plan_(detail::host_plan::of(params_, std::chrono::milliseconds{10'000})) {}

void sync_driver::begin_request(connection& c) noexcept {
    detail::sync_watchdog::instance().begin(&c);
}

std::optional<std::string> sync_driver::timeout_message(connection& c, const std::exception& e) {
    const auto verdict = detail::sync_watchdog::instance().take(&c);
    if (!verdict) return std::nullopt;
    const auto* sql = dynamic_cast<const pqxx::sql_error*>(&e);
    const bool cancelled = sql != nullptr && sql->sqlstate() == "57014";
    const std::string head = "PostgreSQL request on " + verdict->what +
                             " got no answer within query_timeout (" +
                             std::to_string(verdict->timeout.count()) + "ms): ";
    const std::string server = trimmed(e.what());
    switch (verdict->how) {
        case detail::cut_short::closed:
            return head + "the cancel request got no answer within " +
                   std::to_string(detail::cancel_grace.count()) +
                   "ms either, so the connection was closed (" + server + ")";
        case detail::cut_short::cancelled: return head + "cancelled (" + server + ")";
        case detail::cut_short::none: break;
    }
    // The server's statement_timeout, which the driver set to query_timeout, came first.
    if (verdict->statement_timeout && cancelled &&
        server.find("statement timeout") != std::string::npos)
        return head + "cancelled by the server's statement_timeout (" + server + ")";
    return std::nullopt;
}

std::string sync_driver::conninfo(long connect_timeout_seconds) const {
    return detail::to_conninfo(
        detail::effective_params(params_, name_, options_, connect_timeout_seconds, !pgbouncer_));
}

connect_outcome<sync_driver::connection> sync_driver::connect(steady_time deadline) const {
    if (!plan_) return connect_one(params_, deadline);
    // DESIGN §12: each host alone, in the order the server table suggests, each within its own
    // connect_timeout; what each connect shows of its server is learned for every database.
    auto& table = connmgr::detail::server_table::instance();
    const auto goal = plan_->goal();
    const auto order = plan_->order();
    std::string tried;
    const int passes = goal == detail::target::prefer_standby ? 2 : 1;
    for (int pass = 0; pass < passes; ++pass) {
        for (auto i : order) {
            const auto& h = plan_->hosts()[i];
            if (std::chrono::steady_clock::now() >= deadline) break;
            auto out = connect_one(plan_->params_for(params_, i), deadline);
            if (!out.connection) {
                if (out.failure != connect_failure::transient) return out;  // as libpq: the end
                table.learn(h.id, server_state::down, out.message);
                if (pass == 0) tried += (tried.empty() ? "" : "; ") + h.name + ": " + out.message;
                continue;
            }
            PGconn* conn = raw(*out.connection);
            const auto state = detail::session_state(conn);
            table.learn(h.id, state);
            if (detail::fits(goal, state, pass == 0 && passes == 2)) {
                out.server = h.id;
                return out;
            }
            close(*out.connection);
            if (pass == 0)
                tried += (tried.empty() ? "" : "; ") + h.name + " is " + to_string(state);
        }
    }
    connect_outcome<connection> out;
    out.error = make_error_code(errc::connect_failed);
    out.message = "PostgreSQL connect to '" + name_ +
                  "' failed: no server fits target_session_attrs=" + detail::to_string(goal) +
                  " (" + tried + ")";
    return out;
}

std::optional<hosts_probe> sync_driver::probe_hosts(steady_time deadline) const {
    if (!plan_ || plan_->hosts().size() < 2) return std::nullopt;
    const auto& hosts = plan_->hosts();
    hosts_probe out;
    out.servers.resize(hosts.size());
    std::vector<char> fit(hosts.size(), 0);
    auto probe_one = [&](std::size_t i) noexcept {
        auto& s = out.servers[i];
        s.server = hosts[i].name;
        try {
            auto c = connect_one(plan_->params_for(params_, i), deadline);
            if (!c.connection)
                return detail::probe_refused(hosts[i], s, c.message,
                                             c.failure == connect_failure::transient);
            const auto ec = ping(*c.connection, deadline);
            fit[i] = detail::probe_answered(plan_->goal(), hosts[i], s, raw(*c.connection),
                                            ec ? "ping failed: " + ec.message() : "");
            close(*c.connection);
        } catch (const std::exception& e) {
            s.error = e.what();
        }
    };
    std::vector<std::thread> threads;
    try {
        for (std::size_t i = 1; i < hosts.size(); ++i) threads.emplace_back(probe_one, i);
    } catch (const std::system_error&) {
        // No thread to spare: the hosts left are probed here, one after the other.
        for (std::size_t i = threads.size() + 1; i < hosts.size(); ++i) probe_one(i);
    }
    probe_one(0);
    for (auto& t : threads) t.join();
    detail::probe_verdict(plan_->goal(), name_, fit, out);
    return out;
}

connect_outcome<sync_driver::connection> sync_driver::connect_one(const conn_params& params,
                                                                  steady_time deadline) const {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (options_.connect_timeout.count() > 0) left = std::min(left, options_.connect_timeout);
    long seconds = static_cast<long>(std::max<long long>((left.count() + 999) / 1000, 2));
    connect_outcome<connection> out;
    try {
        auto c = std::make_unique<connection>(detail::to_conninfo(
            detail::effective_params(params, name_, options_, seconds, !pgbouncer_)));
        // A pooled connection must stay broken once broken: the pool replaces it.
        // Deprecated in libpqxx 6 but still in force there: reactivation would hide breakage.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
        c->inhibit_reactivation(true);
#pragma GCC diagnostic pop
        // The client-side query_timeout (statement_timeout alone misses a frozen server and
        // does not apply through PgBouncer).
        if (options_.query_timeout.count() > 0) {
            PGconn* conn = raw(*c);
            detail::sync_watchdog::instance().watch(
                c.get(), conn, detail::cancel_target_of(conn), options_.query_timeout,
                "'" + name_ + "' (" + display_ + ")", !pgbouncer_);
        }
        out.connection = std::move(c);
    } catch (const std::exception& e) {
        // libpq's messages name host and user but never the password.
        out.error = make_error_code(errc::connect_failed);
        out.message = "PostgreSQL connect to '" + name_ + "' failed: " + trimmed(e.what());
        out.failure = detail::classify_connect_error(out.message);
    }
    return out;
}

boost::system::error_code sync_driver::ping(connection& c, steady_time deadline) const {
    // An empty query: one round trip, no parsing or planning on the server.
    if (run_until(raw(c), "", deadline)) return {};
    return make_error_code(errc::connection_lost);
}

bool sync_driver::reset(connection& c) const noexcept {
    PGconn* conn = raw(c);
    if (conn == nullptr || PQstatus(conn) != CONNECTION_OK) return false;
    // A request cut short by plain libpqxx calls: its cancel must not meet the next borrower.
    if (options_.query_timeout.count() > 0) detail::sync_watchdog::instance().settle(&c);
    auto bound = options_.connect_timeout.count() > 0 ? options_.connect_timeout
                                                      : std::chrono::milliseconds(5'000);
    switch (PQtransactionStatus(conn)) {
        case PQTRANS_IDLE: break;
        case PQTRANS_INTRANS:
        case PQTRANS_INERROR:
            // Left inside a transaction (e.g. "BEGIN" on a nontransaction): roll back, bounded.
            if (!run_until(conn, "ROLLBACK", std::chrono::steady_clock::now() + bound) ||
                PQtransactionStatus(conn) != PQTRANS_IDLE)
                return false;
            break;
        default:  // a statement still running, or unknown: not worth rescuing
            return false;
    }
    if (plan_ && !plan_->still_fits(conn, false)) return false;  // switched over: retired
    if (options_.reset_query.empty() || pgbouncer_) return true;
    return run_until(conn, options_.reset_query.c_str(),
                     std::chrono::steady_clock::now() + bound) &&
           PQtransactionStatus(conn) == PQTRANS_IDLE;
}

bool sync_driver::is_broken(connection& c) const noexcept {
    PGconn* conn = raw(c);
    if (conn == nullptr) return true;
    const bool timed_out =
        options_.query_timeout.count() > 0 && detail::sync_watchdog::instance().timed_out(&c);
    // The server went away (not our own query_timeout closing it): a failover signal.
    auto lost = [&] {
        if (plan_ && !timed_out) plan_->still_fits(conn, true);
        return true;
    };
    if (PQstatus(conn) != CONNECTION_OK) return lost();
    if (timed_out) return true;
    // An idle connection receives nothing but the server's goodbye (or a rare notice): if the
    // socket is readable, read it now so a terminated backend is noticed before reuse.
    pollfd p{PQsocket(conn), POLLIN, 0};
    if (PQisBusy(conn) == 0 && ::poll(&p, 1, 0) > 0) {
        if (PQconsumeInput(conn) == 0 || PQstatus(conn) != CONNECTION_OK) return lost();
    }
    return false;
}

void sync_driver::close(connection& c) const noexcept {
    if (options_.query_timeout.count() > 0) detail::sync_watchdog::instance().forget(&c);
    c.disconnect();
}

std::function<bool(std::uint32_t, server_state)> sync_driver::retire_rule() const {
    return detail::host_plan::retire_rule(plan_);
}

std::vector<std::uint32_t> sync_driver::servers() const {
    return detail::host_plan::server_ids(plan_);
}

}  // namespace connmgr::pg
