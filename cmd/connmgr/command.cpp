#include "command.hpp"

#include <connmgr/error.hpp>

#include <algorithm>

namespace connmgr::cli {
namespace {

std::vector<command_info>& registry() {
    static std::vector<command_info> all;
    return all;
}

}  // namespace

const std::vector<command_info>& commands() { return registry(); }

command_registrar::command_registrar(const command_info& info) {
    auto& all = registry();
    all.insert(std::upper_bound(
                   all.begin(), all.end(), info,
                   [](const command_info& a, const command_info& b) { return a.name < b.name; }),
               info);
}

loaded_config load(const global_options& globals) {
    loaded_config loaded = load_config_with_origins(globals.config_files, current_environment());
    if (globals.log_level) {
        loaded.config.runtime.log_level = *globals.log_level;
        loaded.origins["runtime.log_level"] = "--log-level";
    }
    return loaded;
}

std::string error_text(const std::exception& e) {
    std::string text = e.what();
    if (const auto* err = dynamic_cast<const boost::system::system_error*>(&e)) {
        const auto suffix = text.rfind(": " + err->code().message());
        if (suffix != std::string::npos) text.resize(suffix);
    }
    return text;
}

}  // namespace connmgr::cli
