// connmgr stats [--json] [--watch 2s] [--url http://127.0.0.1:9187]: the pool table of a
// running `connmgr serve`.
#include "command.hpp"

#include <connmgr/error.hpp>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>

#include <chrono>
#include <cstdio>
#include <iostream>
#include <optional>
#include <string>
#include <thread>

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
    if (v.is_double()) {
        char buf[32];
        std::snprintf(buf, sizeof buf, "%.0f%%", v.as_double() * 100);
        return buf;
    }
    return boost::json::serialize(v);
}

void print_table(const boost::json::value& doc) {
    std::printf("%-24s %-9s %-6s %5s %5s %6s %5s %7s %9s %8s %6s %-9s %s\n", "DATABASE", "BACKEND",
                "FLAV", "MAX", "IDLE", "IN_USE", "CONN", "WAITERS", "ACQUIRED", "TIMEOUTS", "UTIL",
                "BREAKER", "REFERENCES");
    for (const auto& pv : doc.at("pools").as_array()) {
        const auto& p = pv.as_object();
        std::string names, refs;
        for (const auto& n : p.at("databases").as_array())
            names += (names.empty() ? "" : ",") + std::string(n.as_string());
        for (const auto& r : p.at("references").as_array())
            refs += (refs.empty() ? "" : ",") + std::string(r.as_string());
        std::printf("%-24s %-9s %-6s %5s %5s %6s %5s %7s %9s %8s %6s %-9s %s\n", names.c_str(),
                    cell(p.at("backend")).c_str(), cell(p.at("flavour")).c_str(),
                    cell(p.at("max_size")).c_str(), cell(p.at("idle")).c_str(),
                    cell(p.at("in_use")).c_str(), cell(p.at("connecting")).c_str(),
                    cell(p.at("waiters")).c_str(), cell(p.at("acquired_total")).c_str(),
                    cell(p.at("timeouts_total")).c_str(), cell(p.at("utilization")).c_str(),
                    cell(p.at("breaker")).c_str(), refs.c_str());
    }
    if (doc.at("pools").as_array().empty()) std::printf("(no pool open)\n");
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
        if (a == "--json")
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
    for (;;) {
        const auto body = fetch(host, port, "/stats");
        if (json) {
            std::cout << body;
            if (body.empty() || body.back() != '\n') std::cout << "\n";
        } else {
            if (watch) std::cout << "\x1b[H\x1b[2J";
            print_table(boost::json::parse(body));
        }
        std::cout.flush();
        if (!watch) return exit_ok;
        std::this_thread::sleep_for(*watch);
    }
}

}  // namespace

CONNMGR_COMMAND(stats, "[--json] [--watch 2s] [--url http://127.0.0.1:9187]",
                "the pool table of a running `connmgr serve`", run_stats);
