#pragma once
/// Where connmgr's log lines go: the pools' warnings (a possible connection leak, utilization
/// above 80%, a database unhealthy again), the manager's notes. Standard error by default
/// (`connmgr warn: ...`); a program routes them to its own logger with set_log_handler().
///
/// ```cpp
/// connmgr::set_log_handler([](connmgr::log_level level, std::string_view message) {
///     spdlog::log(level >= connmgr::log_level::warn ? spdlog::level::warn : spdlog::level::info,
///                 "connmgr: {}", message);
/// });
/// connmgr::set_log_level(connmgr::log_level::warn);   // or runtime.log_level in the config
/// ```
///
/// Messages never contain a password (URLs are redacted).
///
/// \par Thread safety
/// Every function here is safe to call from any thread. The handler is called from whichever
/// thread logs (a pool's background thread, the manager's I/O threads, a thread returning a
/// lease), one call at a time: calls are serialized, so the handler needs no lock of its own,
/// and it must not block for long (a pool's thread waits for it). Once set_log_handler()
/// returns, the previous handler is not running and is never called again, so it may capture
/// references to objects about to be destroyed. A handler may call set_log_handler() (it takes
/// effect for the next message); a message logged from inside the handler (by a connmgr call
/// it makes) goes to standard error instead of recursing into the handler. An exception thrown
/// by the handler is swallowed: logging never takes a pool down.

#include <functional>
#include <optional>
#include <string_view>

namespace connmgr {

enum class log_level { trace, debug, info, warn, error };

/// "trace", "debug", "info", "warn", "error".
const char* to_string(log_level level) noexcept;

/// The level named `text` (as to_string() spells it), or nullopt.
std::optional<log_level> parse_log_level(std::string_view text) noexcept;

/// Receives each message at or above the current level: the level and the message, without
/// a trailing newline. The string_view is valid during the call only.
using log_handler = std::function<void(log_level, std::string_view)>;

/// Replaces the handler; an empty function restores the default (standard error). Returns the
/// previous handler (empty when it was the default).
log_handler set_log_handler(log_handler handler);

/// Messages below `level` are dropped before any handler sees them. The default is info;
/// manager::configure() sets it from `runtime.log_level`.
void set_log_level(log_level level) noexcept;

/// The current level.
log_level current_log_level() noexcept;

}  // namespace connmgr
