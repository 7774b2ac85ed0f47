#include "config_detail.hpp"

#include <connmgr/config_loader.hpp>
#include <connmgr/error.hpp>

#include <boost/asio/ip/address.hpp>

#include <charconv>
#include <cmath>

namespace connmgr {

std::optional<detail::pool_problem> detail::check_pool(const pool_options& o) {
    if (o.max_size == 0) return pool_problem{"max_size", "must be at least 1"};
    if (o.connect_timeout.count() <= 0)
        return pool_problem{"connect_timeout", "must be greater than 0 (nothing could connect)"};
    const std::pair<const char*, milliseconds> durations[] = {
        {"acquire_timeout", o.acquire_timeout},
        {"connect_timeout", o.connect_timeout},
        {"query_timeout", o.query_timeout},
        {"max_lifetime", o.max_lifetime},
        {"idle_timeout", o.idle_timeout},
        {"health_check_interval", o.health_check_interval},
        {"leak_threshold", o.leak_threshold},
        {"keepalive.idle", o.keepalive.idle},
        {"keepalive.interval", o.keepalive.interval}};
    for (const auto& [name, d] : durations) {
        if (d.count() < 0) return pool_problem{name, "must not be negative"};
        if (d > max_duration)
            return pool_problem{name, format_duration(d) + " is longer than the maximum of " +
                                          format_duration(max_duration)};
    }
    if (o.min_idle > o.max_size)
        return pool_problem{
            "min_idle", std::to_string(o.min_idle) + " > max_size " + std::to_string(o.max_size)};
    if (o.keepalive.count == 0) return pool_problem{"keepalive.count", "must be at least 1"};
    return std::nullopt;
}

void validate(const pool_options& options, std::string_view path) {
    if (auto problem = detail::check_pool(options)) {
        std::string where(path);
        if (!where.empty()) where += ".";
        throw config_error(where + problem->field + ": " + problem->message);
    }
}

listen_address parse_listen_address(std::string_view text) {
    auto bad = [&](const std::string& why) -> listen_address {
        throw config_error("invalid listen address '" + std::string(text) + "': " + why +
                           " (expected HOST:PORT such as 127.0.0.1:9187, [::1]:9187 or "
                           "localhost:0)");
    };
    const auto colon = text.rfind(':');
    if (colon == std::string_view::npos) return bad("no port");
    std::string_view host = text.substr(0, colon);
    const std::string_view port = text.substr(colon + 1);
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
        host = host.substr(1, host.size() - 2);
    else if (host.find(':') != std::string_view::npos)
        return bad("an IPv6 address needs brackets");
    unsigned value = 0;
    const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (port.empty() || ec != std::errc{} || end != port.data() + port.size() || value > 65535)
        return bad("the port must be a number from 0 to 65535");
    if (host.empty()) return bad("no host");
    boost::system::error_code address_error;
    boost::asio::ip::make_address(std::string(host), address_error);
    if (address_error && host != "localhost")
        return bad("the host must be an IP address or localhost");
    return {std::string(host), static_cast<unsigned short>(value)};
}

std::string format_duration(milliseconds d) {
    const auto ms = d.count();
    if (ms == 0) return "0s";
    if (ms % 3'600'000 == 0) return std::to_string(ms / 3'600'000) + "h";
    if (ms % 60'000 == 0) return std::to_string(ms / 60'000) + "m";
    if (ms % 1'000 == 0) return std::to_string(ms / 1'000) + "s";
    return std::to_string(ms) + "ms";
}

milliseconds parse_duration(std::string_view text) {
    auto bad = [&]() -> milliseconds {
        throw config_error("invalid duration '" + std::string(text) +
                           "' (expected e.g. 250ms, 30s, 5m, 1h, or a number of seconds)");
    };
    std::size_t end = 0;
    while (end < text.size() &&
           (std::isdigit(static_cast<unsigned char>(text[end])) || text[end] == '.'))
        ++end;
    if (end == 0) return bad();
    double value = 0;
    auto [ptr, ec] = std::from_chars(text.data(), text.data() + end, value);
    if (ec != std::errc{} || ptr != text.data() + end) return bad();
    const std::string_view unit = text.substr(end);
    double scale = 0;
    if (unit.empty() || unit == "s") {
        scale = 1'000;
    } else if (unit == "ms") {
        scale = 1;
    } else if (unit == "m") {
        scale = 60'000;
    } else if (unit == "h") {
        scale = 3'600'000;
    } else {
        return bad();
    }
    const double ms = std::round(value * scale);
    if (!std::isfinite(ms) || ms > 1e15) return bad();
    return milliseconds{static_cast<milliseconds::rep>(ms)};
}

db_url read_url_of(const database_config& db) {
    if (db.read_url) return *db.read_url;
    // The normalized URL parses back to itself (url_fuzz checks it); only the query changes.
    const std::string& key = db.url.pool_key();
    const auto q = key.find('?');
    std::string url = key.substr(0, q);
    std::string query;
    if (q != std::string::npos) {
        std::size_t start = q + 1;
        while (start <= key.size()) {
            auto end = key.find('&', start);
            if (end == std::string::npos) end = key.size();
            const std::string_view kv(key.data() + start, end - start);
            if (!kv.empty() && kv.rfind("target_session_attrs=", 0) != 0 &&
                kv.rfind("load_balance_hosts=", 0) != 0) {
                query += kv;
                query += '&';
            }
            start = end + 1;
        }
    }
    return db_url::parse(url + "?" + query +
                         "target_session_attrs=prefer-standby&load_balance_hosts=random");
}

}  // namespace connmgr
