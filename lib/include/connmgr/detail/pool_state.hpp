#pragma once
/// The whole policy of a connection pool, as a socket-free state machine (DESIGN §5).
///
/// Inputs are acquire, retake (a woken waiter looks again), cancel, return (with the driver's
/// verdict), ping result, connect result, timer, fork and close, each with the time it happened.
/// Each returns the actions a shell carries out (pool_actions.hpp): hand a connection to a
/// waiter, fail a waiter, wake a waiter, ping a slot, start a connect, close or abandon a slot,
/// arm the pool's one timer, log. The core holds no lock, does no I/O and never reads a clock,
/// so every rule is written once and tested as a script of inputs and the actions expected.
///
/// Rules:
/// - waiters are served FIFO; with bounded barging (max_bypass K > 0) a return may park the
///   connection and wake the head waiter so that a running acquirer can take it first, but the
///   head gets the next one directly after K such returns: it is served within K + 1 returns;
/// - max_size counts idle + in use + connecting (requested or in flight), never more;
/// - connects are requested while waiters outnumber connects under way, or to keep min_idle
///   open; one no longer needed when its turn comes is dropped; at most
///   max_parallel_connects run at once;
/// - every acquire has a deadline: acquire_timeout (a per-call timeout overrides it), or
///   connect_timeout when it is 0 and the pool has room; with acquire_timeout 0 and the pool at
///   max_size it fails at once with pool_exhausted, as does one acquirer past max_waiters;
///   deadlines saturate, so no duration overflows the clock;
/// - idle connections go out most recently used first (LIFO), so the surplus ages out; one idle
///   longer than health_check_interval (0 = always) is pinged first; if the ping fails it is
///   closed and the waiter keeps its deadline and its place at the head of the queue;
/// - on return, broken or unresettable connections and those past their jittered max_lifetime
///   are closed; the sweep closes idle ones past max_lifetime, and idle ones past idle_timeout
///   while more than min_idle are open, refills min_idle and reports leases held longer than
///   leak_threshold;
/// - a transient connect error is retried with exponential backoff and full jitter up to
///   retry.attempts, then the oldest waiter fails with connect_failed; a permanent one
///   (authentication, unknown database, TLS) is never retried: the waiters fail at once with
///   the server's words (every waiter when no connection is open, else the oldest);
/// - a successful connect makes every retry waiting out a backoff due at once;
/// - "server full" (the server's connection limit) while connections are open means the pool
///   cannot grow: waiters keep waiting for those connections, growth is retried after the
///   first backoff step (up to retry.base_delay, not doubling), and the breaker does not
///   count it;
/// - breaker: failure_threshold consecutive connect failures open it (0 = never): waiters and
///   new acquires fail with circuit_open unless a connection is idle; while open one trial
///   connect runs after retry.base_delay, then at doubling intervals up to open_for; the first
///   success closes it;
/// - close: new acquires fail with shutting_down, so do the waiters; idle connections and
///   connects that complete later are closed, leased ones when returned;
/// - fork: in a child every connection of the parent is forgotten, never closed, pinged or
///   reused (idle ones are abandoned, leased ones abandoned when they come back), and the
///   parent's waiters and connects are forgotten;
/// - retiring a server (its state changed: down, promoted, turned read-only; DESIGN §12):
///   its idle connections close at once, leased ones close when returned and one being
///   validated is not handed out; a connect started before the retirement that lands on it is
///   closed and the connect asked again, so its waiters are served anew;
/// - failover window: after a retirement that signals a failover, for up to failover_window or
///   until a connect succeeds, failed connects are retried every failover_retry without backoff,
///   count toward neither retry.attempts nor the breaker, and fail no waiter (they wait until
///   their deadline): the gap between a primary's loss and a standby's promotion is not an
///   outage.
///
/// Every failure carries a message with the pool's numbers and the last connect error and its
/// age; a timeout also names the stores holding the connections.
///
/// \par Thread safety
/// None: the owning shell serializes every call.

#include <connmgr/config.hpp>
#include <connmgr/detail/duration_histogram.hpp>
#include <connmgr/detail/pool_actions.hpp>
#include <connmgr/error.hpp>
#include <connmgr/pool_stats.hpp>

#include <algorithm>
#include <array>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <vector>

namespace connmgr::detail {

template <class Clock>
class pool_state {
public:
    using time_point = typename Clock::time_point;
    using duration = typename Clock::duration;
    using slot_type = slot<Clock>;
    using waiter_type = waiter<Clock>;
    using job_type = connect_job<Clock>;
    using actions_type = actions<Clock>;

