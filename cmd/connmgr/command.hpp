#pragma once
// The CLI framework: each command lives in its own cmd_<name>.cpp and registers itself with
// CONNMGR_COMMAND; main.cpp parses the global options and dispatches.

#include <connmgr/config_loader.hpp>
#include <connmgr/log.hpp>

#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace connmgr::cli {

inline constexpr int exit_ok = 0;       ///< success
inline constexpr int exit_failure = 1;  ///< a database unhealthy, or a run with errors
inline constexpr int exit_usage = 2;    ///< usage or configuration error

/// Options given before the command name.
struct global_options {
    std::vector<std::string> config_files;  ///< --config, in order; empty = CONNMGR_CONFIG
    /// --log-level; when given, it overrides `runtime.log_level` (load() sets it there).
    std::optional<connmgr::log_level> log_level;
};

/// Thrown by commands for bad arguments: main prints it with the command's usage, exits 2.
class usage_error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

/// Thrown by a command's parser for `--help` or `-h` where an option may stand: main prints
/// the command's help on stdout and exits 0.
class help_requested : public std::exception {
public:
    const char* what() const noexcept override { return "help requested"; }
};

/// True for "--help" and "-h".
inline bool is_help(std::string_view arg) noexcept { return arg == "--help" || arg == "-h"; }

using command_fn = int (*)(const global_options& globals, const std::vector<std::string>& args);

struct command_info {
    std::string_view name;
    std::string_view synopsis;  ///< arguments after the name, e.g. "[--show-origin] [--json]"
    std::string_view summary;   ///< one line for `connmgr --help`
    std::string_view options;   ///< `connmgr <name> --help`: one option a line, indented
    command_fn run;
};

/// Every registered command, sorted by name.
const std::vector<command_info>& commands();

struct command_registrar {
    explicit command_registrar(const command_info& info);
};

/// Loads the configuration the way every command does (--config files, else CONNMGR_CONFIG,
/// then CONNMGR_* overrides; --log-level over `runtime.log_level`, origin "--log-level").
/// Throws config_error.
loaded_config load(const global_options& globals);

/// The message of an exception without the error category suffix boost adds to what().
std::string error_text(const std::exception& e);

}  // namespace connmgr::cli

/// Registers `run` as `connmgr <name>`; use once per cmd_<name>.cpp at namespace scope.
#define CONNMGR_COMMAND(name, synopsis, summary, options, run)                        \
    static const ::connmgr::cli::command_registrar connmgr_command_registrar_##name { \
        ::connmgr::cli::command_info { #name, synopsis, summary, options, run }       \
    }
