#include "sync_watchdog.hpp"

#include "tcp_counters.hpp"

#include <boost/asio/executor_work_guard.hpp>

#include <fcntl.h>
#include <libpq-events.h>
#include <sys/socket.h>
#include <unistd.h>

#include <utility>

namespace connmgr::pg::detail {

namespace {

constexpr std::chrono::milliseconds tick{25};

// libpq calls this in the thread that uses the connection; an answer has just arrived.
int on_libpq_event(PGEventId id, void* event, void* pass_through) {
    auto* holder = static_cast<std::shared_ptr<watch_answers>*>(pass_through);
    switch (id) {
        case PGEVT_RESULTCREATE: {
            auto* e = static_cast<PGEventResultCreate*>(event);
            const auto view = read_tcp_counters(PQsocket(e->conn));
            if (view.ok) (*holder)->sent_by_last_answer = view.bytes_sent;
            break;
        }
        case PGEVT_CONNDESTROY:
            // PQfinish, with or without the driver's close(): the duplicate must not keep the
            // socket (and the server's session) open.
            sync_watchdog::instance().forget((*holder)->key);
            delete holder;
            break;
        default: break;
    }
    return 1;
}

}  // namespace

sync_watchdog& sync_watchdog::instance() {
    static std::mutex guard;
    static sync_watchdog* current = nullptr;
    static pid_t owner = 0;
    std::lock_guard lock(guard);
    // After fork() the parent's watchdog thread does not exist here: start another and leave
    // the parent's object alone (its sockets are the parent's).
    if (current == nullptr || owner != ::getpid()) {
        current = new sync_watchdog();
        owner = ::getpid();
    }
    return *current;
}

sync_watchdog::sync_watchdog() {
    arm();
    thread_ = std::thread([this] {
        auto work = boost::asio::make_work_guard(io_);
        io_.run();
    });
    thread_.detach();  // lives as long as the process: see the destructor
}

bool sync_watchdog::watch(const void* key, PGconn* conn, const cancel_target& target,
                          std::chrono::milliseconds query_timeout, std::string what,
                          bool statement_timeout) {
    const int fd = PQsocket(conn);
    const auto view = fd >= 0 ? read_tcp_counters(fd) : tcp_counters{};
    if (!view.ok || query_timeout.count() <= 0) return false;
    auto seen = std::make_shared<watch_answers>();
    seen->sent_by_last_answer = view.bytes_sent;
    seen->key = key;
    // Deleted by libpq's CONNDESTROY event (PQfinish), whenever that comes.
    auto* holder = new std::shared_ptr<watch_answers>(seen);
    if (PQregisterEventProc(conn, on_libpq_event, "connmgr-watchdog", holder) == 0) {
        delete holder;
        return false;
    }
    const int mine = ::fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (mine < 0) return false;
    std::lock_guard lock(mutex_);
    auto [it, inserted] = entries_.try_emplace(key);
    if (!inserted && it->second.fd >= 0) ::close(it->second.fd);
    it->second =
        entry{mine,  std::move(seen), target,          query_timeout,     {},
              false, cut_short::none, std::move(what), statement_timeout, ++next_generation_};
    return true;
}

void sync_watchdog::forget(const void* key) noexcept {
    std::unique_lock lock(mutex_);
    settle_locked(lock, key);
    auto it = entries_.find(key);
    if (it == entries_.end()) return;
    ::close(it->second.fd);
    entries_.erase(it);
}

std::optional<watch_verdict> sync_watchdog::take(const void* key) {
    std::unique_lock lock(mutex_);
    settle_locked(lock, key);
    auto it = entries_.find(key);
    if (it == entries_.end()) return std::nullopt;
    auto& e = it->second;
    return watch_verdict{std::exchange(e.cut, cut_short::none), e.what, e.timeout,
                         e.statement_timeout};
}

void sync_watchdog::begin(const void* key) noexcept {
    std::unique_lock lock(mutex_);
    settle_locked(lock, key);
    auto it = entries_.find(key);
    if (it != entries_.end()) it->second.cut = cut_short::none;
}

bool sync_watchdog::timed_out(const void* key) const noexcept {
    std::lock_guard lock(mutex_);
    auto it = entries_.find(key);
    return it != entries_.end() && it->second.fired;
}

void sync_watchdog::settle(const void* key) noexcept {
    std::unique_lock lock(mutex_);
    settle_locked(lock, key);
}

void sync_watchdog::settle_locked(std::unique_lock<std::mutex>& lock, const void* key) noexcept {
    // Every request passes here (begin, take, reset): with no cancel anywhere, nothing to look up.
    if (cancels_in_flight_ == 0) return;
    // async_cancel completes by its deadline (cancel_grace); the margin covers a busy thread.
    const auto until = std::chrono::steady_clock::now() + cancel_grace + tick;
    settled_.wait_until(lock, until, [&] {
        auto it = entries_.find(key);
        return it == entries_.end() || !it->second.cancel_in_flight;
    });
}

std::size_t sync_watchdog::cancels_in_flight() const noexcept {
    std::lock_guard lock(mutex_);
    return cancels_in_flight_;
}

void sync_watchdog::arm() {
    timer_.expires_after(tick);
    timer_.async_wait([this](boost::system::error_code ec) {
        if (ec) return;
        check();
        arm();
    });
}

void sync_watchdog::check() {
    const auto now = std::chrono::steady_clock::now();
    std::lock_guard lock(mutex_);
    for (auto& [key, e] : entries_) {
        if (e.fired) continue;
        const auto v = read_tcp_counters(e.fd);
        // Outstanding: bytes went out after the last answer arrived.
        if (!v.ok || v.bytes_sent <= e.seen->sent_by_last_answer.load()) {
            e.cancelled_at = {};
            continue;
        }
        if (e.cancelled_at == steady_time{}) {
            if (v.since_sent < e.timeout) continue;
            e.cancelled_at = now;
            e.cut = cut_short::cancelled;
            e.cancel_in_flight = true;
            ++cancels_in_flight_;
            async_cancel(io_.get_executor(), e.target, now + cancel_grace,
                         [this, key = key, generation = e.generation](bool) {
                             std::lock_guard done(mutex_);
                             --cancels_in_flight_;
                             auto it = entries_.find(key);
                             if (it != entries_.end() && it->second.generation == generation)
                                 it->second.cancel_in_flight = false;
                             settled_.notify_all();
                         });
            continue;
        }
        if (now - e.cancelled_at < cancel_grace) continue;
        // Nothing in cancel_grace after the cancel: the server is gone or frozen. Shutting the
        // socket down wakes the libpq call blocked on it; the connection is then broken.
        e.fired = true;
        e.cut = cut_short::closed;
        ::shutdown(e.fd, SHUT_RDWR);
    }
}

}  // namespace connmgr::pg::detail
