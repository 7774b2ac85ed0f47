#pragma once
/// The socket-free policy core shared by sync_pool and async_pool (DESIGN §5).
///
/// `pool_state` takes time points and outcomes and returns what to do: hand a connection to a
/// waiter, park it idle, close it, ping it before handing it out, start a connect, fail a waiter
/// with a code. It does no I/O, takes no lock and never calls a driver, so every rule is written
/// once here and tested step by step with a manual clock. The shells own the memory of slots and
/// waiters; the core only links them.
///
/// Rules (the ones a shell must not re-implement):
/// - waiters are served FIFO among themselves; a connection that frees up goes to the oldest
///   waiter directly, except with bounded barging (max_bypass K > 0, the sync shell): a return
///   may then park the connection and wake the head waiter, and a running acquirer may take it
///   first; after K such returns the head gets the next one directly, so it is served within
///   K + 1 returns. This breaks lock convoys (a hand-off to a sleeping thread per cycle);
/// - max_size counts idle + in use + connecting (requested or in flight);
/// - connects are requested when waiters outnumber connects already under way, or to keep
///   min_idle connections open; a requested connect that is no longer needed when its turn
///   comes is dropped (HikariCP: a waiter takes whichever connection frees first);
/// - at most `max_parallel_connects` connects run at once (the sync shell has one connector);
/// - acquire_timeout 0: fail fast with pool_exhausted when nothing is idle and the pool is at
///   max_size; with room, the acquirer waits for a new connection up to connect_timeout;
/// - max_waiters > 0: one more queued acquirer fails at once with pool_exhausted;
/// - idle connections are handed out most recently used first (LIFO), so the surplus ages out;
/// - a connection idle longer than health_check_interval (0 = always) is pinged before use;
/// - on return, broken or non-resettable connections and those past their jittered
///   max_lifetime are closed; the sweep closes idle ones past max_lifetime, and idle ones past
///   idle_timeout while more than min_idle are open, then refills min_idle;
/// - connect errors retry with exponential backoff and full jitter, up to retry.attempts per
///   connect; when they run out, the oldest waiter fails with connect_failed;
/// - breaker: failure_threshold consecutive connect failures open it (waiters fail with
///   circuit_open, new acquires too unless an idle connection is there); after open_for it is
///   half open: exactly one trial connect, other acquires fail with circuit_open; success closes
///   it, failure opens it again;
/// - close: new acquires fail with shutting_down, waiters are failed with it, idle connections
///   and connects that complete later are closed, leased ones are closed when returned.
///
/// \par Thread safety
/// None: the owning shell serializes every call (a mutex in both shells).

#include <connmgr/config.hpp>
#include <connmgr/detail/duration_histogram.hpp>
#include <connmgr/error.hpp>
#include <connmgr/pool_stats.hpp>

#include <algorithm>
#include <array>
#include <cstdint>
#include <deque>
#include <optional>
#include <random>
#include <string>
#include <vector>

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
    bool leak_warned{false};
    virtual ~slot() = default;
};

/// One queued acquirer. The shell derives from it (condition variable, completion handler).
template <class Clock>
struct waiter : list_node {
    using time_point = typename Clock::time_point;
    time_point enqueued{};
    std::string holder;
    /// Set by the core when it finishes the waiter: a connection, or an error.
    slot<Clock>* result{nullptr};
    boost::system::error_code error{};
    std::string message;
    bool done{false};
    /// Returns that parked a connection instead of handing it to this waiter at the head.
    unsigned passes{0};
    /// The shell was asked to wake it and it has not looked yet.
    bool woken{false};
};

template <class Clock>
class pool_state {
public:
    using time_point = typename Clock::time_point;
    using duration = typename Clock::duration;
    using slot_type = slot<Clock>;
    using waiter_type = waiter<Clock>;

    struct settings {
        pool_options pool{};
        retry_options retry{};
        breaker_options breaker{};
        std::size_t max_parallel_connects{1};
        /// Bounded barging: how many returns may park a connection (for whoever takes it
        /// first: a running thread, or the woken head waiter) instead of handing it to the
        /// waiter at the head of the queue. 0 = strict FIFO hand-off.
        unsigned max_bypass{0};
    };

