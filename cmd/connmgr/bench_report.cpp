#include "bench_report.hpp"

#include <boost/json/serialize.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
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

void set_window_waits(pool_figures& out, const wait_totals& start, const wait_totals& end) {
    const double sum = std::max(0.0, end.sum - start.sum);
    out.wait_seconds_sum = sum;
    out.wait_max_exact = true;
    if (end.max > start.max) {  // a new record: the window's own longest wait
        out.wait_seconds_max = end.max;
        return;
    }
    // Waits the window added per bucket, and the highest bucket it added to.
    auto at = [](const wait_totals& t, std::size_t i) -> std::uint64_t {
        return i < t.cumulative.size() ? t.cumulative[i] : 0;
    };
    double bucket_bound = std::numeric_limits<double>::infinity();
    std::uint64_t window_count = 0;  // waits up to the last bound
    std::uint64_t below = 0;
    for (std::size_t i = 0; i < end.bounds.size(); ++i) {
        const std::uint64_t upto = at(end, i) >= at(start, i) ? at(end, i) - at(start, i) : 0;
        if (upto > below) bucket_bound = end.bounds[i];
        below = std::max(below, upto);
        window_count = upto;
    }
    // Waits above the last bound are not counted: a sum the counted ones cannot make means
    // there was one, and the buckets bound nothing.
    if (sum > static_cast<double>(window_count) * bucket_bound)
        bucket_bound = std::numeric_limits<double>::infinity();
    if (window_count == 0 && sum == 0) {  // no wait at all in the window
        out.wait_seconds_max = 0;
        return;
    }
    if (window_count == 1 && !std::isinf(bucket_bound)) {
        out.wait_seconds_max = sum;  // one wait: it is the sum
        return;
    }
    out.wait_seconds_max = std::min({start.max, sum, bucket_bound});
    out.wait_max_exact = false;
}

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
    boost::json::object messages;
    for (const auto& [name, message] : r.error_messages) messages[name] = message;
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
        {"wait_seconds_max_exact", r.pool.wait_max_exact},
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
    out["error_messages"] = std::move(messages);
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
    // The first message of each kind, its continuation lines (libpq's) indented under it.
    for (const auto& [name, message] : r.error_messages) {
        std::string text = message;
        while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
        const std::string indent(6, ' ');
        for (auto at = text.find('\n'); at != std::string::npos; at = text.find('\n', at + 1))
            text.insert(at + 1, indent);
        out << "    first " << name << ": " << text << "\n";
    }
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
        << (r.pool.wait_max_exact ? "" : "at most ") << fixed(r.pool.wait_seconds_max * 1e3, 3)
        << " ms (the run's waits, not the warm-up's)\n";
    return out.str();
}

}  // namespace connmgr::bench
