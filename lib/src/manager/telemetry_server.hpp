#pragma once
// The HTTP/1.1 telemetry endpoint of a manager (DESIGN §7). Private to lib/src/manager.

#include <connmgr/health.hpp>
#include <connmgr/manager_stats.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <string>

namespace connmgr::detail {

/// What the endpoint serves. Both run on the server's executor and must not block: `stats` is
/// a snapshot under short locks; `health` starts non-blocking probes and calls back when done.
struct telemetry_source {
    std::function<manager_stats()> stats;
    std::function<void(std::function<void(connmgr::health)>)> health;
};

struct telemetry_limits {
    std::size_t max_connections{64};  ///< beyond: an idle one is evicted, else refused
    std::chrono::milliseconds per_connection{10'000};  ///< a connection's whole life
    std::uint32_t max_header_bytes{8 * 1024};          ///< larger: 431 and close
};

/// GET /metrics, /health, /stats; 404 for another path, 405 for another method, 431 for a
/// header over the limit, 400 for anything unparsable.
///
/// Slow or stalled clients cannot hold it up: every connection lives at most `per_connection`,
/// at most `max_connections` are open, and when that many are open a new one evicts the
/// oldest connection still waiting for its request (so idle sockets cannot lock a scraper
/// out); only when every connection is busy answering is the new one closed at once.
///
/// \par Thread safety
/// start() and stop() may be called from any thread; everything else runs on a strand of the
/// executor given.
class telemetry_server {
public:
    /// Binds `endpoint` at once (throws boost::system::system_error when it cannot).
    telemetry_server(boost::asio::any_io_executor executor,
                     const boost::asio::ip::tcp::endpoint& endpoint, telemetry_source source,
                     telemetry_limits limits = {});
    ~telemetry_server();
    telemetry_server(const telemetry_server&) = delete;
    telemetry_server& operator=(const telemetry_server&) = delete;

    /// The address actually bound (the port chosen when 0 was asked for).
    boost::asio::ip::tcp::endpoint local_endpoint() const { return bound_; }

    /// Starts accepting.
    void start();

    /// Closes the listening socket and every connection, and waits (bounded) until done. From
    /// the executor's own thread it closes them without waiting.
    void stop() noexcept;

private:
    class impl;
    std::shared_ptr<impl> impl_;
    boost::asio::ip::tcp::endpoint bound_;
};

/// "127.0.0.1:9187" / "[::1]:9187" for display and for serve_telemetry's result.
std::string to_string(const boost::asio::ip::tcp::endpoint& e);

}  // namespace connmgr::detail
