#pragma once
// Cancelling a running PostgreSQL statement without blocking (internal).
//
// libpq's PQcancel opens a connection and waits for the server with no time bound: against a
// frozen server it never returns. The CancelRequest itself is 16 bytes on a fresh connection
// to the same address, so it is sent here on Asio with a deadline instead; both drivers use it
// (the async one on its connection's executor, the sync one on its watchdog's thread).

#include <connmgr/driver.hpp>

#include <boost/asio/any_io_executor.hpp>

#include <libpq-fe.h>
#include <sys/socket.h>

#include <chrono>
#include <cstdint>
#include <functional>

namespace connmgr::pg::detail {

/// How long a statement past query_timeout may take to answer its cancel request before the
/// connection is closed: query_timeout + this (+ a watchdog tick) stays under query_timeout + 1 s.
inline constexpr std::chrono::milliseconds cancel_grace{700};

/// Where to send a CancelRequest for one connection, and its key.
struct cancel_target {
    sockaddr_storage address{};
    socklen_t address_size{0};
    std::uint32_t pid{0};
    std::uint32_t key{0};
    bool valid() const noexcept { return address_size > 0; }
};

/// The cancel target of an established connection. libpq 15 exposes the secret key only inside
/// its PGcancel object; its layout is read here and checked against PQbackendPID. An invalid
/// target (another libpq, or the check failed) means no cancel can be sent: callers then close
/// the connection when the grace period ends.
cancel_target cancel_target_of(PGconn* conn) noexcept;

/// Sends the CancelRequest and waits until the server closes that connection (it answers
/// nothing else) or `deadline` passes. `done(true)` when the server took it in time. Runs on
/// `ex`; never blocks.
void async_cancel(boost::asio::any_io_executor ex, const cancel_target& target,
                  steady_time deadline, std::function<void(bool)> done);

}  // namespace connmgr::pg::detail
