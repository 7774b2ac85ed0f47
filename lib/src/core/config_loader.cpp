#include "config_detail.hpp"

#include <connmgr/config_loader.hpp>
#include <connmgr/error.hpp>
#include <connmgr/url.hpp>

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <fstream>
#include <functional>
#include <limits>
#include <sstream>

extern char** environ;

namespace connmgr {
namespace detail {

const config_node* config_node::child(std::string_view key) const {
    for (const auto& [k, v] : entries)
        if (k == key) return &v;
    return nullptr;
}

config_node* config_node::child(std::string_view key) {
    for (auto& [k, v] : entries)
        if (k == key) return &v;
    return nullptr;
}

std::string config_node::where() const {
    if (line == 0) return source;
    return source + ":" + std::to_string(line) + ":" + std::to_string(column);
}

std::string config_node::origin() const {
    if (line == 0) return source;
    return source + ":" + std::to_string(line);
}

std::size_t edit_distance(std::string_view a, std::string_view b) {
    std::vector<std::size_t> row(b.size() + 1);
    for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
    for (std::size_t i = 1; i <= a.size(); ++i) {
        std::size_t diagonal = row[0];
        row[0] = i;
        for (std::size_t j = 1; j <= b.size(); ++j) {
            const std::size_t up = row[j];
            row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] != b[j - 1])});
            diagonal = up;
        }
    }
    return row[b.size()];
}

