#pragma once
// Internals of the configuration loader, shared with its unit tests.

#include <connmgr/config.hpp>
#include <connmgr/config_loader.hpp>

#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace connmgr::detail {

/// What is wrong with a pool_options: the field (dotted, relative to the pool) and why.
struct pool_problem {
    std::string field;
    std::string message;
};
std::optional<pool_problem> check_pool(const pool_options& options);

struct config_entry;

/// One node of the merged configuration tree, remembering where it was set.
struct config_node {
    enum class kind { null, scalar, map, seq };
    kind type{kind::null};
    std::string value;                  ///< scalar
    std::vector<config_entry> entries;  ///< map, in file order
    std::vector<config_node> items;     ///< sequence
    std::string source;                 ///< the file as named, or "env:NAME"
    int line{0};                        ///< 1-based; 0 for the environment
    int column{0};
    std::string path;  ///< dotted key path from the root ("databases.app.pool.max_size")

    const config_node* child(std::string_view key) const;
    config_node* child(std::string_view key);
    /// "file:line:column" or "env:NAME": where errors point.
    std::string where() const;
    /// "file:line" or "env:NAME": what `--show-origin` prints.
    std::string origin() const;
};

/// One key of a map node.
struct config_entry {
    std::string key;
    config_node value;
};

/// Reads, interpolates and deep-merges `files`, then applies the CONNMGR_* overrides of
/// `env`. Does not check the schema.
config_node load_tree(const std::vector<std::string>& files, const env_map& env);

/// `load_tree` for one file whose contents are `text`; `name` stands for the file.
config_node load_text_tree(const std::string& name, const std::string& text, const env_map& env);

/// Interpolates `${VAR}` / `${VAR:-default}` in `text`; errors name `where` and `path`.
std::string interpolate(std::string_view text, const env_map& env, const std::string& where,
                        const std::string& path);

/// Levenshtein distance, for "did you mean".
std::size_t edit_distance(std::string_view a, std::string_view b);

}  // namespace connmgr::detail