    /// What take() decided.
    struct take_result {
        slot_type* connection{nullptr};     ///< handed out (leased) when set
        bool ping{false};                   ///< validate before use
        boost::system::error_code error{};  ///< fail at once when set
        /// Neither: the acquirer must enqueue() and wait.
        bool must_wait() const noexcept { return connection == nullptr && !error; }
    };

    /// A connect the shell should run now.
    struct connect_job {
        unsigned attempt{1};
    };

    /// What to do with a connection that came back or was just opened.
    struct placement {
        waiter_type* handed{nullptr};  ///< give it to this waiter (already finished)
        waiter_type* wake{nullptr};    ///< parked for barging: wake this (head) waiter to retake()
        bool close{false};             ///< close it (the slot is no longer counted)
    };

    /// What the periodic sweep found.
    struct sweep_result {
        std::vector<slot_type*> to_close;
        struct leak {
            std::string holder;
            duration held;
        };
        std::vector<leak> leaks;
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

    explicit pool_state(settings s, std::uint64_t seed = std::random_device{}())
        : s_(std::move(s)), rng_(seed) {}

    pool_state(const pool_state&) = delete;
    pool_state& operator=(const pool_state&) = delete;

    const settings& config() const noexcept { return s_; }

    // ---- acquiring --------------------------------------------------------------------------

    /// The fast path: an idle connection, an immediate failure, or "wait".
    /// `timeout` is this call's acquire timeout; `holder` its store name.
    take_result take(time_point now, std::chrono::milliseconds timeout, const std::string& holder) {
        take_result r;
        if (closing_) {
            r.error = errc::shutting_down;
            return r;
        }
        if (idle_count_ > 0) {
            auto* c = static_cast<slot_type*>(idle_.prev);  // most recently used
            c->unlink();
            --idle_count_;
            lend(c, now);
            if (!holder.empty() || !c->holder.empty()) c->holder = holder;
            record_wait(duration::zero());
            const auto hc = s_.pool.health_check_interval;
            r.ping = hc.count() == 0 || now - c->last_used > hc;
            r.connection = c;
            return r;
        }
        update_breaker(now);
        if (breaker_ == breaker_state::open ||
            (breaker_ == breaker_state::half_open && trial_started_)) {
            r.error = errc::circuit_open;
            return r;
        }
        if (timeout.count() == 0 && total() >= s_.pool.max_size) {
            r.error = errc::pool_exhausted;
            return r;
        }
        if (s_.pool.max_waiters > 0 && waiter_count_ >= s_.pool.max_waiters) {
            r.error = errc::pool_exhausted;
            return r;
        }
        return r;
    }

    /// How long an acquire may wait (acquire_timeout, or connect_timeout when it is 0).
    std::chrono::milliseconds wait_limit(std::optional<std::chrono::milliseconds> requested) const {
        auto t = requested.value_or(s_.pool.acquire_timeout);
        return t.count() == 0 ? s_.pool.connect_timeout : t;
    }

    /// Queues `w` (after take() said must_wait) and requests connects if needed.
    void enqueue(waiter_type* w, time_point now) {
        w->enqueued = now;
        w->done = false;
        w->passes = 0;
        w->woken = false;
        w->result = nullptr;
        w->insert_before(&waiters_);
        ++waiter_count_;
        request_connects(now);
    }

    /// Takes a still queued waiter out (deadline or cancellation). False if already finished.
    bool remove(waiter_type* w) noexcept {
        if (w->done || !w->linked()) return false;
        w->unlink();
        --waiter_count_;
        w->done = true;
        return true;
    }

    /// Counts a waiter that remove() took out at its deadline.
    void count_timeout() noexcept { ++timeouts_total_; }

    /// The acquire_timeout message: database, flavour, max_size, in use, waiters, waited time.
    std::string timeout_message(const std::string& database, flavour f, duration waited) const {
        const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(waited).count();
        return "timed out waiting for a connection to " + database + " (" + to_string(f) +
               " pool): max_size " + std::to_string(s_.pool.max_size) + ", in use " +
               std::to_string(in_use_) + ", waiters " + std::to_string(waiter_count_) +
               ", waited " + std::to_string(ms) + "ms";
    }

    // ---- returning --------------------------------------------------------------------------

