#include "conninfo.hpp"

#include <algorithm>
#include <chrono>

namespace connmgr::pg::detail {

namespace {

bool has(const conn_params& p, std::string_view key) {
    return std::any_of(p.begin(), p.end(), [&](const auto& kv) { return kv.first == key; });
}

std::string seconds_of(milliseconds d) {
    // libpq takes whole seconds; round up so that a sub-second setting does not become "off".
    auto s = (d.count() + 999) / 1000;
    return std::to_string(std::max<long long>(s, 1));
}

}  // namespace

conn_params effective_params(const conn_params& url_params, std::string_view name,
                             const pool_options& options, long connect_timeout_seconds,
                             bool statement_timeout) {
    conn_params out;
    out.reserve(url_params.size() + 6);
    // connmgr's own parameter (libpq 16's name): libpq 15 refuses it.
    for (const auto& kv : url_params)
        if (kv.first != "load_balance_hosts") out.push_back(kv);
    if (!has(out, "application_name") && !has(out, "fallback_application_name"))
        out.emplace_back("fallback_application_name", "connmgr:" + std::string(name));
    if (!has(out, "keepalives") && options.keepalive.idle.count() > 0) {
        out.emplace_back("keepalives", "1");
        out.emplace_back("keepalives_idle", seconds_of(options.keepalive.idle));
        out.emplace_back("keepalives_interval", seconds_of(options.keepalive.interval));
        out.emplace_back("keepalives_count", std::to_string(options.keepalive.count));
    }
    if (connect_timeout_seconds > 0 && !has(out, "connect_timeout"))
        out.emplace_back("connect_timeout", std::to_string(std::max(connect_timeout_seconds, 2L)));
    if (statement_timeout && options.query_timeout.count() > 0) {
        std::string setting =
            "-c statement_timeout=" + std::to_string(options.query_timeout.count());
        auto it = std::find_if(out.begin(), out.end(),
                               [](const auto& kv) { return kv.first == "options"; });
        if (it == out.end())
            out.emplace_back("options", setting);
        else
            it->second += " " + setting;
    }
    return out;
}

std::string to_conninfo(const conn_params& params) {
    std::string s;
    for (const auto& [key, value] : params) {
        if (!s.empty()) s += ' ';
        s += key;
        s += "='";
        for (char ch : value) {
            if (ch == '\'' || ch == '\\') s += '\\';
            s += ch;
        }
        s += '\'';
    }
    return s;
}

conn_params params_of(const database_config& db) { return db.url.pg_params(); }

}  // namespace connmgr::pg::detail
