#pragma once
/// The pools' side of the log hook: detail::log() is what library code calls. The handler,
/// the level and their thread safety are public: connmgr/log.hpp. set_log_sink() and
/// log_sink are the older names of set_log_handler() and log_handler.

#include <connmgr/log.hpp>

#include <string_view>

namespace connmgr::detail {

using connmgr::log_level;
using connmgr::to_string;
using log_sink = log_handler;

/// set_log_handler().
inline log_sink set_log_sink(log_sink sink) { return set_log_handler(std::move(sink)); }

/// To the handler (standard error by default) when `level` is at or above the current level;
/// never throws.
void log(log_level level, std::string_view message) noexcept;

}  // namespace connmgr::detail
