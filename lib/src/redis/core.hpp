#pragma once
// The I/O engine of both Redis drivers: one connection's stream (TCP, unix, or TLS over TCP),
// the connect sequence (resolve, connect, TLS handshake, AUTH, SELECT, CLIENT SETNAME), and the
// request operation (write a batch, read exactly as many replies). The async driver runs it
// on the pool's executor; the sync driver on a private io_context that the caller runs.
#include <connmgr/config.hpp>
#include <connmgr/driver.hpp>
#include <connmgr/redis/async_driver.hpp>
#include <connmgr/redis/reply_parser.hpp>

#include "session.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>

#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace connmgr::redis::detail {

namespace asio = boost::asio;
using boost::system::error_code;

/// Everything a connect needs, shared (read-only) by a driver and its connections.
struct connect_params {
    redis_endpoint endpoint;
    std::string client_name;  // "connmgr:<database name>"
    std::string display;      // redacted URL: the only form that appears in messages
    milliseconds query_timeout{0};
    milliseconds restore_timeout{5'000};  // bounds the round trip that restores a session
    keepalive_options keepalive;
    std::shared_ptr<asio::ssl::context> tls;  // set for rediss://
    /// Sentinel databases: called (on the connection's executor) when a reply is READONLY or
    /// MASTERDOWN, the server is no longer the master (DESIGN §12); the connection is then
    /// marked broken, so the pool closes it on return.
    std::function<void()> on_not_master;
    /// Sentinel databases: the server table's id of this connection's server (0 otherwise).
    std::uint32_t server{0};
};

std::shared_ptr<const connect_params> make_params(const database_config& db,
                                                  const pool_options& options);
/// `display` empty: built from the endpoint, without credentials.
std::shared_ptr<const connect_params> make_params(const redis_endpoint& endpoint,
                                                  std::string_view name, std::string display,
                                                  const pool_options& options);

struct connect_result {
    error_code ec;
    std::string message;
    connect_failure failure{connect_failure::transient};
};

inline constexpr steady_time no_deadline = steady_time::max();

/// \par Thread safety
/// Every I/O handler runs on `ex_`, which must not run handlers concurrently (an io_context
/// with one thread, or a strand). `busy_` is atomic so misuse from another thread is caught.
class core : public std::enable_shared_from_this<core> {
public:
    core(asio::any_io_executor ex, std::shared_ptr<const connect_params> params);
    ~core();

    /// Runs the connect sequence; the result is never an exception.
    static asio::awaitable<connect_result> connect(std::shared_ptr<core> self,
                                                   steady_time deadline);

    /// Starts one request of `expected` replies. `payload` must stay valid until completion.
    /// `deadline` bounds the whole request; `no_deadline` uses query_timeout (0 = none).
    static void start(std::shared_ptr<core> self, std::string_view payload, std::size_t expected,
                      steady_time deadline, command_handler handler);
    static void start(std::shared_ptr<core> self, std::string_view payload, std::size_t expected,
                      steady_time deadline, pipeline_handler handler);

    /// Reads the next reply the server sends unasked (a pub/sub message on a subscribed
    /// connection); an error code when the connection is lost.
    static asio::awaitable<error_code> read_push(std::shared_ptr<core> self, reply& out);

    /// Lost, protocol error, timed out, or closed by the peer while idle.
    bool broken() const noexcept;
    /// What broken() knows without asking the socket: a failed request, a protocol error, a
    /// close. What the pool asks on every return: right after a request completed there is
    /// nothing for a poll(2) to find (a borrow asks broken() instead).
    bool known_broken() const noexcept { return broken_.load(); }
    bool busy() const noexcept { return busy_.load(std::memory_order_relaxed); }
    bool timed_out() const noexcept { return timed_out_; }
    /// Why the connection broke, for exception messages.
    const std::string& failure() const noexcept { return failure_; }
    /// From any thread; a busy connection is closed on its executor.
    void close() noexcept;

    /// What the borrower did to the session (see session.hpp).
    const session_tracker& session() const noexcept { return session_; }
    /// The commands that put the session back as the connect sequence left it.
    request restore_request() const;
    /// Checks the replies to restore_request(); true when the session is as opened.
    bool restored(const std::vector<reply>& replies) noexcept;

    const connect_params& params() const noexcept { return *params_; }
    const asio::any_io_executor& executor() const noexcept { return ex_; }

    /// Where an async request keeps its payload while in flight.
    std::string out_;

    // Used by the request operation (core.cpp).
    template <class F>
    void with_stream(F&& f);
    void mark_broken(std::string why) noexcept;
    void close_now() noexcept;

    asio::any_io_executor ex_;
    std::shared_ptr<const connect_params> params_;
    std::optional<asio::ip::tcp::socket> tcp_;
    std::optional<asio::local::stream_protocol::socket> unix_;
    std::unique_ptr<asio::ssl::stream<asio::ip::tcp::socket>> tls_;
    asio::steady_timer timer_;
    reply_parser parser_;
    session_tracker session_;
    // Where reads land before the parser takes the bytes. It costs every connection its size,
    // so it starts small (the usual replies, and a pipeline of a few dozen, fit in one read)
    // and grows up to in_max only while reads fill it (a large reply then takes few reads).
    static constexpr std::size_t in_initial = 4 * 1024;
    static constexpr std::size_t in_max = 64 * 1024;
    std::vector<char> in_;
    std::atomic<bool> busy_{false};
    std::atomic<bool> broken_{false};
    bool timed_out_{false};
    bool inline_start_{false};  // sync driver: start requests on the calling thread
    std::uint64_t generation_{0};
    std::string failure_;
};

}  // namespace connmgr::redis::detail
