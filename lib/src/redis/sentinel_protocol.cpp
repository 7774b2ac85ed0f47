#include "sentinel_protocol.hpp"

#include <algorithm>
#include <charconv>

namespace connmgr::redis::detail {

namespace {

// The words of an error reply; never empty, so a refusal always says why.
std::string error_words(const reply& r) {
    std::string words = r.str();
    return words.empty() ? std::string("an empty error reply") : words;
}

bool text_of(const reply& r, std::string& out) {
    if (!r.is_string() && !r.is_status()) return false;
    out = r.str();
    return true;
}

bool port_of(std::string_view text, std::uint16_t& out) {
    unsigned value = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (text.empty() || ec != std::errc{} || end != text.data() + text.size() || value == 0 ||
        value > 65535)
        return false;
    out = static_cast<std::uint16_t>(value);
    return true;
}

// A port given as a bulk string or an integer (ROLE gives a replica's master port as one).
bool port_of(const reply& r, std::uint16_t& out) {
    if (r.is_integer()) {
        const long long v = r.integer();
        if (v <= 0 || v > 65535) return false;
        out = static_cast<std::uint16_t>(v);
        return true;
    }
    std::string text;
    return text_of(r, text) && port_of(text, out);
}

template <class T>
parsed<T> failure(std::string why) {
    return parsed<T>{std::nullopt, std::move(why)};
}

template <class T>
parsed<T> success(T value) {
    return parsed<T>{std::move(value), {}};
}

std::vector<std::string> words(std::string_view s) {
    std::vector<std::string> out;
    std::size_t i = 0;
    while (i < s.size()) {
        while (i < s.size() && s[i] == ' ') ++i;
        const auto start = i;
        while (i < s.size() && s[i] != ' ') ++i;
        if (i > start) out.emplace_back(s.substr(start, i - start));
    }
    return out;
}

}  // namespace

std::string server_address::name() const {
    const std::string p = std::to_string(port);
    if (host.find(':') != std::string::npos) return "[" + host + "]:" + p;
    return host + ":" + p;
}

parsed<server_address> parse_master_addr(const reply& r, std::string_view service) {
    if (r.is_error()) return failure<server_address>(error_words(r));
    if (r.is_nil())
        return failure<server_address>("does not know the service '" + std::string(service) + "'");
    if (!r.is_array() || r.size() != 2)
        return failure<server_address>("expected [host, port], got " + r.describe());
    server_address a;
    if (!text_of(r[0], a.host) || a.host.empty())
        return failure<server_address>("expected a host, got " + r[0].describe());
    if (!port_of(r[1], a.port))
        return failure<server_address>("expected a port, got " + r[1].describe());
    return success(std::move(a));
}

bool replica_info::usable() const noexcept {
    for (const auto& f : flags)
        if (f == "s_down" || f == "o_down" || f == "disconnected") return false;
    return true;
}

parsed<std::vector<replica_info>> parse_replicas(const reply& r, std::string_view service) {
    using result = std::vector<replica_info>;
    if (r.is_error()) return failure<result>(error_words(r));
    if (r.is_nil())
        return failure<result>("does not know the service '" + std::string(service) + "'");
    if (!r.is_array()) return failure<result>("expected a list of replicas, got " + r.describe());
    result out;
    for (const auto& entry : r.elements()) {
        if (!entry.is_array())
            return failure<result>("expected a replica's field list, got " + entry.describe());
        replica_info info;
        bool has_port = false;
        std::string key, value;
        for (std::size_t i = 0; i + 1 < entry.size(); i += 2) {
            if (!text_of(entry[i], key) || !text_of(entry[i + 1], value)) continue;
            if (key == "ip") {
                info.address.host = value;
            } else if (key == "port") {
                has_port = port_of(std::string_view(value), info.address.port);
            } else if (key == "flags") {
                info.flags.clear();
                std::size_t start = 0;
                while (start <= value.size()) {
                    auto comma = value.find(',', start);
                    if (comma == std::string::npos) comma = value.size();
                    if (comma > start) info.flags.push_back(value.substr(start, comma - start));
                    start = comma + 1;
                }
            }
        }
        if (info.address.host.empty() || !has_port) continue;
        out.push_back(std::move(info));
    }
    return success(std::move(out));
}

parsed<role_info> parse_role(const reply& r) {
    if (r.is_error()) return failure<role_info>(error_words(r));
    if (!r.is_array() || r.size() == 0)
        return failure<role_info>("expected ROLE's list, got " + r.describe());
    std::string kind;
    if (!text_of(r[0], kind)) return failure<role_info>("expected a role, got " + r[0].describe());
    role_info info;
    if (kind == "master") {
        info.role = role_info::kind::master;
    } else if (kind == "slave" || kind == "replica") {
        info.role = role_info::kind::replica;
        if (r.size() >= 3) {
            server_address m;
            if (text_of(r[1], m.host) && !m.host.empty() && port_of(r[2], m.port))
                info.master = std::move(m);
        }
        if (r.size() >= 4) text_of(r[3], info.link);
    } else if (kind == "sentinel") {
        info.role = role_info::kind::sentinel;
    } else {
        return failure<role_info>("unknown role '" + kind + "'");
    }
    return success(std::move(info));
}

parsed<switch_master> parse_switch_master(std::string_view payload) {
    const auto w = words(payload);
    if (w.size() != 5)
        return failure<switch_master>(
            "expected '<service> <old-ip> <old-port> <new-ip> "
            "<new-port>', got " +
            std::to_string(w.size()) + " words");
    switch_master s;
    s.service = w[0];
    s.from.host = w[1];
    s.to.host = w[3];
    if (!port_of(std::string_view(w[2]), s.from.port) ||
        !port_of(std::string_view(w[4]), s.to.port))
        return failure<switch_master>("invalid port in +switch-master");
    return success(std::move(s));
}

parsed<switch_master> parse_promoted(std::string_view payload) {
    const auto w = words(payload);
    if (w.size() != 8 || w[4] != "@")
        return failure<switch_master>(
            "expected '<type> <name> <ip> <port> @ <service> "
            "<master-ip> <master-port>'");
    switch_master s;
    s.service = w[5];
    s.to.host = w[2];
    s.from.host = w[6];
    if (!port_of(std::string_view(w[3]), s.to.port) ||
        !port_of(std::string_view(w[7]), s.from.port))
        return failure<switch_master>("invalid port in +promoted-slave");
    return success(std::move(s));
}

pubsub_event parse_pubsub(const reply& r) {
    if (r.is_error()) return malformed{error_words(r)};
    if (!r.is_array() || r.size() < 3)
        return malformed{"expected a pub/sub message, got " + r.describe()};
    std::string kind, channel;
    if (!text_of(r[0], kind) || !text_of(r[1], channel))
        return malformed{"expected a pub/sub message, got " + r.describe()};
    if (kind == "subscribe" || kind == "psubscribe") {
        if (!r[2].is_integer())
            return malformed{"expected a subscription count, got " + r[2].describe()};
        return subscribed{channel, r[2].integer()};
    }
    if (kind != "message" && kind != "pmessage")
        return malformed{"unexpected pub/sub kind '" + kind + "'"};
    // pmessage: [pmessage, pattern, channel, payload]
    const reply* payload = &r[2];
    if (kind == "pmessage") {
        if (r.size() < 4 || !text_of(r[2], channel))
            return malformed{"expected [pmessage, pattern, channel, payload]"};
        payload = &r[3];
    }
    if (channel != "+switch-master" && channel != "+promoted-slave") return other_message{channel};
    std::string text;
    if (!text_of(*payload, text))
        return malformed{"expected a payload, got " + payload->describe()};
    auto s = channel == "+switch-master" ? parse_switch_master(text) : parse_promoted(text);
    if (!s) return malformed{s.error};
    return std::move(*s.value);
}

}  // namespace connmgr::redis::detail