namespace {

std::string lower(std::string_view s) {
    std::string out(s);
    std::transform(out.begin(), out.end(), out.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return out;
}

[[noreturn]] void fail_at(const config_node& node, const std::string& message) {
    std::string text = node.where();
    if (!node.path.empty()) text += ": " + node.path;
    throw config_error(text + ": " + message);
}

std::string join_path(const std::string& parent, std::string_view key) {
    return parent.empty() ? std::string(key) : parent + "." + std::string(key);
}

// The schema is a few levels deep and a configuration holds a few hundred values. A YAML
// alias inside its own anchor (`a: &x {b: *x}`) is infinitely deep, and aliases of aliases grow
// exponentially (`b: [*a, *a, ...]`, `c: [*b, *b, ...]`): both are errors, not a crash or a hang.
constexpr int max_depth = 32;
constexpr std::size_t max_values = 100'000;

struct convert_limits {
    int depth{0};
    std::size_t* values;
};

config_node convert(const YAML::Node& y, const YAML::Mark& mark, const std::string& file,
                    const std::string& path, const env_map& env, convert_limits limits) {
    config_node n;
    n.source = file;
    n.line = mark.line + 1;
    n.column = mark.column + 1;
    n.path = path;
    if (limits.depth > max_depth)
        fail_at(n, "nested deeper than " + std::to_string(max_depth) +
                       " levels (an alias that refers to its own anchor?)");
    if (++*limits.values > max_values)
        fail_at(n, "more than " + std::to_string(max_values) +
                       " values (aliases of aliases expanding?)");
    const convert_limits inner{limits.depth + 1, limits.values};
    switch (y.Type()) {
        case YAML::NodeType::Scalar:
            n.type = config_node::kind::scalar;
            n.value = interpolate(y.Scalar(), env, n.where(), path);
            break;
        case YAML::NodeType::Sequence:
            n.type = config_node::kind::seq;
            for (std::size_t i = 0; i < y.size(); ++i) {
                const YAML::Node item = y[i];
                n.items.push_back(convert(item, item.Mark(), file,
                                          path + "[" + std::to_string(i) + "]", env, inner));
            }
            break;
        case YAML::NodeType::Map:
            n.type = config_node::kind::map;
            for (auto it = y.begin(); it != y.end(); ++it) {
                const YAML::Node key = it->first;
                if (!key.IsScalar()) {
                    config_node k;
                    k.source = file;
                    k.line = key.Mark().line + 1;
                    k.column = key.Mark().column + 1;
                    k.path = path;
                    fail_at(k, "keys must be plain strings");
                }
                const std::string& name = key.Scalar();
                config_node value =
                    convert(it->second, key.Mark(), file, join_path(path, name), env, inner);
                if (auto* existing = n.child(name)) {
                    *existing = std::move(value);  // YAML says keys are unique; the last one wins
                } else {
                    n.entries.push_back(config_entry{name, std::move(value)});
                }
            }
            break;
        default: n.type = config_node::kind::null; break;
    }
    return n;
}

void merge(config_node& into, config_node&& from) {
    if (into.type == config_node::kind::map && from.type == config_node::kind::map) {
        for (auto& [key, value] : from.entries) {
            if (auto* existing = into.child(key)) {
                merge(*existing, std::move(value));
            } else {
                into.entries.push_back(config_entry{key, std::move(value)});
            }
        }
        return;
    }
    // An empty `key:` must not wipe a map an earlier file filled in.
    if (into.type == config_node::kind::map && from.type == config_node::kind::null) return;
    into = std::move(from);
}

config_node read_text(const std::string& file, const std::string& text, const env_map& env) {
    YAML::Node root;
    try {
        root = YAML::Load(text);
    } catch (const YAML::Exception& e) {
        throw config_error(file + ":" + std::to_string(e.mark.line + 1) + ":" +
                           std::to_string(e.mark.column + 1) + ": malformed YAML: " + e.msg);
    }
    YAML::Mark start;
    start.line = 0;
    start.column = 0;
    std::size_t values = 0;
    config_node n = convert(root, start, file, "", env, convert_limits{0, &values});
    if (n.type == config_node::kind::null) n.type = config_node::kind::map;
    if (n.type != config_node::kind::map)
        throw config_error(file +
                           ":1:1: the top level must be a map (defaults, backends, databases, "
                           "runtime)");
    return n;
}

config_node read_file(const std::string& file, const env_map& env) {
    std::ifstream in(file, std::ios::binary);
    if (!in) throw config_error(file + ": cannot open config file");
    std::ostringstream text;
    text << in.rdbuf();
    return read_text(file, text.str(), env);
}

const std::vector<std::string_view>& top_level_keys() {
    static const std::vector<std::string_view> keys{"defaults", "backends", "databases", "runtime"};
    return keys;
}

std::string suggestion(std::string_view key, const std::vector<std::string_view>& known) {
    std::string_view best;
    std::size_t best_distance = std::numeric_limits<std::size_t>::max();
    for (auto candidate : known) {
        auto d = edit_distance(lower(key), candidate);
        if (d < best_distance) {
            best_distance = d;
            best = candidate;
        }
    }
    if (!best.empty() && best_distance <= std::max<std::size_t>(2, key.size() / 3))
        return " (did you mean '" + std::string(best) + "'?)";
    std::string list;
    for (auto candidate : known) list += (list.empty() ? "" : ", ") + std::string(candidate);
    return " (known keys: " + list + ")";
}

void apply_env(config_node& root, const env_map& env) {
    for (const auto& [name, value] : env) {
        if (name.rfind("CONNMGR_", 0) != 0) continue;
        const std::string_view rest = std::string_view(name).substr(8);
        if (rest.find("__") == std::string_view::npos) continue;  // not an override
        std::vector<std::string> segments;
        std::size_t start = 0;
        while (true) {
            auto pos = rest.find("__", start);
            segments.push_back(lower(rest.substr(
                start, pos == std::string_view::npos ? std::string_view::npos : pos - start)));
            if (pos == std::string_view::npos) break;
            start = pos + 2;
        }
        config_node env_node;
        env_node.source = "env:" + name;
        for (const auto& s : segments)
            if (s.empty()) fail_at(env_node, "empty key segment in the variable name");
        const auto& top = top_level_keys();
        if (std::find(top.begin(), top.end(), segments[0]) == top.end())
            fail_at(env_node,
                    "unknown section '" + segments[0] + "'" + suggestion(segments[0], top));
        config_node* at = &root;
        std::string path;
        for (std::size_t i = 0; i < segments.size(); ++i) {
            if (at->type != config_node::kind::map) {
                at->type = config_node::kind::map;
                at->entries.clear();
            }
            config_node* next = nullptr;
            for (auto& [k, v] : at->entries)
                if (lower(k) == segments[i]) {
                    next = &v;
                    path = join_path(path, k);
                    break;
                }
            if (!next) {
                path = join_path(path, segments[i]);
                at->entries.push_back(config_entry{segments[i], config_node{}});
                next = &at->entries.back().value;
                next->source = env_node.source;
                next->path = path;
            }
            at = next;
        }
        at->type = config_node::kind::scalar;
        at->value = value;
        at->entries.clear();
        at->items.clear();
        at->source = env_node.source;
        at->line = at->column = 0;
        at->path = path;
    }
}

}  // namespace

std::string interpolate(std::string_view text, const env_map& env, const std::string& where,
                        const std::string& path) {
    auto fail = [&](const std::string& message) -> std::string {
        throw config_error(where + (path.empty() ? "" : ": " + path) + ": " + message);
    };
    std::string out;
    std::size_t i = 0;
    while (i < text.size()) {
        auto open = text.find("${", i);
        if (open == std::string_view::npos) {
            out.append(text.substr(i));
            break;
        }
        out.append(text.substr(i, open - i));
        auto close = text.find('}', open + 2);
        if (close == std::string_view::npos) return fail("unterminated '${' in a string value");
        const std::string_view inner = text.substr(open + 2, close - open - 2);
        const auto sep = inner.find(":-");
        const std::string_view name = inner.substr(0, sep);
        const bool valid = !name.empty() && !std::isdigit(static_cast<unsigned char>(name[0])) &&
                           std::all_of(name.begin(), name.end(), [](char c) {
                               return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
                           });
        if (!valid)
            return fail("invalid variable reference '${" + std::string(name) +
                        "...}' (expected ${NAME} or ${NAME:-default})");
        auto it = env.find(name);
        if (sep != std::string_view::npos) {
            if (it != env.end() && !it->second.empty()) {
                out += it->second;
            } else {
                out.append(inner.substr(sep + 2));
            }
        } else {
            if (it == env.end())
                return fail("environment variable '" + std::string(name) + "' is not set (use ${" +
                            std::string(name) + ":-default} for a fallback)");
            out += it->second;
        }
        i = close + 1;
    }
    return out;
}

config_node load_tree(const std::vector<std::string>& files, const env_map& env) {
    config_node root;
    root.type = config_node::kind::map;
    for (const auto& file : files) merge(root, read_file(file, env));
    apply_env(root, env);
    return root;
}

config_node load_text_tree(const std::string& name, const std::string& text, const env_map& env) {
    config_node root = read_text(name, text, env);
    apply_env(root, env);
    return root;
}

}  // namespace detail

