#include "bench_report.hpp"

#include <boost/json/serialize.hpp>

#include <cmath>
#include <cstdio>
#include <sstream>

namespace connmgr::bench {
namespace {

double to_ms(std::uint64_t nanoseconds) { return static_cast<double>(nanoseconds) / 1e6; }

// Three significant decimals are plenty for milliseconds and keep the JSON readable.
double rounded(double v, double unit) { return static_cast<double>(std::llround(v / unit)) * unit; }

std::string fixed(double v, int decimals) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
    return buf;
}

}  // namespace

std::uint64_t bench_report::requests_failed() const noexcept {
    std::uint64_t n = 0;
    for (const auto& [name, count] : errors) n += count;
    return n;
}

std::uint64_t bench_report::timeouts() const noexcept {
    auto it = errors.find("acquire_timeout");
    return it == errors.end() ? 0 : it->second;
}

double bench_report::throughput_per_second() const noexcept {
    return duration_seconds > 0 ? static_cast<double>(requests_ok) / duration_seconds : 0.0;
}

boost::json::object to_json(const bench_report& r) {
    boost::json::object errors;
    for (const auto& [name, count] : r.errors) errors[name] = count;
    boost::json::object latency{
        {"p50", rounded(to_ms(r.latency.value_at_quantile(0.50)), 1e-4)},
        {"p95", rounded(to_ms(r.latency.value_at_quantile(0.95)), 1e-4)},
        {"p99", rounded(to_ms(r.latency.value_at_quantile(0.99)), 1e-4)},
        {"max", rounded(to_ms(r.latency.max()), 1e-4)},
    };
    boost::json::object pool{
        {"max_size", r.pool.max_size},
        {"peak_in_use", r.pool.peak_in_use},
        {"peak_waiters", r.pool.peak_waiters},
        {"wait_seconds_sum", r.pool.wait_seconds_sum},
        {"wait_seconds_max", r.pool.wait_seconds_max},
    };
    boost::json::object out;
    out["database"] = r.database;
    out["backend"] = r.backend;
    out["flavour"] = r.flavour;
    if (!r.graph.empty()) out["graph"] = r.graph;
    out["clients"] = r.clients;
    out["threads"] = r.threads;
    if (r.requests_per_client)
        out["requests_per_client"] = *r.requests_per_client;
    else
        out["requests_per_client"] = nullptr;
    out["requests_ok"] = r.requests_ok;
    out["errors"] = std::move(errors);
    out["duration_seconds"] = rounded(r.duration_seconds, 1e-6);
    out["throughput_per_second"] = rounded(r.throughput_per_second(), 0.1);
    out["latency_ms"] = std::move(latency);
    out["pool"] = std::move(pool);
    return out;
}

namespace {

void write(std::string& out, const boost::json::value& v) {
    switch (v.kind()) {
        case boost::json::kind::object: {
            out += '{';
            const char* sep = "";
            for (const auto& [key, value] : v.get_object()) {
                out += sep;
                out += boost::json::serialize(boost::json::string(key));
                out += ':';
                write(out, value);
                sep = ",";
            }
            out += '}';
            break;
        }
        case boost::json::kind::array: {
            out += '[';
            const char* sep = "";
            for (const auto& e : v.get_array()) {
                out += sep;
                write(out, e);
                sep = ",";
            }
            out += ']';
            break;
        }
        case boost::json::kind::double_: {
            // Up to 12 significant digits, never an exponent for the magnitudes we report.
            char buf[64];
            std::snprintf(buf, sizeof buf, "%.12g", v.get_double());
            std::string text = buf;
            if (text.find_first_of("eE") != std::string::npos || !std::isfinite(v.get_double()))
                text = boost::json::serialize(v);
            else if (text.find('.') == std::string::npos)
                text += ".0";  // stays a double for readers that care (10.0, not 10)
            out += text;
            break;
        }
        default: out += boost::json::serialize(v);
    }
}

}  // namespace

std::string serialize(const boost::json::value& v) {
    std::string out;
    write(out, v);
    return out;
}

std::string to_text(const bench_report& r) {
    std::ostringstream out;
    out << "connmgr bench " << r.database << " (" << r.backend << ", " << r.flavour
        << "): " << r.clients << (r.clients == 1 ? " client" : " clients");
    if (r.threads > 0) out << " on " << r.threads << (r.threads == 1 ? " thread" : " threads");
    if (r.requests_per_client) out << " x " << *r.requests_per_client << " requests";
    out << ", \"" << r.command << "\"";
    if (!r.graph.empty()) out << " on graph " << r.graph;
    if (r.pipeline > 1) out << ", pipeline " << r.pipeline;
    out << "\n";
    out << "  requests ok     " << r.requests_ok << "\n";
    out << "  errors          " << r.requests_failed();
    if (!r.errors.empty()) {
        const char* sep = " (";
        for (const auto& [name, count] : r.errors) {
            out << sep << name << " " << count;
            sep = ", ";
        }
        out << ")";
    }
    out << "\n";
    out << "  timeouts        " << r.timeouts() << "\n";
    out << "  duration        " << fixed(r.duration_seconds, 3) << " s\n";
    out << "  throughput      " << fixed(r.throughput_per_second(), 1) << " requests/s\n";
    out << "  latency (ms)    p50 " << fixed(to_ms(r.latency.value_at_quantile(0.50)), 3)
        << "  p95 " << fixed(to_ms(r.latency.value_at_quantile(0.95)), 3) << "  p99 "
        << fixed(to_ms(r.latency.value_at_quantile(0.99)), 3) << "  max "
        << fixed(to_ms(r.latency.max()), 3);
    if (r.pipeline > 1) out << "  (per round trip of " << r.pipeline << ")";
    out << "\n";
    out << "  pool            max_size " << r.pool.max_size << ", peak in_use "
        << r.pool.peak_in_use << ", peak waiters " << r.pool.peak_waiters << "\n";
    out << "  acquire wait    sum " << fixed(r.pool.wait_seconds_sum, 3) << " s, max "
        << fixed(r.pool.wait_seconds_max * 1e3, 3) << " ms\n";
    return out.str();
}

}  // namespace connmgr::bench
