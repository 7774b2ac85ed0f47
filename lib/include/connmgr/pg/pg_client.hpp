#pragma once
/// connmgr::pg_client: the PostgreSQL face of one database's pool pair (DESIGN §3).
///
/// ```cpp
/// {
///     auto conn = db.acquire();                    // lease; *conn is a pqxx::connection&
///     pqxx::work tx{*conn};
///     tx.exec("SELECT 1");
///     tx.commit();
/// }
/// pg::result r = co_await db.async_query("SELECT $1::int + 1", 41);   // borrow, run, return
/// auto lease = co_await db.async_acquire();        // several statements on one connection
/// co_await lease->async_query("BEGIN"); /* ... */ co_await lease->async_query("COMMIT");
/// ```
///
/// `async_query(sql, args...)` converts its arguments at once and returns a deferred operation
/// completing with `(error_code, pg::result)`: `co_await` it, or call it with any completion
/// token (`db.async_query("SELECT 1")(asio::use_future)`). Errors: the pool's (acquire_timeout,
/// circuit_open, ...), query_timeout (no answer within query_timeout; see async_connection.hpp),
/// query_failed (the result carries the SQLSTATE; `r.check()` throws
/// query_error), connection_lost (the connection is discarded; the query is never replayed).
///
/// Sync statements are libpqxx calls on the lease and raise libpqxx's exceptions. Run them
/// through `db.run(f)` (borrow, `f(pqxx::connection&)`, give back) or `pg::run(lease, f)` to
/// have a request the client-side query_timeout cut short reported as `connmgr::error` with
/// `errc::query_timeout` (message: query_timeout, the database, its redacted URL, what was
/// done) instead of libpqxx's `query_canceled` / `broken_connection`; every other exception
/// passes through unchanged.
///
/// \par Thread safety
/// Cheap to copy (one shared_ptr); every member is safe to call from any thread at once. Leases
/// are used by one thread at a time.

#include <connmgr/detail/database_pools.hpp>
#include <connmgr/error.hpp>
#include <connmgr/lease.hpp>
#include <connmgr/pg/async_driver.hpp>
#include <connmgr/pg/params.hpp>
#include <connmgr/pg/pools.hpp>
#include <connmgr/pg/result.hpp>
#include <connmgr/pg/sync_driver.hpp>

#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/deferred.hpp>