    /// A lease came back. `reusable` is the driver's verdict (not broken, reset succeeded).
    placement on_return(slot_type* c, bool reusable, time_point now) {
        use_hist_.record(now - c->leased_at);
        c->unlink();
        --in_use_;
        c->holder.clear();
        placement p;
        if (closing_ || !reusable || now >= c->expires) {
            p.close = true;
            ++closed_total_;
            request_connects(now);
            return p;
        }
        c->last_used = now;
        if (waiter_count_ > 0 && s_.max_bypass > 0) {
            auto* head = static_cast<waiter_type*>(waiters_.next);
            if (head->passes < s_.max_bypass) {
                ++head->passes;
                park(c);
                p.wake = wake_head();
                return p;
            }
        }
        p.handed = hand_to_waiter(c, now);
        if (p.handed == nullptr) park(c);
        return p;
    }

    /// A woken waiter looks for a parked connection; only the head of the queue may take one.
    /// On success the waiter is finished (w->result set) and the slot is leased; `ping` tells
    /// whether to validate it first.
    slot_type* retake(waiter_type* w, time_point now, bool& ping) {
        w->woken = false;
        if (w->done || waiters_.next != w || idle_count_ == 0) return nullptr;
        auto* c = static_cast<slot_type*>(idle_.prev);
        c->unlink();
        --idle_count_;
        w->unlink();
        --waiter_count_;
        lend(c, now);
        c->holder = w->holder;
        record_wait(now - w->enqueued);
        w->result = c;
        w->done = true;
        const auto hc = s_.pool.health_check_interval;
        ping = hc.count() == 0 || now - c->last_used > hc;
        return c;
    }

    /// The head waiter to wake when connections are parked and it has not been told yet
    /// (after the previous head left the queue); nullptr otherwise.
    waiter_type* wake_head() noexcept {
        if (waiter_count_ == 0 || idle_count_ == 0) return nullptr;
        auto* head = static_cast<waiter_type*>(waiters_.next);
        if (head->woken) return nullptr;
        head->woken = true;
        return head;
    }

    /// A connection handed out by take() failed its ping: it is gone; the shell closes it.
    void discard(slot_type* c, time_point now) {
        c->unlink();
        --in_use_;
        --acquired_total_;
        ++closed_total_;
        request_connects(now);
    }

    // ---- connecting -------------------------------------------------------------------------

    /// The next connect to run now, if one is due and still needed.
    std::optional<connect_job> next_connect(time_point now) {
        while (!pending_.empty() && in_flight_ < s_.max_parallel_connects) {
            auto it = std::min_element(
                pending_.begin(), pending_.end(),
                [](const auto& a, const auto& b) { return a.not_before < b.not_before; });
            if (it->not_before > now) return std::nullopt;
            const pending_connect p = *it;
            pending_.erase(it);
            // Still needed? Connections returned meanwhile may have served the waiters.
            if (connecting() + 1 > demand() || closing_) continue;
            if (breaker_ == breaker_state::half_open) {
                if (trial_started_) continue;
                trial_started_ = true;
            } else if (breaker_ == breaker_state::open) {
                continue;
            }
            ++in_flight_;
            return connect_job{p.attempt};
        }
        return std::nullopt;
    }

    /// When the earliest requested connect becomes due (time_point::max() if none).
    time_point next_connect_due() const noexcept {
        time_point t = time_point::max();
        for (const auto& p : pending_) t = std::min(t, p.not_before);
        return t;
    }

    bool has_pending_connects() const noexcept { return !pending_.empty(); }

    /// A connect succeeded after `took`: the shell measures it around the driver's connect.
    void record_create_time(duration took) noexcept { create_hist_.record(took); }

    /// A connect succeeded: the shell allocated `c` around the new connection.
    placement on_connected(slot_type* c, time_point now, std::uint64_t generation) {
        --in_flight_;
        consecutive_failures_ = 0;
        breaker_ = breaker_state::closed;
        trial_started_ = false;
        ++created_total_;
        c->created = now;
        c->last_used = now;
        c->generation = generation;
        c->expires = expiry(now);
        placement p;
        if (closing_) {
            p.close = true;
            ++closed_total_;
            return p;
        }
        p.handed = hand_to_waiter(c, now);
        if (p.handed == nullptr) park(c);
        request_connects(now);  // after a half-open trial, the other waiters need theirs
        return p;
    }

