// connmgr config [--show-origin] [--changed] [--json]: the effective configuration, secrets
// redacted; --changed keeps only the values that differ from the built-in defaults.
#include "command.hpp"

#include <connmgr/config_loader.hpp>

#include <boost/json.hpp>
#include <boost/program_options.hpp>

#include <algorithm>
#include <iostream>

namespace connmgr::cli {
namespace {

namespace json = boost::json;
namespace po = boost::program_options;

// Builds the JSON document of `config --json`; with origins, each value becomes
// {"value": ..., "origin": ...}.
class renderer {
public:
    renderer(const loaded_config& loaded, bool with_origin)
        : origins_(loaded.origins), with_origin_(with_origin) {}

    json::value leaf(json::value v, const std::string& path) const {
        if (!with_origin_) return v;
        auto it = origins_.find(path);
        return json::object{{"value", std::move(v)},
                            {"origin", it == origins_.end() ? "default" : it->second}};
    }
    json::value duration(milliseconds d, const std::string& path) const {
        return leaf(json::value(format_duration(d)), path);
    }
    json::value size(std::uint64_t n, const std::string& path) const {
        return leaf(json::value(n), path);
    }

    json::object pool(const pool_options& p, const std::string& base) const {
        auto at = [&](std::string_view key) { return base + "." + std::string(key); };
        return {
            {"min_idle", size(p.min_idle, at("min_idle"))},
            {"max_size", size(p.max_size, at("max_size"))},
            {"acquire_timeout", duration(p.acquire_timeout, at("acquire_timeout"))},
            {"max_waiters", size(p.max_waiters, at("max_waiters"))},
            {"connect_timeout", duration(p.connect_timeout, at("connect_timeout"))},
            {"query_timeout", duration(p.query_timeout, at("query_timeout"))},
            {"max_lifetime", duration(p.max_lifetime, at("max_lifetime"))},
            {"idle_timeout", duration(p.idle_timeout, at("idle_timeout"))},
            {"health_check_interval",
             duration(p.health_check_interval, at("health_check_interval"))},
            {"leak_threshold", duration(p.leak_threshold, at("leak_threshold"))},
            {"keepalive",
             json::object{
                 {"idle", duration(p.keepalive.idle, at("keepalive.idle"))},
                 {"interval", duration(p.keepalive.interval, at("keepalive.interval"))},
                 {"count", size(p.keepalive.count, at("keepalive.count"))},
             }},
            {"reset_query", leaf(json::value(p.reset_query), at("reset_query"))},
            {"statement_cache", size(p.statement_cache, at("statement_cache"))},
        };
    }
    json::object retry(const retry_options& r, const std::string& base) const {
        return {{"attempts", size(r.attempts, base + ".attempts")},
                {"base_delay", duration(r.base_delay, base + ".base_delay")},
                {"max_delay", duration(r.max_delay, base + ".max_delay")}};
    }
    json::object breaker(const breaker_options& b, const std::string& base) const {
        return {{"failure_threshold", size(b.failure_threshold, base + ".failure_threshold")},
                {"open_for", duration(b.open_for, base + ".open_for")}};
    }

