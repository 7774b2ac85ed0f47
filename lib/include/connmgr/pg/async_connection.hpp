#pragma once
/// One non-blocking PostgreSQL connection (the connection type of `pg::async_driver`).
///
/// ```cpp
/// pg::result r = co_await conn.async_query("SELECT $1::int + 1", 41);
/// auto [ec, r2] = co_await conn.async_query("SELECT 1")(asio::as_tuple(asio::use_awaitable));
/// std::vector<pg::result> rs = co_await conn.async_pipeline({"BEGIN", pg::query::with(
///     "INSERT INTO t VALUES ($1)", 1), "COMMIT"});
/// ```
///
/// `async_query(sql, args...)` converts the arguments at once (a plain function, so the GCC 12
/// braced-init-list bug in coroutines does not bite) and returns a deferred operation: `co_await`
/// it, or call it with any completion token. Operations complete with `(error_code, result)`:
/// `errc::query_failed` when the server rejected the statement (the result then carries the
/// SQLSTATE and message; `result::check()` throws `query_error`), `errc::connection_lost` when
/// the connection broke (it is then `is_broken()` and the pool discards it).
///
/// `query_timeout` (from the pool options) is the client's own deadline: when it passes, a
/// CancelRequest goes out (non-blocking on Asio, with its own deadline; libpq's blocking
/// `PQcancel` is never called). If the server answers it within 700 ms the request fails with
/// `errc::query_timeout` (result SQLSTATE 57014) and the connection stays usable; otherwise the
/// connection is closed and the request fails with `errc::query_timeout` (SQLSTATE 08006): so a
/// request ends within query_timeout + 1 s even against a frozen server. It is never replayed.
///
/// COPY (`TO STDOUT`, `FROM STDIN`) is not supported here: the statement fails at once with
/// query_failed (SQLSTATE 0A000), its data is drained or the COPY ended with an error, and the
/// connection stays usable; use a sync lease (`pqxx::stream_from` / `stream_to`).
///
/// Pipelines (`async_pipeline`) send every statement before reading any result (libpq pipeline
/// mode, one sync at the end); each statement gets its own result. One failing statement makes
/// the server skip the rest up to the sync: those results carry SQLSTATE "" and the message
/// "pipeline aborted"; the operation then completes with query_failed and every result.
///
/// Statement cache (`pool.statement_cache`, off with `pgbouncer: true`): each statement's SQL
/// text is prepared on the server under a name the first time this connection runs it (Parse
/// and execution in one round trip) and executed by name afterwards, for up to
/// `statement_cache` distinct texts; the least recently used is deallocated (in the next
/// request's round trip, outside transactions). A statement the server no longer has (SQLSTATE
/// 26000) or whose result type changed (0A000 "cached plan must not change result type", after
/// ALTER TABLE) is forgotten and prepared again: the request is re-sent once when that
/// statement was its first and no transaction is open, else it fails and the next one
/// succeeds. DISCARD ALL / DEALLOCATE ALL (e.g. `reset_query`) empty the cache. COPY, DISCARD
/// and DEALLOCATE always run unnamed.
///
/// \par Thread safety
/// Used by one thread (or one coroutine) at a time, with one operation in flight at a time.
/// Completion handlers run on their associated executor (the coroutine's, for awaitables).

#include <connmgr/pg/params.hpp>
#include <connmgr/pg/result.hpp>

#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/system_executor.hpp>
#include <boost/system/error_code.hpp>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace connmgr::pg {

namespace detail {
class async_conn_impl;
}

class async_connection {
public:
    using query_signature = void(boost::system::error_code, result);
    using pipeline_signature = void(boost::system::error_code, std::vector<result>);

    explicit async_connection(std::shared_ptr<detail::async_conn_impl> impl) noexcept;
    async_connection(const async_connection&) = delete;
    async_connection& operator=(const async_connection&) = delete;
    /// Closes the connection if the driver has not.
    ~async_connection();

    /// Runs one statement (no token: deferred).
    template <boost::asio::completion_token_for<query_signature> Token = boost::asio::deferred_t>
    auto async_execute(query q, Token&& token = {}) {
        return boost::asio::async_initiate<Token, query_signature>(
            [this](auto handler, query qq) {
                auto ex = executor_of(handler);
                start_query(std::move(qq), std::move(ex), std::move(handler));
            },
            token, std::move(q));
    }

    /// Runs `sql` with `args` bound to $1, $2, ...; returns a deferred operation.
    // Defined after async_execute on purpose: the call below does not depend on Args, so clang
    // resolves it, and deduces async_execute's return type, when it reads this body; clang reads
    // member function bodies in order, and before async_execute's it reports "function with
    // deduced return type cannot be used before it is defined" (GCC is not bothered).
    template <class... Args>
    auto async_query(std::string_view sql, Args&&... args) {
        return async_execute(query{std::string(sql), make_params(std::forward<Args>(args)...)},
                             boost::asio::deferred);
    }

    /// Runs statements in one pipeline: one round trip for all of them.
    template <boost::asio::completion_token_for<pipeline_signature> Token = boost::asio::deferred_t>
    auto async_pipeline(std::vector<query> queries, Token&& token = {}) {
        return boost::asio::async_initiate<Token, pipeline_signature>(
            [this](auto handler, std::vector<query> qs) {
                auto ex = executor_of(handler);
                start_pipeline(std::move(qs), std::move(ex), std::move(handler));
            },
            token, std::move(queries));
    }

    /// The connection broke (or was closed); it can no longer be used.
    bool is_broken() const noexcept;
    /// Idle with no transaction open (what the pool requires on return).
    bool is_idle() const noexcept;
    /// The server's pid for this connection (pg_terminate_backend in tests); 0 when closed.
    int backend_pid() const noexcept;
    /// Statements in the cache now / prepared by it in total (call between operations).
    std::size_t cached_statements() const noexcept;
    std::uint64_t statements_prepared() const noexcept;
    /// Marks the connection unusable so that the pool closes it on return.
    void mark_broken() noexcept;

    detail::async_conn_impl& impl() noexcept { return *impl_; }

private:
    // The handler's executor, taken while its type is known: asking the type-erased handler
    // for it later costs two heap allocations per request (Boost 1.81's
    // any_completion_executor). Empty when it has none (the connection's strand is used) or
    // when it does not fit any_io_executor (the erased handler is asked after all).
    template <class Handler>
    static boost::asio::any_io_executor executor_of(const Handler& h) {
        using executor = boost::asio::associated_executor_t<Handler, boost::asio::system_executor>;
        if constexpr (std::is_same_v<executor, boost::asio::system_executor> ||
                      !std::is_convertible_v<executor, boost::asio::any_io_executor>) {
            return {};
        } else {
            return boost::asio::get_associated_executor(h);
        }
    }

    void start_query(query q, boost::asio::any_io_executor ex,
                     boost::asio::any_completion_handler<query_signature> h);
    void start_pipeline(std::vector<query> qs, boost::asio::any_io_executor ex,
                        boost::asio::any_completion_handler<pipeline_signature> h);

    std::shared_ptr<detail::async_conn_impl> impl_;
};

}  // namespace connmgr::pg