    struct settings {
        pool_options pool{};
        retry_options retry{};
        breaker_options breaker{};
        std::size_t max_parallel_connects{1};
        /// Bounded barging: returns that may park a connection for whoever takes it first
        /// instead of handing it to the head waiter. 0 = strict FIFO hand-off.
        unsigned max_bypass{0};
        std::string database{"pool"};  ///< for messages
        std::string url;               ///< redacted, for messages
        connmgr::flavour flavour{connmgr::flavour::sync};
        /// After a failover signal: how long connects are retried at failover_retry without
        /// counting toward the breaker, and that interval.
        std::chrono::milliseconds failover_window{10'000};
        std::chrono::milliseconds failover_retry{100};
    };

    /// Upper bounds of the wait histogram, in seconds.
    static constexpr std::array<double, 10> wait_bounds{0.001, 0.005, 0.01, 0.05, 0.1,
                                                        0.5,   1.0,   5.0,  10.0, 30.0};
    /// Upper bounds of the connection create time histogram, in seconds.
    static constexpr std::array<double, 11> create_bounds{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                                          0.1,   0.25,   0.5,   1.0,  5.0};
    /// Upper bounds of the lease use time histogram, in seconds.
    static constexpr std::array<double, 12> use_bounds{0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05,
                                                       0.1,    0.5,    1.0,   5.0,   30.0, 300.0};

    /// One lease out now.
    struct lease_info {
        std::string holder;
        duration age;
    };

    explicit pool_state(settings s, std::uint64_t generation = 0,
                        std::uint64_t seed = std::random_device{}())
        : s_(std::move(s)), rng_(seed), generation_(generation) {}

    pool_state(const pool_state&) = delete;
    pool_state& operator=(const pool_state&) = delete;

    const settings& config() const noexcept { return s_; }

    // ---- inputs -----------------------------------------------------------------------------

    /// An acquire of `w` (its request fields set). Finishes it at once (hand_out, fail_waiter),
    /// pings an idle connection for it, or queues it.
    actions_type on_acquire(time_point now, waiter_type& w) {
        actions_type out;
        w.done = false;
        w.result = nullptr;
        w.error = {};
        w.passes = 0;
        w.woken = false;
        w.enqueued = now;
        const auto requested = w.timeout.value_or(s_.pool.acquire_timeout);
        const auto limit = requested.count() > 0 ? requested : s_.pool.connect_timeout;
        w.deadline = saturating_add(now, limit);
        if (closing_) {
            finish_error(w, errc::shutting_down, closing_message(), out);
        } else if (idle_count_ > 0) {
            // The hot path: taking an idle connection changes neither what is open nor who
            // waits, so nothing settle() decides can change (and the sweep is already armed).
            serve_from_idle(now, w, out);
            return out;
        } else if (breaker_ != breaker_state::closed) {
            finish_error(w, errc::circuit_open, circuit_message(now), out);
        } else if ((requested.count() <= 0 && total() >= s_.pool.max_size) || w.try_only ||
                   (s_.pool.max_waiters > 0 && waiter_count_ >= s_.pool.max_waiters)) {
            finish_error(w, errc::pool_exhausted, exhausted_message(now), out);
        } else {
            enqueue(w, false);
        }
        settle(now, out);
        return out;
    }

    /// A woken waiter looks for a parked connection; only the head of the queue may take one.
    actions_type on_retake(time_point now, waiter_type& w) {
        actions_type out;
        w.woken = false;
        if (!w.done && queued(w) && waiters_.next == &w && idle_count_ > 0) {
            dequeue(w);
            serve_from_idle(now, w, out);
        }
        settle(now, out);
        return out;
    }

    /// The caller gave up on `w` (cancellation): it fails with `reason` unless already done.
    actions_type on_cancel(time_point now, waiter_type& w, boost::system::error_code reason) {
        actions_type out;
        if (!w.done) {
            if (queued(w)) dequeue(w);
            if (w.validating != nullptr) {
                w.validating->pinging_for = nullptr;
                w.validating = nullptr;
            }
            finish_error(w, reason, "the acquire was cancelled", out);
        }
        settle(now, out);
        return out;
    }

    /// A lease came back; `reusable` is the driver's verdict (not broken, reset succeeded).
    actions_type on_return(time_point now, slot_type& c, bool reusable) {
        actions_type out;
        if (c.generation != generation_) {  // the parent's connection, in a forked child
            out.push_back(abandon_slot<Clock>{&c});
            return out;
        }
        use_hist_.record(now - c.leased_at);
        c.unlink();
        --in_use_;
        c.holder.clear();
        if (closing_ || !reusable || now >= c.expires || c.retired) {
            close(c, out);
        } else {
            c.last_used = now;
            place(now, c, s_.max_bypass, out);
            // The hot path: handed or parked, the pool is as big as before; only a first idle
            // connection can need the sweep armed.
            if (next_sweep_ != time_point::max()) return out;
        }
        settle(now, out);
        return out;
    }