    json::object document(const loaded_config& loaded) const {
        json::object databases;
        for (const auto& [name, db] : loaded.config.databases) {
            const std::string base = "databases." + name;
            databases[name] = json::object{
                {"url", leaf(json::value(db.url.redacted()), base + ".url")},
                {"backend", leaf(json::value(to_string(db.kind())), base + ".backend")},
                {"pgbouncer", leaf(json::value(db.pgbouncer), base + ".pgbouncer")},
                {"pool", json::object{{"sync", pool(db.sync_pool, base + ".pool.sync")},
                                      {"async", pool(db.async_pool, base + ".pool.async")}}},
                {"retry", retry(db.retry, base + ".retry")},
                {"circuit_breaker", breaker(db.circuit_breaker, base + ".circuit_breaker")},
                {"drain_timeout", duration(db.drain_timeout, base + ".drain_timeout")},
                {"close_when_unreferenced",
                 leaf(json::value(db.close_when_unreferenced), base + ".close_when_unreferenced")},
            };
        }
        const runtime_options& r = loaded.config.runtime;
        const default_options& d = loaded.defaults;
        json::array files;
        for (const auto& f : loaded.files) files.emplace_back(f);
        return {
            {"files", std::move(files)},
            {"databases", std::move(databases)},
            {"defaults",
             json::object{
                 {"pool", pool(d.pool, "defaults.pool")},
                 {"retry", retry(d.retry, "defaults.retry")},
                 {"circuit_breaker", breaker(d.circuit_breaker, "defaults.circuit_breaker")},
                 {"drain_timeout", duration(d.drain_timeout, "defaults.drain_timeout")}}},
            {"runtime",
             json::object{
                 {"io_threads", size(r.io_threads, "runtime.io_threads")},
                 {"telemetry", json::object{{"listen", leaf(json::value(r.telemetry.listen),
                                                            "runtime.telemetry.listen")}}},
                 {"log_level", leaf(json::value(to_string(r.log_level)), "runtime.log_level")}}},
        };
    }

private:
    const config_origins& origins_;
    bool with_origin_;
};

struct text_line {
    std::string path;
    std::string value;
    std::string origin;
};

std::string scalar_text(const json::value& v) {
    if (v.is_string()) return std::string(v.get_string());
    return json::serialize(v);
}

// Flattens the plain document (no origins) into "path = value" lines.
void flatten(const json::value& v, const std::string& path, const config_origins& origins,
             std::vector<text_line>& out) {
    if (v.is_object()) {
        for (const auto& [key, child] : v.get_object())
            flatten(child, path.empty() ? std::string(key) : path + "." + std::string(key), origins,
                    out);
        return;
    }
    if (v.is_array()) {
        std::string joined;
        for (const auto& item : v.get_array())
            joined += (joined.empty() ? "" : ", ") + scalar_text(item);
        out.push_back({path, "[" + joined + "]", ""});
        return;
    }
    auto it = origins.find(path);
    out.push_back({path, scalar_text(v), it == origins.end() ? "default" : it->second});
}

std::string origin_of(const config_origins& origins, const std::string& path) {
    auto it = origins.find(path);
    return it == origins.end() ? "default" : it->second;
}

// What `loaded` would resolve to with nothing set but its databases' URLs: every other value
// built in.
loaded_config builtin_defaults(const loaded_config& loaded) {
    loaded_config out;
    out.files = loaded.files;
    for (const auto& [name, db] : loaded.config.databases) {
        database_config d;
        d.name = name;
        d.url = db.url;
        out.config.databases.emplace(name, std::move(d));
    }
    return out;
}

// The leaves of `actual` that differ from `builtin` at the same path, as {"value", "origin"}
// objects in the document's shape, and as text lines. A database's URL has no built-in value:
// it is always kept. Emptied maps are dropped.
json::object changed(const json::object& actual, const json::object* builtin,
                     const std::string& path, const config_origins& origins,
                     std::vector<text_line>& lines) {
    json::object out;
    for (const auto& [key, value] : actual) {
        const std::string at = path.empty() ? std::string(key) : path + "." + std::string(key);
        if (at == "files") continue;  // what was read, not a setting
        const json::value* base = builtin ? builtin->if_contains(key) : nullptr;
        if (value.is_object()) {
            json::object sub = changed(value.get_object(),
                                       base && base->is_object() ? &base->get_object() : nullptr,
                                       at, origins, lines);
            if (!sub.empty()) out[key] = std::move(sub);
            continue;
        }
        const bool url = key == "url" && path.rfind("databases.", 0) == 0;
        if (!url && base && *base == value) continue;
        const std::string origin = origin_of(origins, at);
        out[key] = json::object{{"value", value}, {"origin", origin}};
        lines.push_back({at, scalar_text(value), origin});
    }
    return out;
}

void print_lines(const std::vector<text_line>& lines, bool with_origin) {
    std::size_t width = 0;
    for (const auto& l : lines) width = std::max(width, l.path.size() + 3 + l.value.size());
    for (const auto& l : lines) {
        std::string text = l.path + " = " + l.value;
        if (with_origin && !l.origin.empty()) {
            text.resize(std::max(text.size(), width + 2), ' ');
            text += "# " + l.origin;
        }
        std::cout << text << "\n";
    }
}

int run_config(const global_options& globals, const std::vector<std::string>& args) {
    po::options_description options("connmgr config");
    options.add_options()("show-origin", "name the file:line or variable that set each value")(
        "changed", "only the values that differ from the built-in defaults")(
        "json", "print one JSON document")("help,h", "this help");
    po::variables_map vm;
    try {
        const po::positional_options_description no_positionals;
        po::store(po::command_line_parser(args).options(options).positional(no_positionals).run(),
                  vm);
        po::notify(vm);
    } catch (const po::error& e) {
        throw usage_error(e.what());
    }
    if (vm.count("help")) throw help_requested();
    const bool with_origin = vm.count("show-origin") != 0;
    const loaded_config loaded = load(globals);
    if (vm.count("changed")) {
        // Always with origins: where a changed value comes from is the point.
        const loaded_config builtin = builtin_defaults(loaded);
        const json::object builtin_doc = renderer(builtin, false).document(builtin);
        std::vector<text_line> lines;
        const json::object doc = changed(renderer(loaded, false).document(loaded), &builtin_doc, "",
                                         loaded.origins, lines);
        if (vm.count("json"))
            std::cout << json::serialize(doc) << "\n";
        else if (lines.empty())
            std::cout << "# every value is a built-in default\n";
        else
            print_lines(lines, true);
        return exit_ok;
    }
    if (vm.count("json")) {
        std::cout << json::serialize(renderer(loaded, with_origin).document(loaded)) << "\n";
        return exit_ok;
    }
    std::vector<text_line> lines;
    flatten(renderer(loaded, false).document(loaded), "", loaded.origins, lines);
    print_lines(lines, with_origin);
    return exit_ok;
}

}  // namespace

CONNMGR_COMMAND(config, "[--show-origin] [--changed] [--json]",
                "print the effective configuration (secrets redacted)",
                "  --show-origin        name the file:line or environment variable that set each "
                "value\n"
                "  --changed            only the values that differ from the built-in defaults, "
                "with\n"
                "                       their origin (a database's URL always)\n"
                "  --json               one JSON document on stdout\n",
                run_config);

}  // namespace connmgr::cli
