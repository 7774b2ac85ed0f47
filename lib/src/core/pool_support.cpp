#include <connmgr/detail/fork_guard.hpp>
#include <connmgr/detail/log.hpp>
#include <connmgr/pool_stats.hpp>

#include <pthread.h>

#include <atomic>
#include <cstdio>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>

namespace connmgr {

const char* to_string(breaker_state s) noexcept {
    switch (s) {
        case breaker_state::closed: return "closed";
        case breaker_state::open: return "open";
        case breaker_state::half_open: return "half_open";
    }
    return "unknown";
}

const char* to_string(flavour f) noexcept {
    switch (f) {
        case flavour::sync: return "sync";
        case flavour::async: return "async";
    }
    return "unknown";
}

namespace detail {

std::atomic<std::uint64_t> fork_generation_counter{0};

namespace {
void on_fork_child() { fork_generation_counter.fetch_add(1, std::memory_order_relaxed); }
}  // namespace

void register_fork_handler() noexcept {
    static std::once_flag once;
    std::call_once(once, [] { ::pthread_atfork(nullptr, nullptr, &on_fork_child); });
}

// The log hook (connmgr/log.hpp). The mutex is held while the handler runs: calls are
// serialized, and set_log_handler() waits for a call in progress, so a replaced handler never
// runs again once it returns. A thread inside the handler is marked, so that a message the
// handler itself causes goes to stderr (no deadlock, no recursion) and a set_log_handler()
// from inside it does not lock again.
namespace {

std::mutex handler_mutex;
std::shared_ptr<const log_handler>& current_handler() {  // guarded by handler_mutex
    static std::shared_ptr<const log_handler> handler;
    return handler;
}
std::atomic<log_level> minimum_level{log_level::info};
thread_local bool inside_handler = false;

void to_stderr(log_level level, std::string_view message) noexcept {
    std::fprintf(stderr, "connmgr %s: %.*s\n", to_string(level), static_cast<int>(message.size()),
                 message.data());
}

}  // namespace

void log(log_level level, std::string_view message) noexcept {
    if (level < minimum_level.load(std::memory_order_relaxed)) return;
    if (inside_handler) {
        to_stderr(level, message);
        return;
    }
    try {
        std::lock_guard lock(handler_mutex);
        const std::shared_ptr<const log_handler> handler = current_handler();  // may replace itself
        if (!handler) {
            to_stderr(level, message);
            return;
        }
        inside_handler = true;
        try {
            (*handler)(level, message);
        } catch (...) {  // logging must never take a pool down
        }
        inside_handler = false;
    } catch (...) {
        inside_handler = false;
    }
}

}  // namespace detail

const char* to_string(log_level level) noexcept {
    switch (level) {
        case log_level::trace: return "trace";
        case log_level::debug: return "debug";
        case log_level::info: return "info";
        case log_level::warn: return "warn";
        case log_level::error: return "error";
    }
    return "unknown";
}

std::optional<log_level> parse_log_level(std::string_view text) noexcept {
    for (const log_level l :
         {log_level::trace, log_level::debug, log_level::info, log_level::warn, log_level::error})
        if (text == to_string(l)) return l;
    return std::nullopt;
}

log_handler set_log_handler(log_handler handler) {
    auto next = handler ? std::make_shared<const log_handler>(std::move(handler)) : nullptr;
    std::unique_lock lock(detail::handler_mutex, std::defer_lock);
    if (!detail::inside_handler) lock.lock();  // inside the handler, this thread holds it
    const auto previous = std::exchange(detail::current_handler(), std::move(next));
    if (lock.owns_lock()) lock.unlock();
    return previous ? *previous : log_handler{};
}

void set_log_level(log_level level) noexcept {
    detail::minimum_level.store(level, std::memory_order_relaxed);
}

log_level current_log_level() noexcept {
    return detail::minimum_level.load(std::memory_order_relaxed);
}

}  // namespace connmgr