    /// The validation ping of `c` finished.
    actions_type on_ping_result(time_point now, slot_type& c, bool ok) {
        actions_type out;
        if (c.generation != generation_) {
            out.push_back(abandon_slot<Clock>{&c});
            return out;
        }
        waiter_type* w = c.pinging_for;
        c.pinging_for = nullptr;
        if (w != nullptr) w->validating = nullptr;
        ok = ok && !c.retired;
        if (ok && w != nullptr) {
            hand(now, *w, c, out);
        } else if (ok) {  // its waiter went away meanwhile: as if returned unused
            c.unlink();
            --in_use_;
            if (closing_) {
                close(c, out);
            } else {
                place(now, c, 0, out);
            }
        } else {
            c.unlink();
            --in_use_;
            close(c, out);
            if (w != nullptr) retry_waiter(now, *w, out);
        }
        settle(now, out);
        return out;
    }

    /// A connect succeeded: the shell allocated `c` around the new connection.
    actions_type on_connected(time_point now, const job_type& job, slot_type& c) {
        actions_type out;
        c.generation = job.generation;
        if (job.generation != generation_) {
            out.push_back(abandon_slot<Clock>{&c});
            return out;
        }
        --in_flight_;
        if (c.server != 0 && retired_since(c.server, job.started)) {
            // Landed on a server retired while it connected: not for use, and no verdict on
            // the database either way; the demand it served asks for a connect anew.
            ++closed_total_;
            out.push_back(close_slot<Clock>{&c});
            if (job.trial) {
                trial_in_flight_ = false;
                breaker_ = breaker_state::open;
            }
            settle(now, out);
            return out;
        }
        consecutive_failures_ = 0;
        breaker_ = breaker_state::closed;
        trial_in_flight_ = false;
        failover_until_ = time_point::min();
        ++created_total_;
        create_hist_.record(now - job.started);
        c.created = now;
        c.last_used = now;
        c.expires = expiry(now);
        // The server accepts connections again: retries waiting out a backoff are due now.
        for (auto& p : pending_) p.not_before = std::min(p.not_before, now);
        if (closing_) {
            close(c, out);
        } else {
            place(now, c, 0, out);
        }
        settle(now, out);
        return out;
    }

    /// A connect failed with the driver's message (never a password).
    actions_type on_connect_failed(time_point now, const job_type& job,
                                   boost::system::error_code ec, connect_failure kind,
                                   const std::string& message) {
        actions_type out;
        if (job.generation != generation_) return out;
        --in_flight_;
        if (job.trial) trial_in_flight_ = false;
        ++connect_failures_total_;
        last_connect_error_ = message;
        last_connect_error_at_ = now;
        if (closing_) return out;
        if (!job.trial && now < failover_until_ && kind != connect_failure::permanent) {
            // A failover under way: the next server may be promoted any moment.
            pending_.push_back({saturating_add(now, s_.failover_retry), job.attempt});
        } else if (kind == connect_failure::server_full && open() > 0) {
            // The pool cannot grow, the database is up: wait for the open connections, and
            // poll for room at the first backoff step (a doubling backoff would leave the pool
            // small for up to max_delay after the server's limit is raised).
            pending_.push_back({saturating_add(now, backoff(1)), 1});
        } else {
            ++consecutive_failures_;
            const auto threshold = s_.breaker.failure_threshold;
            if (job.trial || (threshold > 0 && consecutive_failures_ >= threshold)) {
                open_breaker(now, job.trial, out);
            } else if (kind == connect_failure::permanent) {
                const auto msg = connect_message(message);
                const bool all = open() == 0;
                while (waiter_count_ > 0) {
                    fail_front(ec ? ec : make_error_code(errc::connect_failed), msg, out);
                    if (!all) break;
                }
            } else if (job.attempt < s_.retry.attempts) {
                schedule_retry(now, job);
            } else if (waiter_count_ > 0) {
                fail_front(ec ? ec : make_error_code(errc::connect_failed),
                           connect_message(message), out);
            }
        }
        settle(now, out);
        return out;
    }