    /// A connect failed. Returns the waiters it finished (with an error) for the shell to wake.
    std::vector<waiter_type*> on_connect_failed(const connect_job& job,
                                                boost::system::error_code ec,
                                                const std::string& message, time_point now) {
        --in_flight_;
        ++connect_failures_total_;
        ++consecutive_failures_;
        last_connect_error_ = message;
        std::vector<waiter_type*> failed;
        if (closing_) return failed;
        const bool was_trial = breaker_ == breaker_state::half_open;
        trial_started_ = false;
        const auto threshold = s_.breaker.failure_threshold;
        if (was_trial || (threshold > 0 && consecutive_failures_ >= threshold)) {
            breaker_ = breaker_state::open;
            open_until_ = now + s_.breaker.open_for;
            pending_.clear();
            const std::string msg = "circuit breaker open after " +
                                    std::to_string(consecutive_failures_) +
                                    " consecutive connect failures: " + message;
            while (waiter_count_ > 0) failed.push_back(fail_front(errc::circuit_open, msg));
            return failed;
        }
        const bool retryable = ec == errc::connect_failed;
        if (retryable && job.attempt < s_.retry.attempts && !was_trial) {
            pending_.push_back({now + backoff(job.attempt), job.attempt + 1});
            return failed;
        }
        if (waiter_count_ > 0)
            failed.push_back(fail_front(ec ? ec : make_error_code(errc::connect_failed), message));
        request_connects(now);
        return failed;
    }

    // ---- housekeeping -----------------------------------------------------------------------

    /// Closes expired idle connections, refills min_idle, reports leaks.
    sweep_result sweep(time_point now) {
        sweep_result r;
        update_breaker(now);
        // Oldest idle first: idle_.next is the least recently used.
        for (list_node* n = idle_.next; n != &idle_;) {
            auto* c = static_cast<slot_type*>(n);
            n = n->next;
            const bool too_old = now >= c->expires;
            const bool surplus = s_.pool.idle_timeout.count() > 0 && open() > s_.pool.min_idle &&
                                 now - c->last_used >= s_.pool.idle_timeout;
            if (too_old || surplus) {
                c->unlink();
                --idle_count_;
                ++closed_total_;
                r.to_close.push_back(c);
            }
        }
        if (s_.pool.leak_threshold.count() > 0) {
            for (list_node* n = leased_.next; n != &leased_; n = n->next) {
                auto* c = static_cast<slot_type*>(n);
                if (!c->leak_warned && now - c->leased_at > s_.pool.leak_threshold) {
                    c->leak_warned = true;
                    r.leaks.push_back({c->holder, now - c->leased_at});
                }
            }
        }
        request_connects(now);
        return r;
    }

    /// How often the shell should call sweep().
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

    // ---- closing ----------------------------------------------------------------------------

    struct close_start {
        std::vector<slot_type*> idle;      ///< close these now
        std::vector<waiter_type*> failed;  ///< finished with shutting_down
        bool first{false};                 ///< false when already closing
    };

    close_start begin_close() {
        close_start r;
        if (closing_) return r;
        r.first = true;
        closing_ = true;
        pending_.clear();
        while (idle_count_ > 0) {
            auto* c = static_cast<slot_type*>(idle_.next);
            c->unlink();
            --idle_count_;
            ++closed_total_;
            r.idle.push_back(c);
        }
        while (waiter_count_ > 0)
            r.failed.push_back(fail_front(errc::shutting_down, "the pool is closing"));
        return r;
    }

    bool closing() const noexcept { return closing_; }

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

    // ---- fork -------------------------------------------------------------------------------

    /// In a forked child: forgets every connection without closing it. Returns the idle slots,
    /// whose connections the shell must leak (never close: the parent still uses the sockets).
    /// Leased slots are recognized by their generation when they come back.
    std::vector<slot_type*> abandon() {
        std::vector<slot_type*> idle;
        while (idle_count_ > 0) {
            auto* c = static_cast<slot_type*>(idle_.next);
            c->unlink();
            --idle_count_;
            idle.push_back(c);
        }
        while (leased_.linked()) leased_.next->unlink();
        while (waiters_.linked()) waiters_.next->unlink();  // their threads do not exist here
        waiter_count_ = 0;
        in_use_ = 0;
        in_flight_ = 0;
        trial_started_ = false;
        pending_.clear();
        return idle;
    }

    // ---- observing --------------------------------------------------------------------------

