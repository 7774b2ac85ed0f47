#pragma once
/// Loading the layered YAML configuration of DESIGN §4.
///
/// Files are deep-merged in order (maps key by key; scalars and lists replace), then
/// `CONNMGR_<PATH>` environment variables override single keys of the merged tree (path
/// segments joined by `__`, case-insensitive). Only variables whose first segment is
/// `DEFAULTS`, `BACKENDS`, `DATABASES` or `RUNTIME` are overrides; others (`CONNMGR_CONFIG`,
/// `CONNMGR_TEST_PG_URL`, ...) are left alone, so they can be used by `${VAR}` interpolation.
/// Then, per database and flavour, every value is taken from the highest layer that sets it:
/// built-in defaults < `defaults:` < `backends.<kind>:` < `databases.<name>:` <
/// `databases.<name>.pool.sync:` / `.pool.async:`.
///
/// \par Thread safety
/// The functions are reentrant; they read the files and the given environment map only.

#include <connmgr/config.hpp>

#include <functional>
#include <map>
#include <string>
#include <vector>

namespace connmgr {

/// Environment variables by name.
using env_map = std::map<std::string, std::string, std::less<>>;

/// A copy of this process's environment.
env_map current_environment();

/// Where each resolved value came from, by resolved key path.
///
/// Keys are the paths of `connmgr config --json`: `defaults.pool.max_size`,
/// `defaults.pool.keepalive.idle`, `defaults.retry.attempts`, `defaults.drain_timeout`,
/// `databases.<name>.url`, `databases.<name>.pool.sync.max_size`,
/// `databases.<name>.pool.async.keepalive.count`, `databases.<name>.retry.base_delay`,
/// `databases.<name>.circuit_breaker.open_for`, `databases.<name>.drain_timeout`,
/// `databases.<name>.close_when_unreferenced`, `databases.<name>.pgbouncer`,
/// `runtime.io_threads`, `runtime.telemetry.listen`, `runtime.log_level`.
/// Values: `"file.yaml:12"` (the file as named by the caller, and the line), `"env:CONNMGR_..."`
/// or `"default"` (built in).
using config_origins = std::map<std::string, std::string, std::less<>>;

/// The resolved `defaults:` section (built-in defaults overlaid with `defaults:`).
///
/// \par Thread safety
/// A plain value: copy freely; concurrent reads are safe.
struct default_options {
    pool_options pool{};
    retry_options retry{};
    breaker_options circuit_breaker{};
    milliseconds drain_timeout{30'000};
};

/// Everything `load_config_with_origins` resolves: the configuration, the resolved
/// defaults and the origin of each value.
///
/// \par Thread safety
/// A plain value: copy freely; concurrent reads are safe.
struct loaded_config {
    manager_config config;
    default_options defaults;
    config_origins origins;
    std::vector<std::string> files;  ///< the files read, in order
};

/// Reads `files` in order; when `files` is empty, the `:`-separated list in
/// `env["CONNMGR_CONFIG"]`; when both are empty, only built-in defaults and environment
/// overrides apply. Throws config_error ("file:line:column: key.path: problem") on any
/// error; messages never contain a password.
loaded_config load_config_with_origins(const std::vector<std::string>& files = {},
                                       const env_map& env = current_environment());

/// `load_config_with_origins({name}, env)` for one file whose contents are `yaml` (a
/// configuration that does not live in a file); `name` stands for the file in error messages
/// and origins.
loaded_config load_config_from_string(const std::string& yaml, const std::string& name,
                                      const env_map& env = current_environment());

/// `load_config_with_origins(files, env).config`.
manager_config load_config(const std::vector<std::string>& files = {},
                           const env_map& env = current_environment());

/// Parses `250ms`, `30s`, `5m`, `1h`, or a bare number of seconds (`30`, `2.5`).
/// Throws config_error (invalid_config) naming the text when it is not a duration.
milliseconds parse_duration(std::string_view text);

}  // namespace connmgr