// ---------------------------------------------------------------------------------------------
// Schema check and resolution.

namespace {

using detail::config_node;
using detail::fail_at;

enum class leaf { none, size, count, duration, boolean, url, listen, text };

struct schema {
    leaf type{leaf::none};  // none = a map
    std::vector<std::pair<std::string_view, const schema*>> children;
    const schema* any{nullptr};  // a map with free keys (database names)
};

const schema s_size{leaf::size, {}, nullptr};
const schema s_count{leaf::count, {}, nullptr};
const schema s_duration{leaf::duration, {}, nullptr};
const schema s_bool{leaf::boolean, {}, nullptr};
const schema s_url{leaf::url, {}, nullptr};
const schema s_listen{leaf::listen, {}, nullptr};
const schema s_text{leaf::text, {}, nullptr};

const schema s_keepalive{
    leaf::none, {{"idle", &s_duration}, {"interval", &s_duration}, {"count", &s_count}}, nullptr};

using schema_keys = std::vector<std::pair<std::string_view, const schema*>>;

schema_keys pool_keys() {
    return {{"min_idle", &s_size},
            {"max_size", &s_size},
            {"acquire_timeout", &s_duration},
            {"max_waiters", &s_size},
            {"connect_timeout", &s_duration},
            {"query_timeout", &s_duration},
            {"max_lifetime", &s_duration},
            {"idle_timeout", &s_duration},
            {"health_check_interval", &s_duration},
            {"leak_threshold", &s_duration},
            {"keepalive", &s_keepalive},
            {"reset_query", &s_text},
            {"statement_cache", &s_size}};
}

const schema s_pool{leaf::none, pool_keys(), nullptr};

// Only a database's pool has per-flavour sections.
schema_keys db_pool_keys() {
    auto keys = pool_keys();
    keys.emplace_back("sync", &s_pool);
    keys.emplace_back("async", &s_pool);
    return keys;
}
const schema s_db_pool{leaf::none, db_pool_keys(), nullptr};

const schema s_retry{
    leaf::none,
    {{"attempts", &s_count}, {"base_delay", &s_duration}, {"max_delay", &s_duration}},
    nullptr};
const schema s_breaker{
    leaf::none, {{"failure_threshold", &s_count}, {"open_for", &s_duration}}, nullptr};
const schema s_section{leaf::none,
                       {{"pool", &s_pool},
                        {"retry", &s_retry},
                        {"circuit_breaker", &s_breaker},
                        {"drain_timeout", &s_duration},
                        {"hosts_recheck_interval", &s_duration}},
                       nullptr};
const schema s_backends{leaf::none,
                        {{"postgres", &s_section}, {"redis", &s_section}, {"falkordb", &s_section}},
                        nullptr};
const schema s_database{leaf::none,
                        {{"url", &s_url},
                         {"read_url", &s_url},
                         {"close_when_unreferenced", &s_bool},
                         {"pgbouncer", &s_bool},
                         {"pool", &s_db_pool},
                         {"retry", &s_retry},
                         {"circuit_breaker", &s_breaker},
                         {"drain_timeout", &s_duration},
                         {"hosts_recheck_interval", &s_duration}},
                        nullptr};
const schema s_databases{leaf::none, {}, &s_database};
const schema s_telemetry{leaf::none, {{"listen", &s_listen}}, nullptr};
const schema s_runtime{
    leaf::none,
    {{"io_threads", &s_size}, {"telemetry", &s_telemetry}, {"log_level", &s_text}},
    nullptr};
const schema s_root{leaf::none,
                    {{"defaults", &s_section},
                     {"backends", &s_backends},
                     {"databases", &s_databases},
                     {"runtime", &s_runtime}},
                    nullptr};

std::string_view type_name(leaf t) {
    switch (t) {
        case leaf::size:
        case leaf::count: return "a non-negative integer";
        case leaf::duration: return "a duration (250ms, 30s, 5m, 1h)";
        case leaf::boolean: return "true or false";
        case leaf::url: return "a URL string";
        case leaf::listen: return "a HOST:PORT string";
        case leaf::text: return "a string";
        case leaf::none: return "a map";
    }
    return "a value";
}

// A scalar quoted for an error message, unless it may carry a secret (a URL with credentials
// in the wrong place): error messages never show a password.
std::string shown(const std::string& v) {
    if (v.find("://") != std::string::npos || v.find('@') != std::string::npos || v.size() > 64)
        return "a string (not shown)";
    return "'" + v + "'";
}

std::uint64_t to_unsigned(const config_node& n, std::uint64_t max) {
    const std::string& v = n.value;
    if (!v.empty() && v[0] == '-') fail_at(n, "must not be negative, got " + shown(v));
    std::uint64_t out = 0;
    auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), out);
    if (v.empty() || ec == std::errc::invalid_argument || end != v.data() + v.size())
        fail_at(n, "expected a non-negative integer, got " + shown(v));
    if (ec == std::errc::result_out_of_range || out > max)
        fail_at(n, "value " + shown(v) + " is too large");
    return out;
}

