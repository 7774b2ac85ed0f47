#pragma once
/// `connmgr::redis_client`: Redis through one database's pools.
///
/// `command()` and `pipeline()` borrow a connection from the sync pool for one round trip;
/// `async_command()` and `async_pipeline()` from the async pool. `acquire()` /
/// `async_acquire()` give a lease for several commands on one connection (MULTI/EXEC,
/// WATCH, SELECT-free sequences).
///
/// Errors: as the drivers (see redis/sync_driver.hpp and redis/async_driver.hpp), plus the
/// pools' own (acquire_timeout, pool_exhausted, circuit_open, shutting_down, connect_failed).
/// A connection lost mid-request fails the request with `errc::connection_lost`, one whose
/// server gave no answer within `query_timeout` with `errc::query_timeout`; either connection is
/// discarded, and the request is never replayed, since it may have run on the server.
///
/// Dead idle connections: before a borrowed connection is used, the client checks without a
/// round trip whether the server closed it while it sat idle (CLIENT KILL, restart, server
/// timeout: the socket is readable at EOF). Such a connection is discarded and another one
/// borrowed, at most max_size + 1 times, so the next command after a kill or restart
/// transparently runs on a working connection. Nothing has been sent on a connection at that
/// point, so this is not a replay.
///
/// \par Thread safety
/// Cheap to copy (one shared_ptr); every member is safe to call from any thread at once. A
/// lease is used by one thread at a time.

#include <connmgr/detail/database_pools.hpp>
#include <connmgr/error.hpp>
#include <connmgr/lease.hpp>
#include <connmgr/redis/async_driver.hpp>
#include <connmgr/redis/pools.hpp>
#include <connmgr/redis/reply.hpp>
#include <connmgr/redis/request.hpp>
#include <connmgr/redis/sync_driver.hpp>

#include <boost/asio/compose.hpp>
#include <boost/asio/deferred.hpp>

#include <memory>
#include <string>
#include <type_traits>
#include <vector>

namespace connmgr {

namespace detail {

/// Borrow (skipping connections the server closed while idle), send, give back.
template <bool Many>
struct redis_client_op {
    using pool_type = async_pool<redis::async_driver>;
    using result_type = std::conditional_t<Many, std::vector<redis::reply>, redis::reply>;

    std::shared_ptr<pool_type> pool;
    redis::request req;
    std::size_t retries_left;
    lease<redis::async_driver> held{};

    template <class Self>
    void operator()(Self& self) {
        auto p = pool;
        p->async_acquire(std::move(self));
    }

    template <class Self>
    void operator()(Self& self, boost::system::error_code ec, lease<redis::async_driver> l) {
        if (ec) return self.complete(ec, result_type{});
        if (l->is_broken() && retries_left > 0) {
            --retries_left;
            l.mark_broken();
            l.release();
            auto p = pool;
            p->async_acquire(std::move(self));
            return;
        }
        held = std::move(l);
        redis::async_connection& conn = *held;
        auto r = std::move(req);
        if constexpr (Many) {
            conn.async_pipeline(std::move(r), std::move(self));
        } else {
            conn.async_command(std::move(r), std::move(self));
        }
    }

    template <class Self>
    void operator()(Self& self, boost::system::error_code ec, result_type result) {
        if (ec == errc::connection_lost || ec == errc::query_timeout) held.mark_broken();
        held.release();  // back in the pool before the caller resumes
        self.complete(ec, std::move(result));
    }
};

}  // namespace detail

class redis_client {
public:
    using pools_type = detail::database_pools<redis::sync_driver, redis::async_driver>;
    using sync_lease = lease<redis::sync_driver>;
    using async_lease = lease<redis::async_driver>;
    using command_signature = void(boost::system::error_code, redis::reply);
    using pipeline_signature = void(boost::system::error_code, std::vector<redis::reply>);

    /// An empty client; every call throws until one is assigned.
    redis_client() = default;
    explicit redis_client(std::shared_ptr<pools_type> pools) : pools_(std::move(pools)) {}

    /// One command, one round trip. Throws query_error on an error reply (its
    /// `server_code()` is the prefix: WRONGTYPE, NOAUTH, ERR ...).
    redis::reply command(redis::command_args args) { return command(redis::request(args)); }
    redis::reply command(const std::vector<std::string>& args);
    redis::reply command(const redis::request& req);

    /// Every command in one write; replies in order. Error replies come back in place as
    /// `reply_type::error` and do not disturb the others.
    std::vector<redis::reply> pipeline(std::initializer_list<redis::command_args> commands) {
        return pipeline(redis::request(commands));
    }
    std::vector<redis::reply> pipeline(const std::vector<std::vector<std::string>>& commands) {
        return pipeline(redis::request(commands));
    }
    std::vector<redis::reply> pipeline(const redis::request& req);

    /// A lease on a sync connection for several commands (`l->command(...)`).
    sync_lease acquire();

    /// Completes with `(error_code, lease)`; see async_pool::async_acquire.
    template <boost::asio::completion_token_for<void(boost::system::error_code, async_lease)>
                  Token = boost::asio::deferred_t>
    auto async_acquire(Token&& token = {}) {
        return pools().async()->async_acquire(std::forward<Token>(token));
    }

    /// Completes with `(error_code, reply)`; an error reply completes with
    /// `errc::query_failed` and the error reply. The arguments are encoded before this returns.
    ///
    /// GCC 12 cannot compile a braced list inside a `co_await` expression; write
    /// `auto op = c.async_command({"GET", k}); co_await std::move(op);` or pass a
    /// `redis::request` built beforehand.
    template <boost::asio::completion_token_for<command_signature> Token = boost::asio::deferred_t>
    auto async_command(redis::command_args args, Token&& token = {}) {
        return async_command(redis::request(args), std::forward<Token>(token));
    }
    template <boost::asio::completion_token_for<command_signature> Token = boost::asio::deferred_t>
    auto async_command(redis::request req, Token&& token = {}) {
        auto pool = pools().async();
        const auto retries = pools().config().async_pool.max_size + 1;
        auto ex = pool->get_executor();
        return boost::asio::async_compose<Token, command_signature>(
            detail::redis_client_op<false>{std::move(pool), std::move(req), retries}, token, ex);
    }

    /// Completes with `(error_code, std::vector<reply>)`; error replies come back in place.
    template <boost::asio::completion_token_for<pipeline_signature> Token = boost::asio::deferred_t>
    auto async_pipeline(redis::request req, Token&& token = {}) {
        auto pool = pools().async();
        const auto retries = pools().config().async_pool.max_size + 1;
        auto ex = pool->get_executor();
        return boost::asio::async_compose<Token, pipeline_signature>(
            detail::redis_client_op<true>{std::move(pool), std::move(req), retries}, token, ex);
    }
    template <boost::asio::completion_token_for<pipeline_signature> Token = boost::asio::deferred_t>
    auto async_pipeline(std::initializer_list<redis::command_args> commands, Token&& token = {}) {
        return async_pipeline(redis::request(commands), std::forward<Token>(token));
    }

    /// The pools behind this client (the manager's entry).
    const std::shared_ptr<pools_type>& pools_ptr() const noexcept { return pools_; }

private:
    pools_type& pools() const;
    sync_lease acquire_live();

    std::shared_ptr<pools_type> pools_;
};

}  // namespace connmgr