    /// The pool's timer fired: deadlines, due connects, breaker trials, the sweep.
    actions_type on_timer(time_point now) {
        actions_type out;
        armed_ = time_point::max();
        while (by_deadline_.linked()) {
            auto* w = static_cast<deadline_link<Clock>*>(by_deadline_.next)->owner;
            if (w->deadline > now) break;
            dequeue(*w);
            ++timeouts_total_;
            finish_error(*w, errc::acquire_timeout, timeout_message(now, *w), out);
        }
        if (breaker_ == breaker_state::open && !trial_in_flight_ && now >= next_trial_ &&
            !closing_) {
            breaker_ = breaker_state::half_open;
            trial_in_flight_ = true;
            ++in_flight_;
            out.push_back(start_connect<Clock>{job_type{1, true, generation_, now},
                                               saturating_add(now, s_.pool.connect_timeout)});
        }
        if (next_sweep_ != time_point::max() && now >= next_sweep_) {
            next_sweep_ = time_point::max();
            sweep(now, out);
        }
        settle(now, out);
        return out;
    }

    /// close(): the first call returns what to close and whom to fail; later calls nothing.
    actions_type on_close(time_point now) {
        actions_type out;
        if (closing_) return out;
        closing_ = true;
        pending_.clear();
        while (idle_count_ > 0) {
            auto* c = static_cast<slot_type*>(idle_.next);
            c->unlink();
            --idle_count_;
            close(*c, out);
        }
        while (waiter_count_ > 0) fail_front(errc::shutting_down, closing_message(), out);
        (void)now;
        return out;
    }

    /// The process may have forked: `generation` is the current fork generation. In a child
    /// (a new generation) every connection of the parent is forgotten without closing it: idle
    /// ones come back as abandon_slot, leased ones are abandoned when returned. True if so.
    bool on_fork(std::uint64_t generation, actions_type& out) {
        if (generation == generation_) return false;
        generation_ = generation;
        while (idle_count_ > 0) {
            auto* c = static_cast<slot_type*>(idle_.next);
            c->unlink();
            --idle_count_;
            out.push_back(abandon_slot<Clock>{c});
        }
        while (leased_.linked()) leased_.next->unlink();
        while (waiters_.linked()) waiters_.next->unlink();  // their threads do not exist here
        while (by_deadline_.linked()) by_deadline_.next->unlink();
        waiter_count_ = 0;
        in_use_ = 0;
        in_flight_ = 0;
        trial_in_flight_ = false;
        pending_.clear();
        armed_ = time_point::max();
        next_sweep_ = time_point::max();
        return true;
    }

    /// Every connection of `server` is retired: idle ones close now, leased ones when returned,
    /// connects under way that land on it are closed on arrival. `failover` opens the failover
    /// window (see the rules above).
    actions_type on_retire_server(time_point now, server_id server, bool failover) {
        actions_type out;
        if (closing_ || server == 0) return out;
        auto it = std::find_if(retired_.begin(), retired_.end(),
                               [&](const auto& r) { return r.first == server; });
        if (it == retired_.end())
            retired_.emplace_back(server, now);
        else
            it->second = now;
        for (list_node* n = idle_.next; n != &idle_;) {
            auto* c = static_cast<slot_type*>(n);
            n = n->next;
            if (c->server != server) continue;
            c->unlink();
            --idle_count_;
            close(*c, out);
        }
        for (list_node* n = leased_.next; n != &leased_; n = n->next) {
            auto* c = static_cast<slot_type*>(n);
            if (c->server == server) c->retired = true;
        }
        if (failover) {
            failover_until_ = saturating_add(now, s_.failover_window);
            // Retries waiting out a backoff are due at the failover pace.
            const auto soon = saturating_add(now, s_.failover_retry);
            for (auto& p : pending_) p.not_before = std::min(p.not_before, soon);
        }
        settle(now, out);
        return out;
    }

    // ---- observing --------------------------------------------------------------------------

    bool closing() const noexcept { return closing_; }
    std::uint64_t generation() const noexcept { return generation_; }
    std::size_t idle() const noexcept { return idle_count_; }
    std::size_t in_use() const noexcept { return in_use_; }
    std::size_t connecting() const noexcept { return pending_.size() + in_flight_; }
    std::size_t waiters() const noexcept { return waiter_count_; }
    std::size_t open() const noexcept { return idle_count_ + in_use_; }
    std::size_t total() const noexcept { return open() + connecting(); }
    breaker_state breaker() const noexcept { return breaker_; }
    /// True while the failover window is open (see on_retire_server).
    bool in_failover(time_point now) const noexcept { return now < failover_until_; }

    /// Open connections by server (idle and leased; 0 = untagged), for stats.
    std::vector<std::pair<server_id, std::size_t>> open_by_server() const {
        std::vector<std::pair<server_id, std::size_t>> out;
        auto count = [&out](const list_node& list) {
            for (const list_node* n = list.next; n != &list; n = n->next) {
                const auto server = static_cast<const slot_type*>(n)->server;
                auto it = std::find_if(out.begin(), out.end(),
                                       [&](const auto& e) { return e.first == server; });
                if (it == out.end())
                    out.emplace_back(server, 1);
                else
                    ++it->second;
            }
        };
        count(idle_);
        count(leased_);
        return out;
    }