    std::size_t idle() const noexcept { return idle_count_; }
    std::size_t in_use() const noexcept { return in_use_; }
    std::size_t connecting() const noexcept { return pending_.size() + in_flight_; }
    std::size_t in_flight() const noexcept { return in_flight_; }
    std::size_t waiters() const noexcept { return waiter_count_; }
    std::size_t open() const noexcept { return idle_count_ + in_use_; }
    std::size_t total() const noexcept { return open() + connecting(); }
    const std::string& last_connect_error() const noexcept { return last_connect_error_; }

    breaker_state breaker(time_point now) {
        update_breaker(now);
        return breaker_;
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

private:
    struct pending_connect {
        time_point not_before;
        unsigned attempt;
    };

    /// Connections wanted (open + connecting): enough for every waiter, and min_idle.
    std::size_t demand() const noexcept {
        const std::size_t for_min_idle = s_.pool.min_idle > open() ? s_.pool.min_idle - open() : 0;
        return std::max(for_min_idle, waiter_count_);
    }

    void request_connects(time_point now) {
        if (closing_) return;
        update_breaker(now);
        if (breaker_ == breaker_state::open) return;
        const std::size_t want = demand();
        while (connecting() < want && total() < s_.pool.max_size) {
            if (breaker_ == breaker_state::half_open && connecting() >= 1) break;
            pending_.push_back({now, 1});
        }
    }

    void update_breaker(time_point now) noexcept {
        if (breaker_ == breaker_state::open && now >= open_until_) {
            breaker_ = breaker_state::half_open;
            trial_started_ = false;
        }
    }

    void lend(slot_type* c, time_point now) {
        c->insert_before(&leased_);
        c->leased_at = now;
        c->leak_warned = false;
        ++in_use_;
        ++acquired_total_;
    }

    void park(slot_type* c) {
        c->insert_before(&idle_);
        ++idle_count_;
    }

    waiter_type* hand_to_waiter(slot_type* c, time_point now) {
        if (waiter_count_ == 0) return nullptr;
        auto* w = static_cast<waiter_type*>(waiters_.next);
        w->unlink();
        --waiter_count_;
        lend(c, now);
        c->holder = w->holder;
        record_wait(now - w->enqueued);
        w->result = c;
        w->done = true;
        return w;
    }

    waiter_type* fail_front(boost::system::error_code ec, std::string message) {
        auto* w = static_cast<waiter_type*>(waiters_.next);
        w->unlink();
        --waiter_count_;
        w->error = ec;
        w->message = std::move(message);
        w->done = true;
        return w;
    }

    void record_wait(duration waited) noexcept { wait_hist_.record(waited); }

    time_point expiry(time_point created) {
        const auto life = s_.pool.max_lifetime;
        if (life.count() <= 0) return time_point::max();
        // Up to 10% less, so connections made together do not all expire together.
        std::uniform_int_distribution<std::int64_t> d(0, life.count() / 10);
        return created +
               std::chrono::duration_cast<duration>(life - std::chrono::milliseconds{d(rng_)});
    }

    duration backoff(unsigned attempt) {
        // Full jitter: uniform in [0, min(max_delay, base * 2^(attempt-1))].
        const auto base = s_.retry.base_delay.count();
        const auto cap = s_.retry.max_delay.count();
        std::int64_t ceiling = base;
        for (unsigned i = 1; i < attempt && ceiling < cap; ++i) ceiling *= 2;
        ceiling = std::min<std::int64_t>(ceiling, cap);
        if (ceiling <= 0) return duration::zero();
        std::uniform_int_distribution<std::int64_t> d(0, ceiling);
        return std::chrono::duration_cast<duration>(std::chrono::milliseconds{d(rng_)});
    }

    settings s_;
    std::minstd_rand rng_;
    list_node idle_;     // slots, least recently used first
    list_node leased_;   // slots
    list_node waiters_;  // FIFO
    std::size_t idle_count_{0};
    std::size_t in_use_{0};
    std::size_t waiter_count_{0};
    std::size_t in_flight_{0};
    std::deque<pending_connect> pending_;
    bool closing_{false};
    breaker_state breaker_{breaker_state::closed};
    bool trial_started_{false};
    time_point open_until_{};
    unsigned consecutive_failures_{0};
    std::string last_connect_error_;
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
