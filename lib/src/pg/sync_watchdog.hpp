#pragma once
// Client-side query_timeout for the sync driver (internal).
//
// A sync lease runs libpqxx, which blocks inside libpq (PQexec, PQgetResult) with no deadline
// and no hook, and a PGconn must not be touched from another thread. So the watchdog never
// touches it. It knows a request is outstanding from two facts: libpq's result event
// (PQregisterEventProc, PGEVT_RESULTCREATE: in the user's thread, each time an answer has
// arrived) records how many bytes the socket had sent by then; the kernel (TCP_INFO, read on the
// watchdog's own duplicate of the socket) says how many it has sent now and how long ago the
// last one went. More bytes sent than at the last answer: a request waits for its answer. Once
// one has waited query_timeout, the watchdog sends a CancelRequest (non-blocking, bounded); if
// the server still has not answered cancel_grace later, it shuts the socket down, so the
// blocked libpq call returns at once (pqxx::broken_connection) and the pool discards the
// connection.
//
// Why not the simpler signals: the kernel's send/receive timestamps have jiffy resolution (4 ms
// here), too coarse to order a send and a receipt; tracing the protocol (PQtrace) formats every
// row. Limits: TCP only (over a unix socket only the server-side statement_timeout applies); a
// string of several statements counts as answered after its first result.
//
#include "cancel.hpp"

#include <boost/asio/io_context.hpp>

#include <libpq-fe.h>
#include <boost/asio/steady_timer.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>

namespace connmgr::pg::detail {

/// Shared with libpq's event callback, which runs in the connection's own thread: how many bytes
/// the socket had sent when the last answer arrived.
struct watch_answers {
    std::atomic<std::uint64_t> sent_by_last_answer{0};
    const void* key{nullptr};  // forgotten when libpq destroys the connection
};

/// What the watchdog did to the current request of a connection.
enum class cut_short { none, cancelled, closed };

/// A watched connection as the watchdog knows it, for the error a cut-short request reports.
struct watch_verdict {
    cut_short how{cut_short::none};
    std::string what;  ///< the connection's description given to watch()
    std::chrono::milliseconds timeout{0};
    bool statement_timeout{false};  ///< the server's statement_timeout is query_timeout too
};

class sync_watchdog {
public:
    static sync_watchdog& instance();

    sync_watchdog(const sync_watchdog&) = delete;
    sync_watchdog& operator=(const sync_watchdog&) = delete;

    /// Starts watching the connection `key` (an established libpq connection). False when it
    /// cannot be watched (not TCP, or no descriptor left).
    /// `what` names the connection in errors (never a password); `statement_timeout`: the
    /// server enforces query_timeout too.
    bool watch(const void* key, PGconn* conn, const cancel_target& target,
               std::chrono::milliseconds query_timeout, std::string what = {},
               bool statement_timeout = false);
    /// What the watchdog did since the last take() or begin() for `key`, and clears it (a
    /// closed connection stays timed_out()); nullopt when `key` is not watched.
    std::optional<watch_verdict> take(const void* key);
    /// A new request starts on `key`: forget what happened to the one before.
    void begin(const void* key) noexcept;
    /// Stops watching `key` and closes the duplicate; call before the connection closes.
    void forget(const void* key) noexcept;
    /// The watchdog shut this connection's socket down past query_timeout.
    bool timed_out(const void* key) const noexcept;
    /// Waits (at most cancel_grace) until no cancel request for `key` is on its way. take(),
    /// begin() and forget() do so first: a request must not be reported, followed by another
    /// or closed while its cancel is in flight. PgBouncer 1.18 dies ("bad client state")
    /// when the client closes then, and a late cancel would hit the next statement.
    void settle(const void* key) noexcept;
    /// Cancel requests sent and not yet finished, over every connection (for tests).
    std::size_t cancels_in_flight() const noexcept;

private:
    sync_watchdog();
    ~sync_watchdog() = default;  // never destroyed: the thread may outlive static destructors

    struct entry {
        int fd{-1};  // our duplicate
        std::shared_ptr<watch_answers> seen;
        cancel_target target;
        std::chrono::milliseconds timeout{0};
        steady_time cancelled_at{};  // zero: no cancel sent for the current request
        bool fired{false};
        cut_short cut{cut_short::none};  // since the last take()
        std::string what;
        bool statement_timeout{false};
        std::uint64_t generation{0};   // tells a reused key's entry from the one it replaced
        bool cancel_in_flight{false};  // until async_cancel's completion
    };

    /// Under the lock: waits for `key`'s cancel to finish; the lock is released meanwhile.
    void settle_locked(std::unique_lock<std::mutex>& lock, const void* key) noexcept;

    void arm();
    void check();

    boost::asio::io_context io_{1};
    boost::asio::steady_timer timer_{io_};
    mutable std::mutex mutex_;
    std::condition_variable settled_;
    std::unordered_map<const void*, entry> entries_;
    std::uint64_t next_generation_{0};
    std::size_t cancels_in_flight_{0};
    std::thread thread_;
};

}  // namespace connmgr::pg::detail