    /// Holders of the leases still out, for the close summary.
    std::vector<std::string> leased_holders() const {
        std::vector<std::string> out;
        for (const list_node* n = leased_.next; n != &leased_; n = n->next)
            out.push_back(static_cast<const slot_type*>(n)->holder);
        return out;
    }

    /// The leases out now with how long each has been held, oldest first.
    std::vector<lease_info> leases(time_point now) const {
        std::vector<lease_info> out;
        for (const list_node* n = leased_.next; n != &leased_; n = n->next) {
            const auto* c = static_cast<const slot_type*>(n);
            out.push_back({c->holder, now - c->leased_at});
        }
        std::stable_sort(out.begin(), out.end(),
                         [](const lease_info& a, const lease_info& b) { return a.age > b.age; });
        return out;
    }

    /// Fills the counters of `st` (identity fields are the shell's).
    void fill(pool_stats& st) const {
        st.max_size = s_.pool.max_size;
        st.open = open();
        st.idle = idle_count_;
        st.in_use = in_use_;
        st.connecting = connecting();
        st.waiters = waiter_count_;
        st.created_total = created_total_;
        st.closed_total = closed_total_;
        st.acquired_total = acquired_total_;
        st.timeouts_total = timeouts_total_;
        st.connect_failures_total = connect_failures_total_;
        st.wait_seconds_sum = wait_hist_.sum();
        st.wait_seconds_max = wait_hist_.max();
        st.wait_buckets_le.assign(wait_bounds.begin(), wait_bounds.end());
        st.wait_buckets = wait_hist_.cumulative();
        st.min_idle = s_.pool.min_idle;
        st.create_time = create_hist_.snapshot();
        st.use_time = use_hist_.snapshot();
        st.utilization = s_.pool.max_size == 0
                             ? 0.0
                             : static_cast<double>(in_use_) / static_cast<double>(s_.pool.max_size);
        st.breaker = breaker_;
    }

    /// `t + d`, or time_point::max() where that would overflow (`d` in a unit no finer than
    /// the clock's, as every option is).
    template <class Rep, class Period>
    static time_point saturating_add(time_point t, std::chrono::duration<Rep, Period> d) noexcept {
        using given = std::chrono::duration<Rep, Period>;
        if (d <= given::zero()) return t;
        if (d >= std::chrono::duration_cast<given>(time_point::max() - t)) return time_point::max();
        return t + std::chrono::duration_cast<duration>(d);
    }

private:
    struct pending_connect {
        time_point not_before;
        unsigned attempt;
    };

    bool queued(const waiter_type& w) const noexcept { return w.linked(); }

    // Whether `server` was retired at or after `since`.
    bool retired_since(server_id server, time_point since) const noexcept {
        for (const auto& [id, at] : retired_)
            if (id == server) return at >= since;
        return false;
    }

    void enqueue(waiter_type& w, bool at_front) {
        w.insert_before(at_front ? waiters_.next : &waiters_);
        ++waiter_count_;
        // Deadline order; appending is the common case (one timeout for every waiter).
        list_node* pos = &by_deadline_;
        while (pos->prev != &by_deadline_ &&
               static_cast<deadline_link<Clock>*>(pos->prev)->owner->deadline > w.deadline)
            pos = pos->prev;
        w.by_deadline.insert_before(pos);
    }

    void dequeue(waiter_type& w) noexcept {
        w.unlink();
        w.by_deadline.unlink();
        --waiter_count_;
    }

    // Leases the most recently used idle connection to `w` (one at `w`'s home when one of
    // the most recent few is): handed out, or pinged first.
    void serve_from_idle(time_point now, waiter_type& w, actions_type& out) {
        auto* c = static_cast<slot_type*>(idle_.prev);
        if (w.home != any_home && c->home != w.home) c = idle_at_home(w.home, c);
        c->unlink();
        --idle_count_;
        lend(*c, now);
        const auto hc = s_.pool.health_check_interval;
        if (hc.count() == 0 || elapsed(c->last_used, now) > hc) {
            c->pinging_for = &w;
            w.validating = c;
            out.push_back(ping_slot<Clock>{
                c, std::min(w.deadline, saturating_add(now, s_.pool.connect_timeout))});
            return;
        }
        hand(now, w, *c, out);
    }