#include <pqxx/except>

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace connmgr {

namespace pg {
/// Runs `f(*l)` (libpqxx calls on the leased connection) and returns what it returns. A request
/// that the client-side query_timeout cut short throws connmgr::error(errc::query_timeout)
/// instead of libpqxx's exception; anything else `f` throws passes through.
template <class F>
decltype(auto) run(lease<sync_driver>& l, F&& f) {
    sync_driver::begin_request(*l);
    try {
        return std::invoke(std::forward<F>(f), *l);
    } catch (const pqxx::failure& e) {
        if (auto why = sync_driver::timeout_message(*l, e)) throw error(errc::query_timeout, *why);
        throw;
    }
}
}  // namespace pg

namespace pg::detail {
using pools = connmgr::detail::database_pools<pg::sync_driver, pg::async_driver>;
using async_pool_type = pools::async_pool_type;

/// Borrow a connection, run one request on it, give it back, complete. Every step is bound to
/// the caller's executor, so the lease returns and the caller resumes there.
template <class Result, class Handler, class Request, class Run>
void borrow_and_run(std::shared_ptr<async_pool_type> pool, Request request, Handler handler,
                    Run run) {
    auto ex = boost::asio::get_associated_executor(handler, pool->get_executor());
    pool->async_acquire(boost::asio::bind_executor(
        ex, [h = std::move(handler), request = std::move(request), run, ex](
                boost::system::error_code ec, lease<async_driver> l) mutable {
            if (ec) {
                std::move(h)(ec, Result{});
                return;
            }
            auto& conn = *l;  // owned by the pool, not by the lease object
            run(conn, std::move(request),
                boost::asio::bind_executor(ex, [h = std::move(h), l = std::move(l)](
                                                   boost::system::error_code e, Result r) mutable {
                    l.release();  // free before the caller resumes
                    std::move(h)(e, std::move(r));
                }));
        }));
}
}  // namespace pg::detail

class pg_client {
public:
    using pools_type = pg::detail::pools;
    using sync_lease = lease<pg::sync_driver>;
    using async_lease = lease<pg::async_driver>;
    using acquire_signature = void(boost::system::error_code, async_lease);

    explicit pg_client(std::shared_ptr<pools_type> pools) noexcept : pools_(std::move(pools)) {}

    /// Blocks up to acquire_timeout; throws timeout_error, connect_error or error.
    sync_lease acquire() const { return pools_->sync()->acquire(); }
    sync_lease acquire(const acquire_options& opts) const { return pools_->sync()->acquire(opts); }
    /// Borrows a connection, returns `f(pqxx::connection&)`, gives it back; see pg::run for
    /// the errors (query_timeout when the client-side query_timeout fired).
    template <class F>
    decltype(auto) run(F&& f) const {
        auto l = acquire();
        return pg::run(l, std::forward<F>(f));
    }
    /// Never waits for other borrowers.
    boost::system::result<sync_lease> try_acquire() const { return pools_->sync()->try_acquire(); }

    /// Completes with (error_code, lease); `lease->async_query(...)` runs statements on it.
    template <boost::asio::completion_token_for<acquire_signature> Token = boost::asio::deferred_t>
    auto async_acquire(Token&& token = {}) const {
        return pools_->async()->async_acquire(std::forward<Token>(token));
    }

    /// Borrows a connection for one statement (no token: deferred).
    template <boost::asio::completion_token_for<pg::async_connection::query_signature> Token =
                  boost::asio::deferred_t>
    auto async_execute(pg::query q, Token&& token = {}) const {
        return boost::asio::async_initiate<Token, pg::async_connection::query_signature>(
            [](auto handler, std::shared_ptr<pg::detail::async_pool_type> pool, pg::query qq) {
                pg::detail::borrow_and_run<pg::result>(
                    std::move(pool), std::move(qq), std::move(handler),
                    [](pg::async_connection& c, pg::query q2, auto done) {
                        c.async_execute(std::move(q2), std::move(done));
                    });
            },
            token, pools_->async(), std::move(q));
    }

    /// Borrows a connection for one statement with `args` bound to $1, $2, ... (deferred).
    // After async_execute on purpose: clang must have read its body first (see
    // pg::async_connection::async_query).
    template <class... Args>
    auto async_query(std::string_view sql, Args&&... args) const {
        return async_execute(
            pg::query{std::string(sql), pg::make_params(std::forward<Args>(args)...)},
            boost::asio::deferred);
    }

    /// Borrows a connection for one pipeline (one round trip for every statement).
    template <boost::asio::completion_token_for<pg::async_connection::pipeline_signature> Token =
                  boost::asio::deferred_t>
    auto async_pipeline(std::vector<pg::query> queries, Token&& token = {}) const {
        return boost::asio::async_initiate<Token, pg::async_connection::pipeline_signature>(
            [](auto handler, std::shared_ptr<pg::detail::async_pool_type> pool,
               std::vector<pg::query> qs) {
                pg::detail::borrow_and_run<std::vector<pg::result>>(
                    std::move(pool), std::move(qs), std::move(handler),
                    [](pg::async_connection& c, std::vector<pg::query> q2, auto done) {
                        c.async_pipeline(std::move(q2), std::move(done));
                    });
            },
            token, pools_->async(), std::move(queries));
    }

    /// A client for reads of the same database (DESIGN §12): `databases.<name>.read_url` when
    /// set, else the same hosts with target_session_attrs=prefer-standby and
    /// load_balance_hosts=random. Its own pool pair, with the database's pool options; stats
    /// list it under the database's name with role "read". Writes must not go through it.
    pg_client reader() const { return pg_client(pools_->reader()); }

    const std::shared_ptr<pools_type>& pools() const noexcept { return pools_; }

private:
    std::shared_ptr<pools_type> pools_;
};

}  // namespace connmgr
