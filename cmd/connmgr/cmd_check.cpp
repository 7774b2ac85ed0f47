// connmgr check [NAME...] [--json]: validate the configuration, open each database's sync and
// async pool, run its health probe, print a table (or the JSON of DESIGN §8).
#include "command.hpp"

#include <connmgr/connmgr.hpp>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <future>
#include <iostream>
#include <string>
#include <vector>

namespace {

using namespace connmgr::cli;

std::string pad(std::string s, std::size_t width) {
    if (s.size() < width) s.append(width - s.size(), ' ');
    return s;
}

// libpq's messages span lines ("...failed: Connection refused\n\tIs the server running..."):
// one line, for a server's row.
std::string one_line(const std::string& text) {
    std::string out;
    for (char c : text) {
        const bool space = c == '\n' || c == '\t' || c == '\r' || c == ' ';
        if (!space)
            out += c;
        else if (!out.empty() && out.back() != ' ')
            out += ' ';
    }
    while (!out.empty() && out.back() == ' ') out.pop_back();
    return out.empty() ? "unreachable" : out;
}

int run_check(const global_options& globals, const std::vector<std::string>& args) {
    bool json = false;
    std::vector<std::string> names;
    for (const auto& a : args) {
        if (is_help(a))
            throw help_requested();
        else if (a == "--json")
            json = true;
        else if (!a.empty() && a[0] == '-')
            throw usage_error("unknown option '" + a + "'");
        else
            names.push_back(a);
    }
    auto loaded = load(globals);
    if (names.empty())
        for (const auto& [name, db] : loaded.config.databases) names.push_back(name);

    connmgr::manager m;
    m.configure(std::move(loaded.config));
    // Probe first (one short connect each, all at once): opening the pools of a database that
    // is down would wait through every connect retry.
    connmgr::health h = m.health(names);  // config_error for an unknown name: exit 2
    std::vector<std::future<std::string>> opening;
    for (const auto& d : h.databases) {
        if (!d.healthy) {
            opening.emplace_back();
            continue;
        }
        opening.push_back(std::async(std::launch::async, [&m, name = d.name]() -> std::string {
            try {
                m.open(name);
                return {};
            } catch (const std::exception& e) {
                return "opening its pools failed: " + error_text(e);
            }
        }));
    }
    for (std::size_t i = 0; i < h.databases.size(); ++i) {
        if (!opening[i].valid()) continue;
        if (auto failure = opening[i].get(); !failure.empty()) {
            h.databases[i].healthy = false;
            h.databases[i].error = failure;
        }
    }
    h.healthy_databases = static_cast<std::size_t>(std::count_if(
        h.databases.begin(), h.databases.end(), [](const auto& d) { return d.healthy; }));
    h.overall_healthy = h.healthy_databases == h.total_databases;
    m.close_all();

    if (json) {
        std::cout << connmgr::to_json(h) << "\n";
    } else {
        std::size_t w = 10;
        for (const auto& d : h.databases) w = std::max(w, d.name.size() + 2);
        std::cout << pad("DATABASE", w) << pad("BACKEND", 10) << pad("STATUS", 11)
                  << pad("LATENCY", 11) << "URL\n";
        for (const auto& d : h.databases) {
            char latency[32];
            std::snprintf(latency, sizeof latency, "%.1f ms", d.latency.count());
            std::cout << pad(d.name, w) << pad(std::string(connmgr::to_string(d.backend)), 10)
                      << pad(d.healthy ? "healthy" : "UNHEALTHY", 11) << pad(latency, 11) << d.url
                      << "\n";
            // DESIGN §12: a multi-server database's servers, one line each.
            std::size_t sw = 0;
            for (const auto& sv : d.servers) sw = std::max(sw, sv.server.size() + 2);
            for (const auto& sv : d.servers)
                std::cout << pad("", w) << pad(sv.server, sw) << pad(sv.state, 11)
                          << (sv.healthy ? std::string("ok") : one_line(sv.error)) << "\n";
            if (d.healthy) continue;
            std::string error = d.error;  // libpq's messages span lines: keep them indented
            for (auto at = error.find('\n'); at != std::string::npos; at = error.find('\n', at + 1))
                error.replace(at, 1, "\n" + pad("", w + 7));
            while (!error.empty() && std::isspace(static_cast<unsigned char>(error.back())))
                error.pop_back();
            std::cout << pad("", w) << "error: " << error << "\n";
        }
        std::cout << h.healthy_databases << " of " << h.total_databases << " databases healthy\n";
    }
    return h.overall_healthy ? exit_ok : exit_failure;
}

}  // namespace

CONNMGR_COMMAND(check, "[NAME...] [--json]",
                "validate the configuration, open each database's pools and probe it",
                "  NAME...              the databases to check (default: every configured one)\n"
                "  --json               one JSON document on stdout\n",
                run_check);
