// connmgr [--config FILE]... [--log-level LEVEL] COMMAND [ARGS...]
#include "command.hpp"

#include <connmgr/error.hpp>

#include <iostream>

namespace {

using namespace connmgr::cli;

void print_usage(std::ostream& out) {
    out << "usage: connmgr [--config FILE]... [--log-level trace|debug|info|warn|error] "
           "COMMAND [ARGS]\n\n"
           "  --config FILE      configuration file; repeat to layer (later wins);\n"
           "                     default: the ':'-separated list in CONNMGR_CONFIG\n"
           "  --log-level LEVEL  trace, debug, info, warn or error: the library's messages on\n"
           "                     stderr below LEVEL are dropped (default: runtime.log_level,\n"
           "                     info); error silences the pools' warnings\n\n"
           "commands:\n";
    for (const auto& c : commands())
        out << "  " << c.name << " " << c.synopsis << "\n      " << c.summary << "\n";
    out << "\n'connmgr COMMAND --help' describes a command's options.\n"
           "exit codes: 0 success; 1 a database unhealthy or a run with errors; 2 usage or "
           "configuration error\n";
}

void print_command_help(std::ostream& out, const command_info& c) {
    out << "usage: connmgr [--config FILE]... [--log-level LEVEL] " << c.name << " " << c.synopsis
        << "\n\n"
        << c.summary << "\n\n"
        << "options:\n"
        << c.options << "  -h, --help           this help\n\n"
        << "'connmgr --help' describes --config and --log-level.\n";
}

bool is_option(const std::string& arg, std::string_view name) {
    return arg == name || (arg.size() > name.size() && arg.compare(0, name.size(), name) == 0 &&
                           arg[name.size()] == '=');
}

}  // namespace

int main(int argc, char** argv) {
    global_options globals;
    int i = 1;
    auto value_of = [&](std::string_view option, std::string& arg) -> std::string {
        // Accepts both "--option VALUE" and "--option=VALUE".
        if (arg.size() > option.size() && arg[option.size()] == '=')
            return arg.substr(option.size() + 1);
        if (i + 1 >= argc) throw usage_error(std::string(option) + " needs a value");
        return argv[++i];
    };
    try {
        for (; i < argc; ++i) {
            std::string arg = argv[i];
            if (arg == "-h" || arg == "--help") {
                print_usage(std::cout);
                return exit_ok;
            }
            if (arg == "-c" || is_option(arg, "--config")) {
                globals.config_files.push_back(value_of(arg == "-c" ? "-c" : "--config", arg));
            } else if (is_option(arg, "--log-level")) {
                globals.log_level = connmgr::parse_log_level(value_of("--log-level", arg));
                if (!globals.log_level)
                    throw usage_error("--log-level must be trace, debug, info, warn or error");
                // At once, for what is logged before a command configures its manager (which
                // sets it again from the configuration, where load() has put it).
                connmgr::set_log_level(*globals.log_level);
            } else if (!arg.empty() && arg[0] == '-') {
                throw usage_error("unknown option '" + arg + "'");
            } else {
                break;
            }
        }
        if (i >= argc) throw usage_error("missing COMMAND");
        const std::string name = argv[i];
        for (const auto& c : commands()) {
            if (c.name != name) continue;
            try {
                return c.run(globals, std::vector<std::string>(argv + i + 1, argv + argc));
            } catch (const help_requested&) {
                print_command_help(std::cout, c);
                return exit_ok;
            } catch (const usage_error& e) {
                std::cerr << "connmgr " << name << ": " << e.what() << "\nusage: connmgr " << name
                          << " " << c.synopsis << "\n(connmgr " << name
                          << " --help lists the options)\n";
                return exit_usage;
            }
        }
        throw usage_error("unknown command '" + name + "'");
    } catch (const usage_error& e) {
        std::cerr << "connmgr: " << e.what() << "\n";
        print_usage(std::cerr);
        return exit_usage;
    } catch (const connmgr::config_error& e) {
        std::cerr << "connmgr: " << error_text(e) << "\n";
        return exit_usage;
    } catch (const std::exception& e) {
        std::cerr << "connmgr: " << error_text(e) << "\n";
        return exit_failure;
    }
}