milliseconds to_duration(const config_node& n) {
    if (!n.value.empty() && n.value[0] == '-')
        fail_at(n, "must not be negative, got " + shown(n.value));
    milliseconds d{};
    try {
        d = parse_duration(n.value);
    } catch (const config_error&) {
        fail_at(n, "invalid duration " + shown(n.value) +
                       "' (expected e.g. 250ms, 30s, 5m, 1h, or a number of seconds)");
    }
    if (d > max_duration)
        fail_at(n,
                shown(n.value) + " is longer than the maximum of " + format_duration(max_duration));
    return d;
}

bool to_bool(const config_node& n) {
    const std::string& v = n.value;
    std::string l(v);
    std::transform(l.begin(), l.end(), l.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (l == "true" || l == "yes" || l == "on") return true;
    if (l == "false" || l == "no" || l == "off") return false;
    fail_at(n, "expected true or false, got " + shown(v));
}

std::string to_listen(const config_node& n) {
    if (n.value.empty()) return n.value;  // "" = off
    try {
        parse_listen_address(n.value);
    } catch (const config_error& e) {
        fail_at(n, e.what());
    }
    return n.value;
}

db_url to_url(const config_node& n) {
    try {
        return db_url::parse(n.value);
    } catch (const config_error& e) {
        // The URL error text is built without the password; keep only our own words.
        std::string what = e.what();
        const auto suffix = what.rfind(": invalid database URL");
        if (suffix != std::string::npos) what.resize(suffix);
        throw config_error(n.where() + ": " + n.path + ": " + what, errc::invalid_url);
    }
}

void check(const config_node& n, const schema& s) {
    if (s.type != leaf::none) {
        if (n.type != config_node::kind::scalar)
            fail_at(n, "expected " + std::string(type_name(s.type)) +
                           (n.type == config_node::kind::map   ? ", got a map"
                            : n.type == config_node::kind::seq ? ", got a list"
                                                               : ", got nothing"));
        switch (s.type) {
            case leaf::size: to_unsigned(n, std::numeric_limits<std::size_t>::max()); break;
            case leaf::count: to_unsigned(n, std::numeric_limits<unsigned>::max()); break;
            case leaf::duration: to_duration(n); break;
            case leaf::boolean: to_bool(n); break;
            case leaf::url: to_url(n); break;
            case leaf::listen: to_listen(n); break;
            case leaf::text:
            case leaf::none: break;
        }
        return;
    }
    if (n.type == config_node::kind::null) return;
    if (n.type != config_node::kind::map)
        fail_at(n, std::string("expected a map, got ") +
                       (n.type == config_node::kind::seq ? "a list" : shown(n.value)));
    for (const auto& [key, value] : n.entries) {
        const schema* child = s.any;
        for (const auto& [name, sub] : s.children)
            if (name == key) child = sub;
        if (!child) {
            std::vector<std::string_view> known;
            for (const auto& c : s.children) known.push_back(c.first);
            fail_at(value, "unknown key '" + key + "'" + detail::suggestion(key, known));
        }
        check(value, *child);
    }
}

const config_node* find(const config_node* n, std::string_view dotted) {
    while (n && !dotted.empty()) {
        if (n->type != config_node::kind::map) return nullptr;
        const auto dot = dotted.find('.');
        n = n->child(dotted.substr(0, dot));
        dotted = dot == std::string_view::npos ? std::string_view{} : dotted.substr(dot + 1);
    }
    return n;
}

// The highest layer that sets `leaf_path`, or null (built-in default).
const config_node* winner(const std::vector<const config_node*>& layers,
                          std::string_view leaf_path) {
    const config_node* found = nullptr;
    for (const auto* layer : layers)
        if (const auto* n = find(layer, leaf_path); n && n->type != config_node::kind::null)
            found = n;
    return found;
}

template <class Options>
struct field {
    std::string_view path;
    std::function<void(Options&, const config_node&)> set;
};

template <class Options, class T>
field<Options> duration_field(std::string_view path, T Options::*member) {
    return {path, [member](Options& o, const config_node& n) { o.*member = to_duration(n); }};
}

template <class Options>
field<Options> size_field(std::string_view path, std::size_t Options::*member) {
    return {path, [member](Options& o, const config_node& n) {
                o.*member = static_cast<std::size_t>(to_unsigned(n, SIZE_MAX));
            }};
}

const std::vector<field<pool_options>>& pool_fields() {
    using P = pool_options;
    static const std::vector<field<P>> fields{
        size_field("min_idle", &P::min_idle),
        size_field("max_size", &P::max_size),
        duration_field("acquire_timeout", &P::acquire_timeout),
        size_field("max_waiters", &P::max_waiters),
        duration_field("connect_timeout", &P::connect_timeout),
        duration_field("query_timeout", &P::query_timeout),
        duration_field("max_lifetime", &P::max_lifetime),
        duration_field("idle_timeout", &P::idle_timeout),
        duration_field("health_check_interval", &P::health_check_interval),
        duration_field("leak_threshold", &P::leak_threshold),
        field<P>{"keepalive.idle",
                 [](P& o, const config_node& n) { o.keepalive.idle = to_duration(n); }},
        field<P>{"keepalive.interval",
                 [](P& o, const config_node& n) { o.keepalive.interval = to_duration(n); }},
        field<P>{"keepalive.count",
                 [](P& o, const config_node& n) {
                     o.keepalive.count = static_cast<unsigned>(to_unsigned(n, UINT_MAX));
                 }},
        field<P>{"reset_query", [](P& o, const config_node& n) { o.reset_query = n.value; }},
        size_field("statement_cache", &P::statement_cache),
    };
    return fields;
}

const std::vector<field<runtime_options>>& runtime_fields() {
    using R = runtime_options;
    static const std::vector<field<R>> fields{
        size_field("io_threads", &R::io_threads),
        {"telemetry.listen", [](R& o, const config_node& n) { o.telemetry.listen = to_listen(n); }},
        {"log_level",
         [](R& o, const config_node& n) {
             const auto level = parse_log_level(n.value);
             if (!level || *level == log_level::trace)
                 fail_at(n, "expected debug, info, warn or error, got " + shown(n.value));
             o.log_level = *level;
         }},
    };
    return fields;
}

const std::vector<field<retry_options>>& retry_fields() {
    using R = retry_options;
    static const std::vector<field<R>> fields{
        {"attempts",
         [](R& o, const config_node& n) {
             o.attempts = static_cast<unsigned>(to_unsigned(n, UINT_MAX));
             if (o.attempts == 0) fail_at(n, "must be at least 1");
         }},
        duration_field("base_delay", &R::base_delay),
        duration_field("max_delay", &R::max_delay),
    };
    return fields;
}

const std::vector<field<breaker_options>>& breaker_fields() {
    using B = breaker_options;
    static const std::vector<field<B>> fields{
        {"failure_threshold",
         [](B& o, const config_node& n) {
             o.failure_threshold = static_cast<unsigned>(to_unsigned(n, UINT_MAX));
         }},
        duration_field("open_for", &B::open_for),
    };
    return fields;
}

// Resolves every field of Options from `layers` (each the node of a section, or null),
// recording origins under `out_path`; returns the nodes that set each field.
template <class Options>
std::map<std::string, const config_node*, std::less<>> resolve(
    Options& options, const std::vector<field<Options>>& fields,
    const std::vector<const config_node*>& layers, const std::string& out_path,
    config_origins& origins) {
    std::map<std::string, const config_node*, std::less<>> setters;
    for (const auto& f : fields) {
        const config_node* n = winner(layers, f.path);
        const std::string key = out_path + "." + std::string(f.path);
        if (n) {
            f.set(options, *n);
            origins[key] = n->origin();
        } else {
            origins[key] = "default";
        }
        setters[std::string(f.path)] = n;
    }
    return setters;
}

void check_pool_at(const pool_options& pool,
                   const std::map<std::string, const config_node*, std::less<>>& setters,
                   const std::string& resolved_path, const config_node& fallback) {
    auto problem = detail::check_pool(pool);
    if (!problem) return;
    const config_node* n = setters.at(problem->field);
    if (!n && problem->field == "min_idle") n = setters.at("max_size");
    std::string message = problem->message;
    if (problem->field == "min_idle") {
        if (const auto* m = setters.at("max_size"))
            message += " (max_size set at " + m->origin() + ")";
    }
    message += " (resolved for " + resolved_path + ")";
    if (n) fail_at(*n, message);
    fail_at(fallback, resolved_path + "." + problem->field + ": " + message);
}

void check_retry(const retry_options& r,
                 const std::map<std::string, const config_node*, std::less<>>& setters,
                 const config_node& fallback) {
    if (r.base_delay > r.max_delay) {
        const config_node* n = setters.at("base_delay");
        if (!n) n = setters.at("max_delay");
        fail_at(n ? *n : fallback, "base_delay " + format_duration(r.base_delay) + " > max_delay " +
                                       format_duration(r.max_delay));
    }
}

}  // namespace

