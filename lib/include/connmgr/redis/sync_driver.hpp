#pragma once
/// The blocking Redis driver: `redis::sync_connection` and the `sync_driver` the generic
/// `sync_pool` runs on.
///
/// A sync connection drives the same I/O code as the async driver on a private
/// `io_context` that only the calling thread runs, so connect, AUTH/SELECT/SETNAME, TLS,
/// encoding, parsing and timeouts are written once.
///
/// Errors: an error reply to `command()` throws `query_error` whose `server_code()` is the
/// prefix (WRONGTYPE, NOAUTH, ERR ...) and leaves the connection usable. Inside `pipeline()`,
/// error replies are returned in place as `reply_type::error` and do not disturb the other
/// replies. A lost connection or a protocol error throws `connmgr::error` with
/// `errc::connection_lost`; `query_timeout` expiring mid-request (the client's own deadline, so
/// a frozen server is noticed too) throws it with `errc::query_timeout`. Either marks the
/// connection broken, so a pool discards it: its reply stream no longer matches the requests.

#include <connmgr/config.hpp>
#include <connmgr/detail/server_table.hpp>
#include <connmgr/driver.hpp>
#include <connmgr/redis/reply.hpp>
#include <connmgr/redis/request.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace connmgr::redis {

namespace detail {
class sync_state;
struct connect_params;
class sentinel_link;
}  // namespace detail

/// One blocking connection to a Redis server.
///
/// \par Thread safety
/// Used by one thread at a time (a lease gives exactly that).
class sync_connection {
public:
    explicit sync_connection(std::unique_ptr<detail::sync_state> state) noexcept;
    ~sync_connection();
    sync_connection(const sync_connection&) = delete;
    sync_connection& operator=(const sync_connection&) = delete;

    /// Sends one command and waits for its reply. Throws query_error on an error reply.
    reply command(command_args args) { return command(request(args)); }
    reply command(std::span<const std::string_view> args);
    reply command(const std::vector<std::string>& args);
    /// `req` must hold exactly one command.
    reply command(const request& req);

    /// Sends every command at once and returns their replies in order; error replies are
    /// returned in place (see the file comment).
    std::vector<reply> pipeline(std::initializer_list<command_args> commands) {
        return pipeline(request(commands));
    }
    std::vector<reply> pipeline(const std::vector<std::vector<std::string>>& commands) {
        return pipeline(request(commands));
    }
    std::vector<reply> pipeline(const request& req);

    /// True once the connection cannot be used again (lost, protocol error, timeout), or
    /// the server closed it while idle (checked without blocking).
    bool is_broken() const noexcept;
    /// Only what the connection already knows (a request failed, a protocol error, closed):
    /// no system call. The pool asks this on return; a borrow asks is_broken().
    bool known_broken() const noexcept;
    void close() noexcept;

    /// PING within `deadline`; an error code instead of an exception.
    boost::system::error_code ping(steady_time deadline) noexcept;

    /// Puts the session back as the connect sequence left it (the pool calls it on return):
    /// true when it already was or one round trip of DISCARD / UNWATCH / SELECT / CLIENT
    /// SETNAME made it so; false when it cannot be done cheaply (subscribed, CLIENT REPLY OFF,
    /// MONITOR, RESET or AUTH sent, a reply left unread, broken): close it then.
    bool restore_session() noexcept;

private:
    std::unique_ptr<detail::sync_state> state_;
};

/// The `connmgr::sync_driver` for Redis (and FalkorDB, which speaks the same protocol).
///
/// \par Thread safety
/// Safe to call concurrently from many threads: it only reads its options.
class sync_driver {
public:
    using connection = sync_connection;

    sync_driver(const database_config& db, const pool_options& flavour_options);
    /// Without a parsed URL (tests, tools): `name` goes into CLIENT SETNAME connmgr:<name>.
    sync_driver(const redis_endpoint& endpoint, std::string_view name, const pool_options& options);
    ~sync_driver();
    sync_driver(const sync_driver&) = delete;
    sync_driver& operator=(const sync_driver&) = delete;
    sync_driver(sync_driver&&) noexcept = default;
    sync_driver& operator=(sync_driver&&) noexcept = default;

    connect_outcome<connection> connect(steady_time deadline);
    boost::system::error_code ping(connection& c, steady_time deadline);
    bool reset(connection& c) noexcept;
    /// known_broken(): see async_driver::is_broken.
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

static_assert(connmgr::sync_driver<sync_driver>);

}  // namespace connmgr::redis