    // Looks a few places past the most recent idle connection for one at `home`: a bounded
    // search, so affinity never costs more than a cache line or two per acquire.
    slot_type* idle_at_home(unsigned home, slot_type* newest) const noexcept {
        constexpr int looked_at = 4;
        int n = 0;
        for (list_node* p = newest->prev; p != &idle_ && n < looked_at; p = p->prev, ++n) {
            auto* c = static_cast<slot_type*>(p);
            if (c->home == home) return c;
        }
        return newest;
    }

    // A ping failed for `w`: it keeps its deadline and goes back to the head of the queue.
    void retry_waiter(time_point now, waiter_type& w, actions_type& out) {
        if (closing_) {
            finish_error(w, errc::shutting_down, closing_message(), out);
        } else if (now >= w.deadline) {
            ++timeouts_total_;
            finish_error(w, errc::acquire_timeout, timeout_message(now, w), out);
        } else if (idle_count_ > 0) {
            serve_from_idle(now, w, out);
        } else if (w.try_only) {
            finish_error(w, errc::pool_exhausted, exhausted_message(now), out);
        } else {
            enqueue(w, true);
        }
    }

    // A connection that is free: to the head waiter (unless barging parks it), else idle.
    void place(time_point now, slot_type& c, unsigned bypass, actions_type& out) {
        if (waiter_count_ == 0) {
            park(c);
            return;
        }
        auto* head = static_cast<waiter_type*>(waiters_.next);
        if (head->passes < bypass) {
            ++head->passes;
            park(c);
            if (!head->woken) {
                head->woken = true;
                out.push_back(wake_waiter<Clock>{head});
            }
            return;
        }
        dequeue(*head);
        lend(c, now);
        hand(now, *head, c, out);
    }

    void lend(slot_type& c, time_point now) {
        c.insert_before(&leased_);
        c.leased_at = now;
        c.leak_warned = false;
        ++in_use_;
    }

    void hand(time_point now, waiter_type& w, slot_type& c, actions_type& out) {
        if (!w.holder.empty() || !c.holder.empty()) c.holder = w.holder;
        ++acquired_total_;
        record_wait(now - w.enqueued);
        w.result = &c;
        w.done = true;
        out.push_back(hand_out<Clock>{&w, &c});
    }

    void park(slot_type& c) {
        c.insert_before(&idle_);
        ++idle_count_;
    }

    void close(slot_type& c, actions_type& out) {
        ++closed_total_;
        out.push_back(close_slot<Clock>{&c});
    }

    void finish_error(waiter_type& w, boost::system::error_code ec, std::string message,
                      actions_type& out) {
        w.error = ec;
        w.message = std::move(message);
        w.done = true;
        out.push_back(fail_waiter<Clock>{&w, ec});
    }

    void fail_front(boost::system::error_code ec, const std::string& message, actions_type& out) {
        auto* w = static_cast<waiter_type*>(waiters_.next);
        dequeue(*w);
        finish_error(*w, ec, message, out);
    }

    void schedule_retry(time_point now, const job_type& job) {
        pending_.push_back({saturating_add(now, backoff(job.attempt)), job.attempt + 1});
    }

    void open_breaker(time_point now, bool after_trial, actions_type& out) {
        breaker_ = breaker_state::open;
        const auto cap = std::max(s_.breaker.open_for, std::chrono::milliseconds{1});
        trial_interval_ =
            after_trial
                ? std::min(trial_interval_ * 2, cap)
                : std::min(std::max(s_.retry.base_delay, std::chrono::milliseconds{1}), cap);
        next_trial_ = saturating_add(now, trial_interval_);
        pending_.clear();
        const auto msg = circuit_message(now);
        while (waiter_count_ > 0) fail_front(errc::circuit_open, msg, out);
    }

    // The tail of every input: connects wanted, connects due, the timer.
    void settle(time_point now, actions_type& out) {
        request_connects(now);
        start_due(now, out);
        if (next_sweep_ == time_point::max() && sweep_needed())
            next_sweep_ = saturating_add(now, sweep_period());
        time_point t = next_sweep_;
        if (by_deadline_.linked())
            t = std::min(t, static_cast<deadline_link<Clock>*>(by_deadline_.next)->owner->deadline);
        if (!pending_.empty() && in_flight_ < s_.max_parallel_connects) {
            for (const auto& p : pending_) t = std::min(t, p.not_before);
        }
        if (breaker_ == breaker_state::open && !trial_in_flight_) t = std::min(t, next_trial_);
        if (t != time_point::max() && t < armed_) {
            armed_ = t;
            out.push_back(arm_timer<Clock>{t});
        }
    }

    // Connections wanted (open + connecting): enough for every waiter, and min_idle.
    std::size_t demand() const noexcept {
        const std::size_t for_min_idle = s_.pool.min_idle > open() ? s_.pool.min_idle - open() : 0;
        return std::max(for_min_idle, waiter_count_);
    }

