#pragma once
/// The one logging hook of the pools: stderr by default; the manager may route it elsewhere.
///
/// \par Thread safety
/// log() and set_log_sink() are safe from any thread; the sink is called concurrently.

#include <functional>
#include <string_view>

namespace connmgr::detail {

enum class log_level { trace, debug, info, warn, error };

/// "trace", "debug", "info", "warn", "error".
const char* to_string(log_level level) noexcept;

using log_sink = std::function<void(log_level, std::string_view)>;

/// Replaces the sink (an empty function restores stderr). Returns the previous one.
log_sink set_log_sink(log_sink sink);

/// Never throws.
void log(log_level level, std::string_view message) noexcept;

}  // namespace connmgr::detail
