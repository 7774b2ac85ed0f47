#pragma once
/// The vocabulary between the pool core (pool_state) and its shells: the slots and waiters the
/// core links, and the actions it asks a shell to carry out.
///
/// A shell owns the memory of slots (one per open connection) and waiters (one per acquire);
/// the core only links them into its lists and decides. Every input of the core returns a short
/// list of actions; the shell executes them in order and feeds the outcome of any I/O (a
/// connect, a ping) back as the next input.
///
/// \par Thread safety
/// Plain data, guarded by the owning pool's lock.

#include <connmgr/detail/log.hpp>
#include <connmgr/driver.hpp>

#include <boost/container/small_vector.hpp>
#include <boost/system/error_code.hpp>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <variant>

namespace connmgr::detail {

/// Intrusive doubly linked list node; unlinked nodes point to themselves.
struct list_node {
    list_node* prev{this};
    list_node* next{this};
    list_node() = default;
    list_node(const list_node&) = delete;
    list_node& operator=(const list_node&) = delete;
    bool linked() const noexcept { return next != this; }
    void unlink() noexcept {
        prev->next = next;
        next->prev = prev;
        prev = next = this;
    }
    void insert_before(list_node* pos) noexcept {
        prev = pos->prev;
        next = pos;
        pos->prev->next = this;
        pos->prev = this;
    }
};

template <class Clock>
struct waiter;

/// A waiter with no preferred home (see slot::home).
inline constexpr unsigned any_home = ~0u;

/// Which server a connection is on, for a database that reaches several (a process-wide id of
/// its `host:port`, given by the driver); 0 = not told (a single-server database).
using server_id = std::uint32_t;

/// Bookkeeping of one open connection. The shell derives from it to hold the connection.
template <class Clock>
struct slot : list_node {
    using time_point = typename Clock::time_point;
    time_point created{};
    time_point expires{time_point::max()};  ///< created + jittered max_lifetime
    time_point last_used{};                 ///< when it was last returned (or created)
    time_point leased_at{};
    std::uint64_t generation{0};  ///< fork generation it was opened in
    std::string holder;           ///< store name of the current borrower
    /// Which of the shell's threads the connection lives on; an acquirer from that thread
    /// is preferably served this one (no thread hop per query).
    unsigned home{0};
    server_id server{0};
    bool leak_warned{false};
    /// Its server was retired while it was out: closed when it comes back.
    bool retired{false};
    /// Being validated for this waiter (null once that waiter went away).
    waiter<Clock>* pinging_for{nullptr};
    virtual ~slot() = default;
};

/// Orders waiters by deadline beside their FIFO order (a waiter is in both lists).
template <class Clock>
struct deadline_link : list_node {
    waiter<Clock>* owner{nullptr};
};

/// One acquire. The shell derives from it (condition variable, completion handler) and fills
/// the request fields; the core fills the rest.
template <class Clock>
struct waiter : list_node {
    using time_point = typename Clock::time_point;
    // The request.
    std::string holder;                                ///< store name of the borrower
    std::optional<std::chrono::milliseconds> timeout;  ///< overrides acquire_timeout
    bool try_only{false};                              ///< never queue (try_acquire)
    unsigned home{any_home};  ///< the acquirer's thread, when it is one of the shell's
    // Set by the core.
    time_point enqueued{};
    time_point deadline{time_point::max()};
    slot<Clock>* result{nullptr};  ///< the connection handed out
    boost::system::error_code error{};
    std::string message;  ///< why it failed: the pool's numbers, the last connect error
    bool done{false};     ///< finished: result or error is set
    unsigned passes{0};   ///< returns that parked a connection instead of handing it here
    bool woken{false};    ///< asked to look for a parked connection and has not yet
    slot<Clock>* validating{nullptr};  ///< its connection being pinged
    deadline_link<Clock> by_deadline;
    waiter() { by_deadline.owner = this; }
};

/// A connect the shell runs; its outcome comes back with the job.
template <class Clock>
struct connect_job {
    unsigned attempt{1};
    bool trial{false};  ///< the breaker's probe while it is open
    std::uint64_t generation{0};
    typename Clock::time_point started{};
    friend bool operator==(const connect_job&, const connect_job&) = default;
};

// ---- actions ------------------------------------------------------------------------------

/// Give `connection` to `to` (already finished: to->result is set). The lease is ready to use.
template <class Clock>
struct hand_out {
    waiter<Clock>* to;
    slot<Clock>* connection;
    friend bool operator==(const hand_out&, const hand_out&) = default;
};

/// Finish `w` with its error (w->error, w->message are set).
template <class Clock>
struct fail_waiter {
    waiter<Clock>* w;
    boost::system::error_code error;
    friend bool operator==(const fail_waiter&, const fail_waiter&) = default;
};

/// Tell a queued waiter to look again (on_retake): a connection is parked for it.
template <class Clock>
struct wake_waiter {
    waiter<Clock>* w;
    friend bool operator==(const wake_waiter&, const wake_waiter&) = default;
};

/// Validate `connection` (idle for long) by `deadline`, then call on_ping_result.
template <class Clock>
struct ping_slot {
    slot<Clock>* connection;
    typename Clock::time_point deadline;
    friend bool operator==(const ping_slot&, const ping_slot&) = default;
};

/// Open a connection by `deadline`, then call on_connected or on_connect_failed with `job`.
template <class Clock>
struct start_connect {
    connect_job<Clock> job;
    typename Clock::time_point deadline;
    friend bool operator==(const start_connect&, const start_connect&) = default;
};

/// Close the connection and free the slot (the core forgot it).
template <class Clock>
struct close_slot {
    slot<Clock>* connection;
    friend bool operator==(const close_slot&, const close_slot&) = default;
};

/// Free the slot WITHOUT closing its connection: its socket belongs to the parent process.
template <class Clock>
struct abandon_slot {
    slot<Clock>* connection;
    friend bool operator==(const abandon_slot&, const abandon_slot&) = default;
};

/// Call on_timer at `at` (replaces any earlier request; an early call is harmless).
template <class Clock>
struct arm_timer {
    typename Clock::time_point at;
    friend bool operator==(const arm_timer&, const arm_timer&) = default;
};

/// Log a line (leak warnings).
struct log_line {
    log_level level;
    std::string text;
    friend bool operator==(const log_line&, const log_line&) = default;
};

template <class Clock>
using action = std::variant<hand_out<Clock>, fail_waiter<Clock>, wake_waiter<Clock>,
                            ping_slot<Clock>, start_connect<Clock>, close_slot<Clock>,
                            abandon_slot<Clock>, arm_timer<Clock>, log_line>;

/// What one input asks for, in order. Inline room for the common cases: no allocation on the
/// acquire and return paths.
template <class Clock>
using actions = boost::container::small_vector<action<Clock>, 4>;

}  // namespace connmgr::detail