    void request_connects(time_point now) {
        if (closing_ || breaker_ != breaker_state::closed) return;
        while (connecting() < demand() && total() < s_.pool.max_size) pending_.push_back({now, 1});
    }

    void start_due(time_point now, actions_type& out) {
        while (!pending_.empty() && in_flight_ < s_.max_parallel_connects) {
            auto it = std::min_element(
                pending_.begin(), pending_.end(),
                [](const auto& a, const auto& b) { return a.not_before < b.not_before; });
            if (it->not_before > now) return;
            const pending_connect p = *it;
            pending_.erase(it);
            // Still needed? Connections returned meanwhile may have served the waiters.
            if (closing_ || breaker_ != breaker_state::closed || connecting() + 1 > demand() ||
                open() + connecting() + 1 > s_.pool.max_size)
                continue;
            ++in_flight_;
            out.push_back(start_connect<Clock>{job_type{p.attempt, false, generation_, now},
                                               saturating_add(now, s_.pool.connect_timeout)});
        }
    }

    bool sweep_needed() const noexcept {
        if (closing_) return false;
        return idle_count_ > 0 || open() < s_.pool.min_idle ||
               (s_.pool.leak_threshold.count() > 0 && in_use_ > 0);
    }

    void sweep(time_point now, actions_type& out) {
        // Oldest idle first: idle_.next is the least recently used.
        for (list_node* n = idle_.next; n != &idle_;) {
            auto* c = static_cast<slot_type*>(n);
            n = n->next;
            const bool too_old = now >= c->expires;
            const bool surplus = s_.pool.idle_timeout.count() > 0 && open() > s_.pool.min_idle &&
                                 elapsed(c->last_used, now) >= s_.pool.idle_timeout;
            if (too_old || surplus) {
                c->unlink();
                --idle_count_;
                close(*c, out);
            }
        }
        if (s_.pool.leak_threshold.count() > 0) {
            for (list_node* n = leased_.next; n != &leased_; n = n->next) {
                auto* c = static_cast<slot_type*>(n);
                if (!c->leak_warned && elapsed(c->leased_at, now) > s_.pool.leak_threshold) {
                    c->leak_warned = true;
                    out.push_back(
                        log_line{log_level::warn,
                                 "possible connection leak: a lease of " + s_.database + " (" +
                                     to_string(s_.flavour) + " pool) held by '" +
                                     (c->holder.empty() ? std::string("unknown") : c->holder) +
                                     "' for " + format(now - c->leased_at)});
                }
            }
        }
    }

