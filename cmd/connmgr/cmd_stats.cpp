// connmgr stats [--json] [--watch 2s] [--url http://127.0.0.1:9187]: the pool table of a
// process serving telemetry (`connmgr serve`, `connmgr bench --serve`, or a service with
// runtime.telemetry.listen), with utilization bars; --watch redraws it every interval.
#include "command.hpp"

#include <connmgr/error.hpp>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <iostream>
#include <optional>
#include <string>
#include <thread>

#include <unistd.h>

namespace {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using asio::ip::tcp;
using namespace connmgr::cli;

std::string fetch(const std::string& host, const std::string& port, const std::string& target) {
    asio::io_context io;
    tcp::resolver resolver(io);
    boost::beast::tcp_stream stream(io);
    stream.expires_after(std::chrono::seconds(10));
    stream.connect(resolver.resolve(host, port));
    http::request<http::empty_body> req{http::verb::get, target, 11};
    req.set(http::field::host, host);
    http::write(stream, req);
    boost::beast::flat_buffer buffer;
    http::response<http::string_body> res;
    http::read(stream, buffer, res);
    if (res.result() != http::status::ok)
        throw std::runtime_error("GET " + target + ": HTTP " + std::to_string(res.result_int()));
    return res.body();
}

std::string cell(const boost::json::value& v) {
    if (v.is_string()) return std::string(v.as_string());
    return boost::json::serialize(v);
}

double number_of(const boost::json::value& v) {
    if (v.is_double()) return v.as_double();
    if (v.is_int64()) return static_cast<double>(v.as_int64());
    if (v.is_uint64()) return static_cast<double>(v.as_uint64());
    return 0;
}

constexpr double busy_threshold = 0.8;  // DESIGN §7: above 80% is worth a warning
constexpr int bar_width = 20;

// "[#########-----------]  45%": in_use over max_size.
std::string utilization_bar(double u) {
    const int filled = static_cast<int>(std::lround(std::clamp(u, 0.0, 1.0) * bar_width));
    char pct[16];
    std::snprintf(pct, sizeof pct, " %3.0f%%", u * 100);
    return "[" + std::string(static_cast<std::size_t>(filled), '#') +
           std::string(static_cast<std::size_t>(bar_width - filled), '-') + "]" + pct;
}

// The pool table; on a terminal the utilization of a pool above 80% is shown in bold red.
std::string render_table(const boost::json::value& doc, bool color) {
    std::string out;
    char line[512];
    std::snprintf(line, sizeof line, "%-24s %-9s %-6s %5s %5s %6s %5s %7s %9s %8s %-9s %-27s %s\n",
                  "DATABASE", "BACKEND", "FLAV", "MAX", "IDLE", "IN_USE", "CONN", "WAITERS",
                  "ACQUIRED", "TIMEOUTS", "BREAKER", "UTILIZATION", "REFERENCES");
    out += line;
    std::vector<std::string> warnings;
    for (const auto& pv : doc.at("pools").as_array()) {
        const auto& p = pv.as_object();
        std::string names, refs;
        for (const auto& n : p.at("databases").as_array())
            names += (names.empty() ? "" : ",") + std::string(n.as_string());
        for (const auto& r : p.at("references").as_array())
            refs += (refs.empty() ? "" : ",") + std::string(r.as_string());
        const double u = number_of(p.at("utilization"));
        const bool busy = u > busy_threshold;
        std::string bar = utilization_bar(u) + (busy ? " !" : "  ");
        if (busy && color) bar = "\x1b[1;31m" + bar + "\x1b[0m";
        std::snprintf(line, sizeof line, "%-24s %-9s %-6s %5s %5s %6s %5s %7s %9s %8s %-9s ",
                      names.c_str(), cell(p.at("backend")).c_str(), cell(p.at("flavour")).c_str(),
                      cell(p.at("max_size")).c_str(), cell(p.at("idle")).c_str(),
                      cell(p.at("in_use")).c_str(), cell(p.at("connecting")).c_str(),
                      cell(p.at("waiters")).c_str(), cell(p.at("acquired_total")).c_str(),
                      cell(p.at("timeouts_total")).c_str(), cell(p.at("breaker")).c_str());
        out += line + bar + " " + refs + "\n";
        if (busy)
            warnings.push_back(names + "/" + cell(p.at("flavour")) + " is " +
                               std::to_string(static_cast<int>(u * 100)) + "% utilized (" +
                               cell(p.at("in_use")) + " of " + cell(p.at("max_size")) +
                               " in use, " + cell(p.at("waiters")) + " waiting)");
    }
    if (doc.at("pools").as_array().empty()) out += "(no pool open)\n";
    for (const auto& w : warnings)
        out += (color ? "\x1b[1;31mwarning:\x1b[0m " : "warning: ") + w + " (above 80%)\n";
    return out;
}

std::chrono::milliseconds parse_interval(const std::string& s) {
    char* end = nullptr;
    const double v = std::strtod(s.c_str(), &end);
    const std::string unit = end ? end : "";
    double ms = -1;
    if (unit.empty() || unit == "s")
        ms = v * 1000;
    else if (unit == "ms")
        ms = v;
    else if (unit == "m")
        ms = v * 60000;
    if (!(ms > 0)) throw usage_error("--watch needs a positive duration like 2s or 500ms");
    return std::chrono::milliseconds(static_cast<long long>(ms));
}

int run_stats(const global_options&, const std::vector<std::string>& args) {
    bool json = false;
    std::optional<std::chrono::milliseconds> watch;
    std::string url = "http://127.0.0.1:9187";
    for (std::size_t i = 0; i < args.size(); ++i) {
        const auto& a = args[i];
        auto value = [&](std::string_view opt) {
            if (a.size() > opt.size() && a[opt.size()] == '=') return a.substr(opt.size() + 1);
            if (i + 1 >= args.size()) throw usage_error(std::string(opt) + " needs a value");
            return args[++i];
        };
        if (is_help(a))
            throw help_requested();
        else if (a == "--json")
            json = true;
        else if (a.rfind("--watch", 0) == 0)
            watch = parse_interval(value("--watch"));
        else if (a.rfind("--url", 0) == 0)
            url = value("--url");
        else
            throw usage_error("unknown argument '" + a + "'");
    }
    if (url.rfind("http://", 0) != 0) throw usage_error("--url must start with http://");
    std::string rest = url.substr(7);
    while (!rest.empty() && rest.back() == '/') rest.pop_back();
    const auto colon = rest.rfind(':');
    const std::string host = colon == std::string::npos ? rest : rest.substr(0, colon);
    const std::string port = colon == std::string::npos ? "80" : rest.substr(colon + 1);
    if (!watch) {
        const auto body = fetch(host, port, "/stats");
        if (json)
            std::cout << body << (body.empty() || body.back() != '\n' ? "\n" : "");
        else
            std::cout << render_table(boost::json::parse(body), false);
        return exit_ok;
    }
    // Watching: on a terminal each frame replaces the last one in place (cursor up over the
    // previous frame, clear to the end); piped, one table per interval follows the other.
    // With --json, one document per interval (JSON lines), nothing else.
    const bool terminal = !json && ::isatty(STDOUT_FILENO) == 1;
    std::size_t previous_lines = 0;
    for (;;) {
        std::string frame;
        std::string problem;
        try {
            const auto body = fetch(host, port, "/stats");
            frame = json ? body + (body.empty() || body.back() != '\n' ? "\n" : "")
                         : render_table(boost::json::parse(body), terminal);
        } catch (const boost::system::system_error& e) {
            problem = "cannot read " + url + "/stats: " + e.code().message() + "\n";
        } catch (const std::exception& e) {
            problem = "cannot read " + url + "/stats: " + e.what() + "\n";
        }
        if (json) {  // errors stay off stdout, which carries only documents
            if (!problem.empty()) std::cerr << "connmgr stats: " << problem;
            std::cout << frame << std::flush;
            std::this_thread::sleep_for(*watch);
            continue;
        }
        frame += problem;
        const std::time_t now = std::time(nullptr);
        char stamp[32];
        std::strftime(stamp, sizeof stamp, "%H:%M:%S", std::localtime(&now));
        frame = "connmgr stats " + url + "  every " + std::to_string(watch->count()) + "ms  " +
                stamp + "\n" + frame;
        if (terminal && previous_lines > 0)
            std::cout << "\x1b[" << previous_lines << "F\x1b[J";
        else if (!terminal && previous_lines > 0)
            std::cout << "\n";
        std::cout << frame << std::flush;
        previous_lines = static_cast<std::size_t>(std::count(frame.begin(), frame.end(), '\n'));
        std::this_thread::sleep_for(*watch);
    }
}

}  // namespace

CONNMGR_COMMAND(stats, "[--json] [--watch 2s] [--url http://127.0.0.1:9187]",
                "the pool table of a process serving telemetry (--watch: live)",
                "  --url URL            the process's telemetry endpoint (default "
                "http://127.0.0.1:9187)\n"
                "  --watch INTERVAL     redraw every INTERVAL (2s, 500ms) until interrupted\n"
                "  --json               the /stats document (one per interval with --watch)\n",
                run_stats);
