#include <connmgr/error.hpp>
#include <connmgr/pg/async_driver.hpp>

#include "async_conn_impl.hpp"
#include "connect_failure.hpp"
#include "conninfo.hpp"
#include "resolve.hpp"

namespace connmgr::pg {

async_driver::async_driver(const database_config& db, const pool_options& options)
    : async_driver(detail::params_of(db), db.name, options, db.pgbouncer) {}

async_driver::async_driver(conn_params params, std::string name, const pool_options& options,
                           bool pgbouncer)
    : params_(std::move(params)),
      name_(std::move(name)),
      options_(options),
      pgbouncer_(pgbouncer) {}

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

void async_driver::async_connect(boost::asio::any_io_executor ex, steady_time deadline,
                                 connect_handler<connection> handler) const {
    if (options_.connect_timeout.count() > 0)
        deadline = std::min(deadline, std::chrono::steady_clock::now() + options_.connect_timeout);
    // query_timeout is enforced by the connection (a server-side cancel), identically with or
    // without PgBouncer, so no statement_timeout startup option here.
    auto params = detail::effective_params(params_, name_, options_, 0, false);
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

bool async_driver::reset(connection& c) const noexcept { return c.is_idle(); }

bool async_driver::is_broken(connection& c) const noexcept { return c.is_broken(); }

void async_driver::close(connection& c) const noexcept { c.impl().close(); }

}  // namespace connmgr::pg
