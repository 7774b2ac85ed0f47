#include <connmgr/detail/fork_guard.hpp>
#include <connmgr/detail/log.hpp>
#include <connmgr/pool_stats.hpp>

#include <pthread.h>

#include <cstdio>
#include <mutex>
#include <string>

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

namespace {
std::mutex sink_mutex;
log_sink& current_sink() {
    static log_sink sink;
    return sink;
}
}  // namespace

log_sink set_log_sink(log_sink sink) {
    std::lock_guard lock(sink_mutex);
    log_sink previous = std::move(current_sink());
    current_sink() = std::move(sink);
    return previous;
}

void log(log_level level, std::string_view message) noexcept {
    try {
        std::lock_guard lock(sink_mutex);
        if (current_sink()) {
            current_sink()(level, message);
            return;
        }
        std::fprintf(stderr, "connmgr %s: %.*s\n", to_string(level),
                     static_cast<int>(message.size()), message.data());
    } catch (...) {  // logging must never take a pool down
    }
}

}  // namespace detail
}  // namespace connmgr
