#pragma once
/// The non-blocking Redis driver on Asio: `redis::async_connection` and the `async_driver`
/// the generic `async_pool` runs on.
///
/// Operations take a completion token (`asio::use_awaitable`, `asio::deferred`,
/// `asio::use_future`, callbacks). I/O runs on the executor the connection was created on;
/// completions are delivered on the handler's associated executor.
///
/// Completion codes:
/// - `async_command`: an error reply completes with `errc::query_failed` and the error reply
///   (its `error_code()` is the prefix: WRONGTYPE, NOAUTH, ...); the connection stays usable.
/// - `async_pipeline`: error replies are returned in place as `reply_type::error`; the
///   operation itself succeeds.
/// - A lost connection or a protocol error completes with `errc::connection_lost`;
///   `query_timeout` expiring mid-request (the client's own deadline) with
///   `errc::query_timeout`. Either marks the connection broken (a pool discards it).

#include <connmgr/config.hpp>
#include <connmgr/detail/server_table.hpp>
#include <connmgr/driver.hpp>
#include <connmgr/redis/reply.hpp>
#include <connmgr/redis/request.hpp>

#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/deferred.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <string_view>
#include <vector>

namespace connmgr::redis {

namespace detail {
class core;
struct connect_params;
class sentinel_link;

using command_handler = boost::asio::any_completion_handler<void(boost::system::error_code, reply)>;
using pipeline_handler =
    boost::asio::any_completion_handler<void(boost::system::error_code, std::vector<reply>)>;

void start_command(std::shared_ptr<core> c, request req, command_handler handler);
void start_pipeline(std::shared_ptr<core> c, request req, pipeline_handler handler);
}  // namespace detail

/// One non-blocking connection to a Redis server.
///
/// \par Thread safety
/// One operation at a time (a lease gives exactly that); a second operation started while
/// one is in flight completes with `errc::query_failed`.
class async_connection {
public:
    explicit async_connection(std::shared_ptr<detail::core> core) noexcept;
    ~async_connection();
    async_connection(const async_connection&) = delete;
    async_connection& operator=(const async_connection&) = delete;

    /// One command; completes with `(error_code, reply)`. The arguments are encoded before
    /// this returns, so they need not outlive the operation.
    template <boost::asio::completion_token_for<void(boost::system::error_code, reply)> Token =
                  boost::asio::deferred_t>
    auto async_command(command_args args, Token&& token = {}) {
        return async_command(request(args), std::forward<Token>(token));
    }
    template <boost::asio::completion_token_for<void(boost::system::error_code, reply)> Token =
                  boost::asio::deferred_t>
    auto async_command(request req, Token&& token = {}) {
        return boost::asio::async_initiate<Token, void(boost::system::error_code, reply)>(
            [](auto handler, std::shared_ptr<detail::core> c, request r) {
                detail::start_command(std::move(c), std::move(r),
                                      detail::command_handler(std::move(handler)));
            },
            token, core_, std::move(req));
    }

    /// Several commands sent at once; completes with `(error_code, std::vector<reply>)`.
    template <boost::asio::completion_token_for<void(boost::system::error_code, std::vector<reply>)>
                  Token = boost::asio::deferred_t>
    auto async_pipeline(request req, Token&& token = {}) {
        return boost::asio::async_initiate<Token,
                                           void(boost::system::error_code, std::vector<reply>)>(
            [](auto handler, std::shared_ptr<detail::core> c, request r) {
                detail::start_pipeline(std::move(c), std::move(r),
                                       detail::pipeline_handler(std::move(handler)));
            },
            token, core_, std::move(req));
    }
    template <boost::asio::completion_token_for<void(boost::system::error_code, std::vector<reply>)>
                  Token = boost::asio::deferred_t>
    auto async_pipeline(std::initializer_list<command_args> commands, Token&& token = {}) {
        return async_pipeline(request(commands), std::forward<Token>(token));
    }

    /// True once the connection cannot be used again, or the server closed it while idle.
    bool is_broken() const noexcept;
    /// True while an operation is in flight.
    bool busy() const noexcept;
    void close() noexcept;

    const std::shared_ptr<detail::core>& core() const noexcept { return core_; }

private:
    std::shared_ptr<detail::core> core_;
};

/// The `connmgr::async_driver` for Redis (and FalkorDB).
///
/// \par Thread safety
/// Safe to call concurrently from many threads: it only reads its options.
class async_driver {
public:
    using connection = async_connection;

    async_driver(const database_config& db, const pool_options& flavour_options);
    /// Without a parsed URL (tests, tools): `name` goes into CLIENT SETNAME connmgr:<name>.
    async_driver(const redis_endpoint& endpoint, std::string_view name,
                 const pool_options& options);
    ~async_driver();
    async_driver(const async_driver&) = delete;
    async_driver& operator=(const async_driver&) = delete;
    async_driver(async_driver&&) noexcept = default;
    async_driver& operator=(async_driver&&) noexcept = default;

    void async_connect(boost::asio::any_io_executor ex, steady_time deadline,
                       connect_handler<connection> handler);
    void async_ping(connection& c, steady_time deadline, ping_handler handler);
    /// The borrower left a MULTI, a WATCH, another database or client name behind: one round
    /// trip (async_restore) puts it back. A session that cannot be restored cheaply
    /// (subscribed, CLIENT REPLY OFF, MONITOR, RESET or AUTH sent, a reply left unread) is
    /// refused by reset() and closed.
    bool needs_restore(connection& c) noexcept;
    void async_restore(connection& c, steady_time deadline, ping_handler handler);
    bool reset(connection& c) noexcept;
    /// What the connection already knows (no system call: the pool asks on every return,
    /// right after a request completed); redis_client's borrow asks the connection's
    /// is_broken(), which also notices a server that closed it while idle.
    bool is_broken(connection& c) noexcept;
    void close(connection& c) noexcept;

    /// Sentinel databases (DESIGN §12): which server state changes retire a server for this
    /// driver's pool; empty for a single-server database.
    std::function<bool(std::uint32_t server, server_state state)> retire_rule() const;
    /// Sentinel databases: the servers seen so far (ids in the server table).
    std::vector<std::uint32_t> servers() const;

private:
    std::shared_ptr<const detail::connect_params> params_;
    std::shared_ptr<detail::sentinel_link> sentinel_;  // set for a Sentinel URL
};

static_assert(connmgr::async_driver<async_driver>);
static_assert(connmgr::async_restorable<async_driver>);

}  // namespace connmgr::redis