    std::chrono::milliseconds sweep_period() const noexcept {
        using std::chrono::milliseconds;
        milliseconds p{1'000};
        auto consider = [&p](milliseconds d) {
            if (d.count() > 0) p = std::min(p, std::max(milliseconds{10}, d / 4));
        };
        consider(s_.pool.idle_timeout);
        consider(s_.pool.max_lifetime);
        consider(s_.pool.leak_threshold);
        return p;
    }

    // In milliseconds, the unit of every option: comparing in the clock's finer unit would
    // overflow for option values near their type's limit.
    static std::chrono::milliseconds elapsed(time_point since, time_point now) noexcept {
        return std::chrono::duration_cast<std::chrono::milliseconds>(now - since);
    }

    // ---- messages ---------------------------------------------------------------------------

    static std::string format(duration d) {
        const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
        if (ms < 10'000) return std::to_string(ms) + "ms";
        const auto tenths = ms / 100;
        return std::to_string(tenths / 10) + "." + std::to_string(tenths % 10) + "s";
    }

    std::string pool_name() const { return s_.database + " (" + to_string(s_.flavour) + " pool)"; }

    std::string numbers() const {
        return "max_size " + std::to_string(s_.pool.max_size) + ", in use " +
               std::to_string(in_use_) + ", idle " + std::to_string(idle_count_) + ", connecting " +
               std::to_string(connecting()) + ", waiters " + std::to_string(waiter_count_);
    }

    std::string last_error_note(time_point now) const {
        if (last_connect_error_.empty()) return {};
        return "; last connect error " + format(now - last_connect_error_at_) +
               " ago: " + last_connect_error_;
    }

    std::string holders_note(time_point now) const {
        std::map<std::string, std::size_t> count;
        const slot_type* oldest = nullptr;
        for (const list_node* n = leased_.next; n != &leased_; n = n->next) {
            const auto* c = static_cast<const slot_type*>(n);
            ++count[c->holder.empty() ? std::string("unnamed") : c->holder];
            if (oldest == nullptr || c->leased_at < oldest->leased_at) oldest = c;
        }
        if (oldest == nullptr) return {};
        std::vector<std::pair<std::string, std::size_t>> top(count.begin(), count.end());
        std::stable_sort(top.begin(), top.end(),
                         [](const auto& a, const auto& b) { return a.second > b.second; });
        std::string s = "; held by ";
        for (std::size_t i = 0; i < top.size() && i < 3; ++i)
            s += (i ? ", " : "") + top[i].first + " x" + std::to_string(top[i].second);
        if (top.size() > 3) s += ", ...";
        s += "; oldest lease: " +
             (oldest->holder.empty() ? std::string("unnamed") : oldest->holder) + " for " +
             format(now - oldest->leased_at);
        return s;
    }

    std::string timeout_message(time_point now, const waiter_type& w) const {
        return "timed out after " + format(now - w.enqueued) + " waiting for a connection to " +
               pool_name() + ": " + numbers() + holders_note(now) + last_error_note(now);
    }

    std::string exhausted_message(time_point now) const {
        std::string s = "connection pool of " + pool_name() + " exhausted: " + numbers();
        if (s_.pool.max_waiters > 0) s += ", max_waiters " + std::to_string(s_.pool.max_waiters);
        return s + last_error_note(now);
    }

    std::string circuit_message(time_point now) const {
        std::string s = "circuit breaker open for " + pool_name();
        if (!s_.url.empty()) s += " at " + s_.url;
        s += " after " + std::to_string(consecutive_failures_) + " consecutive connect failures";
        if (!trial_in_flight_ && next_trial_ > now)
            s += "; next trial connect in " + format(next_trial_ - now);
        else if (trial_in_flight_)
            s += "; a trial connect is under way";
        return s + last_error_note(now);
    }

    std::string connect_message(const std::string& driver_message) const {
        return "could not connect to " + s_.database + (s_.url.empty() ? "" : " (" + s_.url + ")") +
               ": " + driver_message;
    }

    std::string closing_message() const { return "the " + pool_name() + " is closing"; }

    // ---- numbers ----------------------------------------------------------------------------

    void record_wait(duration waited) noexcept { wait_hist_.record(waited); }

    time_point expiry(time_point created) {
        const auto life = s_.pool.max_lifetime;
        if (life.count() <= 0) return time_point::max();
        // Up to 10% less, so connections made together do not all expire together.
        std::uniform_int_distribution<std::int64_t> d(0, life.count() / 10);
        return saturating_add(created, life - std::chrono::milliseconds{d(rng_)});
    }

    std::chrono::milliseconds backoff(unsigned attempt) {
        // Full jitter: uniform in [0, min(max_delay, base * 2^(attempt-1))].
        const auto base = s_.retry.base_delay.count();
        const auto cap = s_.retry.max_delay.count();
        std::int64_t ceiling = base;
        for (unsigned i = 1; i < attempt && ceiling < cap; ++i) ceiling *= 2;
        ceiling = std::min<std::int64_t>(ceiling, cap);
        if (ceiling <= 0) return std::chrono::milliseconds{0};
        std::uniform_int_distribution<std::int64_t> d(0, ceiling);
        return std::chrono::milliseconds{d(rng_)};
    }

    settings s_;
    std::minstd_rand rng_;
    std::uint64_t generation_;
    list_node idle_;         // slots, least recently used first
    list_node leased_;       // slots
    list_node waiters_;      // FIFO
    list_node by_deadline_;  // deadline_links, earliest first
    std::size_t idle_count_{0};
    std::size_t in_use_{0};
    std::size_t waiter_count_{0};
    std::size_t in_flight_{0};
    std::deque<pending_connect> pending_;
    bool closing_{false};
    time_point armed_{time_point::max()};
    time_point next_sweep_{time_point::max()};
    breaker_state breaker_{breaker_state::closed};
    bool trial_in_flight_{false};
    time_point next_trial_{};
    std::chrono::milliseconds trial_interval_{0};
    unsigned consecutive_failures_{0};
    time_point failover_until_{time_point::min()};
    std::vector<std::pair<server_id, time_point>> retired_;  // when each was last retired
    std::string last_connect_error_;
    time_point last_connect_error_at_{};
    std::uint64_t created_total_{0};
    std::uint64_t closed_total_{0};
    std::uint64_t acquired_total_{0};
    std::uint64_t timeouts_total_{0};
    std::uint64_t connect_failures_total_{0};
    duration_histogram wait_hist_{wait_bounds};
    duration_histogram create_hist_{create_bounds};
    duration_histogram use_hist_{use_bounds};
};

}  // namespace connmgr::detail
