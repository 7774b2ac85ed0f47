#pragma once
/// The whole backend contract: what a pool needs from PostgreSQL, Redis or a test fake.
///
/// A pool owns each connection through `std::unique_ptr<Driver::connection>` and keeps its own
/// bookkeeping (creation time, last use) beside it, so a connection type can be the backend's
/// own class (`pqxx::connection` for the sync PostgreSQL driver). Pools call drivers outside
/// any lock. Drivers never throw from these members: failures come back as values.
///
/// \par Thread safety
/// A driver object is shared by every connection of one pool and called from many threads at
/// once: its members must be safe to call concurrently (they usually only read options). A
/// connection is used by one thread at a time.

#include <boost/asio/any_io_executor.hpp>
#include <boost/system/error_code.hpp>

#include <chrono>
#include <concepts>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace connmgr {

using steady_time = std::chrono::steady_clock::time_point;

/// Why a connect failed, as far as the pool's policy is concerned (DESIGN §5).
enum class connect_failure {
    transient,    ///< network, refused, timeout, server starting: retried with backoff
    permanent,    ///< authentication, authorization, unknown database or role, TLS
                  ///< verification: a retry cannot fix it; the acquirer fails at once
    server_full,  ///< the server is at its connection limit (SQLSTATE 53300, Redis "max number
                  ///< of clients"): the pool cannot grow, the database is not down
};

/// What a connect attempt produced: a connection, or an error with a human message (the
/// server's own words where it gave any) that never contains a password.
template <class Connection>
struct connect_outcome {
    std::unique_ptr<Connection> connection;
    boost::system::error_code error;  ///< errc::connect_failed unless set otherwise
    std::string message;
    connect_failure failure{connect_failure::transient};
    /// The server the connection is on, for a database that reaches several (an id from the
    /// process-wide server table); 0 for a single-server database. The pool tags the
    /// connection with it, so that retiring that server closes it.
    std::uint32_t server{0};
};

/// A blocking backend. Every call may block up to its deadline.
template <class D>
concept sync_driver = requires(D& d, typename D::connection& c, steady_time deadline) {
    typename D::connection;
    /// Opens one connection within the deadline.
    { d.connect(deadline) } -> std::same_as<connect_outcome<typename D::connection>>;
    /// A cheap validation round trip (PostgreSQL: an empty query; Redis: PING).
    { d.ping(c, deadline) } -> std::same_as<boost::system::error_code>;
    /// Makes a returned connection ready for the next borrower (e.g. rolls back an open
    /// transaction); false = discard it.
    { d.reset(c) }
    noexcept->std::same_as<bool>;
    /// True once the connection is known to be unusable (socket closed, protocol error).
    { d.is_broken(c) }
    noexcept->std::same_as<bool>;
    /// Closes gracefully; never throws.
    { d.close(c) }
    noexcept;
};

/// Completion handlers the async pool passes to a driver. Drivers invoke them exactly once,
/// on (or dispatched to) the executor they were given.
template <class Connection>
using connect_handler = std::function<void(connect_outcome<Connection>)>;
using ping_handler = std::function<void(boost::system::error_code)>;

/// A non-blocking backend on Asio.
template <class D>
concept async_driver = requires(D& d, typename D::connection& c, boost::asio::any_io_executor ex,
                                steady_time deadline, connect_handler<typename D::connection> ch,
                                ping_handler ph) {
    typename D::connection;
    /// Starts one connect on `ex`; every I/O object of the connection is bound to `ex`.
    d.async_connect(ex, deadline, std::move(ch));
    /// A cheap validation round trip.
    d.async_ping(c, deadline, std::move(ph));
    /// Must not block: true if the connection can be reused as it is (no transaction or
    /// request left open); false = discard it.
    { d.reset(c) }
    noexcept->std::same_as<bool>;
    { d.is_broken(c) }
    noexcept->std::same_as<bool>;
    { d.close(c) }
    noexcept;
};

/// Optional for an async driver: a returned connection that reset() cannot make reusable
/// without I/O (an open transaction, a Redis MULTI or SELECT) but a round trip can. When
/// `needs_restore(c)` is true the pool calls `async_restore(c, deadline, handler)` before it
/// consults reset(); an error closes the connection.
template <class D>
concept async_restorable = requires(D& d, typename D::connection& c, steady_time deadline,
                                    ping_handler ph) {
    { d.needs_restore(c) }
    noexcept->std::same_as<bool>;
    d.async_restore(c, deadline, std::move(ph));
};

}  // namespace connmgr