env_map current_environment() {
    env_map env;
    for (char** e = environ; e && *e; ++e) {
        std::string_view entry(*e);
        auto eq = entry.find('=');
        if (eq == std::string_view::npos) continue;
        env.emplace(std::string(entry.substr(0, eq)), std::string(entry.substr(eq + 1)));
    }
    return env;
}

namespace {

// Checks the merged tree against the schema and resolves every database and flavour.
loaded_config resolve_config(const config_node& root, std::vector<std::string> files) {
    loaded_config out;
    out.files = std::move(files);
    check(root, s_root);

    const config_node* defaults = find(&root, "defaults");
    auto section = [&](const config_node* base, std::string_view sub) {
        return base ? find(base, sub) : nullptr;
    };
    config_origins& origins = out.origins;
    default_options& d = out.defaults;
    auto retry_layer = [&](const config_node* base) { return section(base, "retry"); };
    auto breaker_layer = [&](const config_node* base) { return section(base, "circuit_breaker"); };
    auto pool_layer = [&](const config_node* base) { return section(base, "pool"); };
    {
        auto setters =
            resolve(d.pool, pool_fields(), {pool_layer(defaults)}, "defaults.pool", origins);
        if (defaults) check_pool_at(d.pool, setters, "defaults.pool", *defaults);
        auto rs =
            resolve(d.retry, retry_fields(), {retry_layer(defaults)}, "defaults.retry", origins);
        if (defaults) check_retry(d.retry, rs, *defaults);
        resolve(d.circuit_breaker, breaker_fields(), {breaker_layer(defaults)},
                "defaults.circuit_breaker", origins);
        if (const auto* n = winner({defaults}, "drain_timeout")) {
            d.drain_timeout = to_duration(*n);
            origins["defaults.drain_timeout"] = n->origin();
        } else {
            origins["defaults.drain_timeout"] = "default";
        }
    }
    out.config.drain_timeout = d.drain_timeout;
    resolve(out.config.runtime, runtime_fields(), {find(&root, "runtime")}, "runtime", origins);

    const config_node* databases = find(&root, "databases");
    const config_node* backends = find(&root, "backends");
    struct seen {
        std::string name;
        const config_node* url;
    };
    std::map<std::string, seen> by_key;
    if (databases && databases->type == config_node::kind::map) {
        for (const auto& [name, node] : databases->entries) {
            const std::string base = "databases." + name;
            const config_node* url_node = find(&node, "url");
            if (!url_node) fail_at(node, "missing required key 'url'");
            database_config db;
            db.name = name;
            db.url = to_url(*url_node);
            std::map<std::string, const config_node*, std::less<>> reset_query_setters;
            origins[base + ".url"] = url_node->origin();
            origins[base + ".backend"] = url_node->origin();
            const config_node* backend_node = section(backends, to_string(db.url.kind()));
            const std::vector<const config_node*> sections{defaults, backend_node, &node};

            for (const char* flavour : {"sync", "async"}) {
                std::vector<const config_node*> layers;
                for (const auto* s : sections) layers.push_back(pool_layer(s));
                layers.push_back(section(pool_layer(&node), flavour));
                pool_options& pool =
                    std::string_view(flavour) == "sync" ? db.sync_pool : db.async_pool;
                const std::string resolved = base + ".pool." + flavour;
                auto setters = resolve(pool, pool_fields(), layers, resolved, origins);
                check_pool_at(pool, setters, resolved, node);
                reset_query_setters[flavour] = setters.at("reset_query");
            }
            std::vector<const config_node*> layers;
            for (const auto* s : sections) layers.push_back(retry_layer(s));
            auto rs = resolve(db.retry, retry_fields(), layers, base + ".retry", origins);
            check_retry(db.retry, rs, node);
            layers.clear();
            for (const auto* s : sections) layers.push_back(breaker_layer(s));
            resolve(db.circuit_breaker, breaker_fields(), layers, base + ".circuit_breaker",
                    origins);
            if (const auto* n = winner(sections, "drain_timeout")) {
                db.drain_timeout = to_duration(*n);
                origins[base + ".drain_timeout"] = n->origin();
            } else {
                origins[base + ".drain_timeout"] = "default";
            }
            if (const auto* n = winner(sections, "hosts_recheck_interval")) {
                db.hosts_recheck_interval = to_duration(*n);
                origins[base + ".hosts_recheck_interval"] = n->origin();
            } else {
                origins[base + ".hosts_recheck_interval"] = "default";
            }
            if (const auto* n = find(&node, "read_url")) {
                db_url read = to_url(*n);
                if (db.kind() != backend::postgres || read.kind() != backend::postgres)
                    fail_at(*n, "read_url is a " + std::string(to_string(read.kind())) +
                                    " URL for a " + std::string(to_string(db.kind())) +
                                    " database; read_url applies to PostgreSQL databases and "
                                    "takes a postgresql:// URL");
                db.read_url = std::move(read);
                origins[base + ".read_url"] = n->origin();
            }
            for (const char* flag : {"close_when_unreferenced", "pgbouncer"}) {
                const std::string key = base + "." + flag;
                if (const auto* n = find(&node, flag)) {
                    (std::string_view(flag) == "pgbouncer" ? db.pgbouncer
                                                           : db.close_when_unreferenced) =
                        to_bool(*n);
                    origins[key] = n->origin();
                } else {
                    origins[key] = "default";
                }
            }
            if (db.pgbouncer && db.kind() != backend::postgres)
                fail_at(*find(&node, "pgbouncer"), "pgbouncer applies to PostgreSQL URLs only");
            if (db.pgbouncer) {
                // Transaction pooling breaks named statements across clients: off, and its
                // origin is where `pgbouncer: true` was set (an origin stays a place).
                for (const char* flavour : {"sync", "async"}) {
                    auto& pool = std::string_view(flavour) == "sync" ? db.sync_pool : db.async_pool;
                    pool.statement_cache = 0;
                    origins[base + ".pool." + flavour + ".statement_cache"] =
                        origins[base + ".pgbouncer"];
                }
            }
            for (const char* flavour : {"sync", "async"}) {
                const auto& pool =
                    std::string_view(flavour) == "sync" ? db.sync_pool : db.async_pool;
                const config_node* set_at = reset_query_setters[flavour];
                if (pool.reset_query.empty() || set_at == nullptr) continue;
                if (db.kind() != backend::postgres)
                    fail_at(*set_at, "reset_query applies to PostgreSQL only (resolved for " +
                                         base + ".pool." + flavour + ", a " +
                                         std::string(to_string(db.kind())) + " database)");
                if (db.pgbouncer)
                    fail_at(*set_at,
                            "reset_query is refused with pgbouncer: true (resolved for " + base +
                                ".pool." + flavour +
                                "): in transaction pooling it would reset a server connection "
                                "that another client uses next");
            }

            auto [it, inserted] = by_key.emplace(db.url.pool_key(), seen{name, url_node});
            if (!inserted) {
                const database_config& other = out.config.databases.at(it->second.name);
                const bool same =
                    other.sync_pool == db.sync_pool && other.async_pool == db.async_pool &&
                    other.retry == db.retry && other.circuit_breaker == db.circuit_breaker &&
                    other.drain_timeout == db.drain_timeout && other.pgbouncer == db.pgbouncer;
                if (!same)
                    fail_at(*url_node, "databases." + it->second.name + " (" +
                                           it->second.url->where() + ") and databases." + name +
                                           " have the same URL " + db.url.redacted() +
                                           " but different pool options; they share one pool, "
                                           "so give them the same options");
            }
            out.config.databases.emplace(name, std::move(db));
        }
    }
    return out;
}

}  // namespace

loaded_config load_config_with_origins(const std::vector<std::string>& files, const env_map& env) {
    loaded_config out;
    out.files = files;
    if (out.files.empty()) {
        if (auto it = env.find("CONNMGR_CONFIG"); it != env.end()) {
            std::size_t start = 0;
            const std::string& list = it->second;
            while (start <= list.size()) {
                auto pos = list.find(':', start);
                auto item = list.substr(start, pos == std::string::npos ? pos : pos - start);
                if (!item.empty()) out.files.push_back(item);
                if (pos == std::string::npos) break;
                start = pos + 1;
            }
        }
    }
    config_node root = detail::load_tree(out.files, env);
    return resolve_config(root, std::move(out.files));
}

loaded_config load_config_from_string(const std::string& yaml, const std::string& name,
                                      const env_map& env) {
    return resolve_config(detail::load_text_tree(name, yaml, env), {name});
}

manager_config load_config(const std::vector<std::string>& files, const env_map& env) {
    return load_config_with_origins(files, env).config;
}

}  // namespace connmgr
