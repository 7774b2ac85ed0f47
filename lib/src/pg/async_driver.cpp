#include <connmgr/error.hpp>
#include <connmgr/pg/async_driver.hpp>

#include "async_conn_impl.hpp"
#include "connect_failure.hpp"
#include "conninfo.hpp"

namespace connmgr::pg {

async_driver::async_driver(const database_config& db, const pool_options& options)
    : async_driver(detail::params_of(db), db.name, options, db.pgbouncer) {}

async_driver::async_driver(conn_params params, std::string name, const pool_options& options,
                           bool pgbouncer)
    : params_(std::move(params)),
      name_(std::move(name)),
      options_(options),
      pgbouncer_(pgbouncer) {}

void async_driver::async_connect(boost::asio::any_io_executor ex, steady_time deadline,
                                 connect_handler<connection> handler) const {
    if (options_.connect_timeout.count() > 0)
        deadline = std::min(deadline, std::chrono::steady_clock::now() + options_.connect_timeout);
    // query_timeout is enforced by the connection (a server-side cancel), identically with or
    // without PgBouncer, so no statement_timeout startup option here.
    auto params = detail::effective_params(params_, name_, options_, 0, false);
    auto impl = std::make_shared<detail::async_conn_impl>(ex, options_.query_timeout);
    // The connection keeps this callback until the connect ends: a weak reference, or an
    // io_context destroyed mid-connect would leave the two keeping each other alive.
    impl->start_connect(params, deadline,
                        [weak = std::weak_ptr(impl), handler = std::move(handler), name = name_](
                            boost::system::error_code ec, std::string message) {
                            connect_outcome<connection> out;
                            auto conn = weak.lock();  // alive: the connect step calling us holds it
                            if (ec || !conn) {
                                out.error = ec ? ec : make_error_code(errc::connect_failed);
                                out.message =
                                    "PostgreSQL connect to '" + name + "' failed: " + message;
                                out.failure = detail::classify_connect_error(message);
                            } else {
                                out.connection = std::make_unique<connection>(std::move(conn));
                            }
                            handler(std::move(out));
                        });
}

void async_driver::async_ping(connection& c, steady_time deadline, ping_handler handler) const {
    c.impl().start_ping(deadline, std::move(handler));
}

bool async_driver::needs_restore(connection& c) const noexcept { return c.impl().in_transaction(); }

void async_driver::async_restore(connection& c, steady_time deadline, ping_handler handler) const {
    // Left inside a transaction (BEGIN without COMMIT, or a failed one): roll it back, as the
    // sync driver does; reset() then checks the connection is idle.
    c.impl().start_command("ROLLBACK", deadline, std::move(handler));
}

bool async_driver::reset(connection& c) const noexcept { return c.is_idle(); }

bool async_driver::is_broken(connection& c) const noexcept { return c.is_broken(); }

void async_driver::close(connection& c) const noexcept { c.impl().close(); }

}  // namespace connmgr::pg
