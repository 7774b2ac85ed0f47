#include <connmgr/error.hpp>
#include <connmgr/pg/async_driver.hpp>

#include "async_conn_impl.hpp"
#include "connect_failure.hpp"
#include "conninfo.hpp"
#include "hosts.hpp"
#include "resolve.hpp"

#include <libpq-fe.h>

namespace connmgr::pg {

async_driver::async_driver(const database_config& db, const pool_options& options)
    : async_driver(detail::params_of(db), db.name, options, db.pgbouncer) {
    if (plan_) plan_ = detail::host_plan::of(params_, db.hosts_recheck_interval);
}

async_driver::async_driver(conn_params params, std::string name, const pool_options& options,
                           bool pgbouncer)
    : params_(std::move(params)),
      name_(std::move(name)),
      options_(options),
      pgbouncer_(pgbouncer),
      plan_(detail::host_plan::of(params_, std::chrono::milliseconds{10'000})) {}

namespace {

void connect_resolved(boost::asio::any_io_executor ex, const conn_params& params,
                      steady_time deadline, std::chrono::milliseconds query_timeout,
                      std::size_t statement_cache, std::string name,
                      connect_handler<async_connection> handler) {
    auto impl = std::make_shared<detail::async_conn_impl>(ex, query_timeout, statement_cache);
    // The connection keeps this callback until the connect ends: a weak reference, or an
    // io_context destroyed mid-connect would leave the two keeping each other alive.
    impl->start_connect(
        params, deadline,
        [weak = std::weak_ptr(impl), handler = std::move(handler), name = std::move(name)](
            boost::system::error_code ec, std::string message) {
            connect_outcome<async_connection> out;
            auto conn = weak.lock();  // alive: the connect step calling us holds it
            if (ec || !conn) {
                out.error = ec ? ec : make_error_code(errc::connect_failed);
                out.message = "PostgreSQL connect to '" + name + "' failed: " + message;
                out.failure = detail::classify_connect_error(message);
            } else {
                out.connection = std::make_unique<async_connection>(std::move(conn));
            }
            handler(std::move(out));
        });
}

}  // namespace

namespace {

// One multi-host connect (DESIGN §12): each host alone, in the order the server table
// suggests, each within its own connect_timeout (PQconnectPoll has none); what each connect
// shows of its server is learned for every database naming it.
struct multi_connect : std::enable_shared_from_this<multi_connect> {
    using outcome = connect_outcome<async_connection>;
    std::function<void(const conn_params&, steady_time, connect_handler<async_connection>)> one;
    std::shared_ptr<const detail::host_plan> plan;
    conn_params params;
    std::string name;
    std::chrono::milliseconds per_host{0};
    steady_time deadline;
    connect_handler<async_connection> done;
    std::vector<std::size_t> order;
    std::size_t next{0};
    int pass{0};
    int passes{1};
    std::string tried;

    void step() {
        if (next == order.size() && ++pass < passes) next = 0;
        const auto now = std::chrono::steady_clock::now();
        if (next == order.size() || now >= deadline) return fail();
        const std::size_t i = order[next++];
        auto host_deadline = deadline;
        if (per_host.count() > 0) host_deadline = std::min(deadline, now + per_host);
        one(plan->params_for(params, i), host_deadline,
            [self = shared_from_this(), i](outcome out) { self->landed(i, std::move(out)); });
    }

    void landed(std::size_t i, outcome out) {
        const auto& h = plan->hosts()[i];
        auto& table = connmgr::detail::server_table::instance();
        if (!out.connection || out.error) {
            if (out.connection) out.connection->impl().close();
            if (out.failure != connect_failure::transient)
                return std::exchange(done, nullptr)(std::move(out));
            table.learn(h.id, server_state::down, out.message);
            note(h.name + ": " + out.message);
            return step();
        }
        const auto state = detail::session_state(out.connection->impl().raw());
        table.learn(h.id, state);
        if (detail::fits(plan->goal(), state, pass == 0 && passes == 2)) {
            out.server = h.id;
            out.connection->impl().set_server(h.name, plan->goal());
            return std::exchange(done, nullptr)(std::move(out));
        }
        out.connection->impl().close();
        note(h.name + " is " + to_string(state));
        step();
    }

    void note(const std::string& what) {
        if (pass == 0) tried += (tried.empty() ? "" : "; ") + what;
    }

    void fail() {
        outcome out;
        out.error = make_error_code(errc::connect_failed);
        out.message =
            "PostgreSQL connect to '" + name +
            "' failed: no server fits target_session_attrs=" + detail::to_string(plan->goal()) +
            " (" + tried + ")";
        std::exchange(done, nullptr)(std::move(out));
    }
};

}  // namespace

void async_driver::async_connect(boost::asio::any_io_executor ex, steady_time deadline,
                                 connect_handler<connection> handler) const {
    if (!plan_) return connect_one(std::move(ex), params_, deadline, std::move(handler));
    auto op = std::make_shared<multi_connect>();
    // A copy of the driver: the pool (and this driver) may go away before the last host answers.
    op->one = [driver = std::make_shared<async_driver>(*this), ex](
                  const conn_params& p, steady_time d, connect_handler<connection> h) {
        driver->connect_one(ex, p, d, std::move(h));
    };
    op->plan = plan_;
    op->params = params_;
    op->name = name_;
    op->per_host = options_.connect_timeout;
    op->deadline = deadline;
    op->done = std::move(handler);
    op->order = plan_->order();
    op->passes = plan_->goal() == detail::target::prefer_standby ? 2 : 1;
    op->step();
}

namespace {

// One probe of every host (DESIGN §12): held by its owner, reached weakly by the handlers.
struct hosts_probe_run {
    std::shared_ptr<const async_driver> driver;  // a copy: the caller's may go first
    std::shared_ptr<const detail::host_plan> plan;
    std::string name;
    steady_time deadline;
    hosts_probe result;
    std::vector<char> fit;
    std::vector<std::unique_ptr<async_connection>> connections;  ///< closed when destroyed
    std::size_t pending{0};
    std::function<void(hosts_probe)> done;

    void host_done() {
        if (--pending != 0 || !done) return;
        detail::probe_verdict(plan->goal(), name, fit, result);
        std::exchange(done, nullptr)(std::move(result));
    }
};

}  // namespace

std::shared_ptr<void> async_driver::async_probe_hosts(boost::asio::any_io_executor ex,
                                                      steady_time deadline,
                                                      std::function<void(hosts_probe)> done) const {
    if (!plan_ || plan_->hosts().size() < 2) return nullptr;
    const auto n = plan_->hosts().size();
    auto run = std::make_shared<hosts_probe_run>();
    run->driver = std::make_shared<async_driver>(*this);
    run->plan = plan_;
    run->name = name_;
    run->deadline = deadline;
    run->result.servers.resize(n);
    run->fit.assign(n, 0);
    run->connections.resize(n);
    run->pending = n;
    run->done = std::move(done);
    std::weak_ptr<hosts_probe_run> weak = run;
    for (std::size_t i = 0; i < n; ++i) {
        run->result.servers[i].server = plan_->hosts()[i].name;
        run->driver->connect_one(
            ex, plan_->params_for(params_, i), deadline,
            [weak, i](connect_outcome<connection> out) {
                auto self = weak.lock();
                if (!self) return;  // abandoned: the new connection closes with `out`
                const auto& host = self->plan->hosts()[i];
                auto& server = self->result.servers[i];
                if (!out.connection || out.error) {
                    if (out.connection) out.connection->impl().close();
                    detail::probe_refused(host, server, out.message,
                                          out.failure == connect_failure::transient);
                    return self->host_done();
                }
                self->connections[i] = std::move(out.connection);
                self->driver->async_ping(
                    *self->connections[i], self->deadline, [weak, i](boost::system::error_code ec) {
                        auto probe = weak.lock();
                        if (!probe) return;
                        auto& c = *probe->connections[i];
                        probe->fit[i] = detail::probe_answered(
                            probe->plan->goal(), probe->plan->hosts()[i], probe->result.servers[i],
                            c.impl().raw(), ec ? "ping failed: " + ec.message() : "");
                        c.impl().close();
                        probe->host_done();
                    });
            });
    }
    return run;
}

void async_driver::connect_one(boost::asio::any_io_executor ex, const conn_params& base,
                               steady_time deadline, connect_handler<connection> handler) const {
    if (options_.connect_timeout.count() > 0)
        deadline = std::min(deadline, std::chrono::steady_clock::now() + options_.connect_timeout);
    // query_timeout is enforced by the connection (a server-side cancel), identically with or
    // without PgBouncer, so no statement_timeout startup option here.
    auto params = detail::effective_params(base, name_, options_, 0, false);
    // PgBouncer's transaction pooling hands each transaction to any server connection: a
    // statement prepared on one is unknown on the next.
    const std::size_t statement_cache = pgbouncer_ ? 0 : options_.statement_cache;
    // Names first, off this thread: PQconnectStartParams would resolve them blocking.
    detail::async_resolve_hosts(
        ex, std::move(params), deadline,
        [ex, deadline, query_timeout = options_.query_timeout, statement_cache, name = name_,
         handler = std::move(handler)](boost::system::error_code ec, std::string message,
                                       conn_params resolved) mutable {
            if (ec) {
                connect_outcome<connection> out;
                out.error = ec;
                out.message = "PostgreSQL connect to '" + name + "' failed: " + message;
                return handler(std::move(out));
            }
            connect_resolved(ex, resolved, deadline, query_timeout, statement_cache,
                             std::move(name), std::move(handler));
        });
}

void async_driver::async_ping(connection& c, steady_time deadline, ping_handler handler) const {
    c.impl().start_ping(deadline, std::move(handler));
}

bool async_driver::needs_restore(connection& c) const noexcept {
    return c.impl().in_transaction() || (!options_.reset_query.empty() && !pgbouncer_);
}

void async_driver::async_restore(connection& c, steady_time deadline, ping_handler handler) const {
    // Left inside a transaction (BEGIN without COMMIT, or a failed one): roll it back, as the
    // sync driver does; then the configured reset_query. reset() checks the result is idle.
    auto impl = c.impl().shared_from_this();
    const bool rollback = impl->in_transaction();
    const std::string reset = pgbouncer_ ? std::string() : options_.reset_query;
    auto run_reset = [impl, reset, deadline, handler](boost::system::error_code ec) mutable {
        if (ec || reset.empty()) return handler(ec);
        impl->start_command(reset, deadline, std::move(handler));
    };
    if (!rollback) return run_reset({});
    impl->start_command("ROLLBACK", deadline, std::move(run_reset));
}

bool async_driver::reset(connection& c) const noexcept {
    if (!c.is_idle()) return false;
    return !plan_ || plan_->still_fits(c.impl().raw(), false);  // switched over: retired
}

bool async_driver::is_broken(connection& c) const noexcept {
    if (!c.is_broken()) return false;
    // The server went away (not our own query_timeout): a failover signal.
    const PGconn* conn = c.impl().raw();
    if (plan_ && conn != nullptr && PQstatus(const_cast<PGconn*>(conn)) == CONNECTION_BAD)
        plan_->still_fits(conn, true);
    return true;
}

void async_driver::close(connection& c) const noexcept { c.impl().close(); }

std::function<bool(std::uint32_t, server_state)> async_driver::retire_rule() const {
    return detail::host_plan::retire_rule(plan_);
}

std::vector<std::uint32_t> async_driver::servers() const {
    return detail::host_plan::server_ids(plan_);
}

}  // namespace connmgr::pg
