// Fuzz target: the configuration loader fed YAML text. Only config_error may escape; every
// error names the file (or the environment variable); a loaded configuration says where each value
// came from and never puts a database's password into what it shows.

#include "fuzz_check.hpp"

#include <connmgr/config_loader.hpp>
#include <connmgr/error.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace {

constexpr std::string_view file_name = "fuzz.yaml";

bool starts_with_file(std::string_view text) {
    return text.substr(0, file_name.size() + 1) == std::string(file_name) + ":";
}

// Fixed, so runs are reproducible; gives `${VAR}` and overrides something to work with.
const connmgr::env_map& environment() {
    static const connmgr::env_map env{
        {"HOST", "db.example"},
        {"SECRET", "s3cret"},
        {"CONNMGR_DEFAULTS__POOL__MAX_SIZE", "4"},
    };
    return env;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string text(reinterpret_cast<const char*>(data), size);
    connmgr::loaded_config loaded;
    try {
        loaded = connmgr::load_config_from_string(text, std::string(file_name), environment());
    } catch (const connmgr::config_error& e) {
        const std::string_view what = e.what();
        FUZZ_CHECK(starts_with_file(what) || what.substr(0, 4) == "env:", what);
        return 0;
    }
    FUZZ_CHECK(loaded.files.size() == 1 && loaded.files[0] == file_name, text);
    for (const auto& [key, origin] : loaded.origins) {
        const bool known = origin == "default" || starts_with_file(origin) ||
                           origin == "env:CONNMGR_DEFAULTS__POOL__MAX_SIZE";
        FUZZ_CHECK(known, key + " = " + origin);
    }
    for (const auto& [name, db] : loaded.config.databases) {
        FUZZ_CHECK(loaded.origins.count("databases." + name + ".url") == 1, name);
        FUZZ_CHECK(db.sync_pool.max_size >= 1 && db.async_pool.max_size >= 1, name);
        FUZZ_CHECK(db.sync_pool.min_idle <= db.sync_pool.max_size, name);
        FUZZ_CHECK(db.async_pool.min_idle <= db.async_pool.max_size, name);
    }
    return 0;
}
