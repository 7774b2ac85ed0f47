#include <connmgr/error.hpp>
#include <connmgr/url.hpp>

#include <arpa/inet.h>

#include <libpq-fe.h>
#include <boost/url/encode.hpp>
#include <boost/url/grammar/lut_chars.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/rfc/unreserved_chars.hpp>
#include <boost/url/url_view.hpp>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <map>
#include <memory>
#include <optional>

namespace connmgr {

std::string_view to_string(backend b) noexcept {
    switch (b) {
        case backend::postgres: return "postgres";
        case backend::redis: return "redis";
        case backend::falkordb: return "falkordb";
    }
    return "unknown";
}

namespace {

std::string lower(std::string_view s) {
    std::string out(s);
    std::transform(out.begin(), out.end(), out.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return out;
}

std::string pct(std::string_view s) {
    return boost::urls::encode(s, boost::urls::unreserved_chars);
}

// Query values and socket paths stay readable: '/', ':' and '@' need no escaping there.
std::string pct_value(std::string_view s) {
    static constexpr boost::urls::grammar::lut_chars chars =
        boost::urls::unreserved_chars + boost::urls::grammar::lut_chars("/:@,");
    return boost::urls::encode(s, chars);
}

// A PostgreSQL host: a name, an address (IPv6 in brackets) or a socket directory. A socket
// directory's slashes are percent-encoded (libpq's own spelling), so the key and the redacted
// form parse back to the same host instead of a path.
std::string pg_host(const std::string& host) {
    // Only a real IPv6 address goes in brackets: a name holding ':' or '@' (percent-encoded in
    // the URL) is percent-encoded again, or the key would not parse back (found by the fuzzer).
    in6_addr v6{};
    if (host.find(':') != std::string::npos && ::inet_pton(AF_INET6, host.c_str(), &v6) == 1)
        return "[" + host + "]";
    return pct(host);
}

// Every message is scrubbed of `secret`: parts of a malformed URL are quoted back, and with an
// unescaped '?', '#' or '/' in the password the quoted part can be the password.
[[noreturn]] void fail(std::string_view secret, const std::string& what);

// Never echo a password: error texts from libraries may quote parts of the URL.
std::string scrub(std::string message, std::string_view secret) {
    if (secret.empty()) return message;
    for (auto pos = message.find(secret); pos != std::string::npos;
         pos = message.find(secret, pos + 3)) {
        message.replace(pos, secret.size(), "***");
    }
    return message;
}

[[noreturn]] void fail(std::string_view secret, const std::string& what) {
    throw config_error("invalid URL: " + scrub(what, secret), errc::invalid_url);
}

// The raw password of `scheme://user:password@host...`, only to scrub it from error messages.
std::string_view raw_password(std::string_view text) {
    auto start = text.find("://");
    if (start == std::string_view::npos) return {};
    auto rest = text.substr(start + 3);
    auto at = rest.rfind('@');
    if (at == std::string_view::npos) return {};
    auto userinfo = rest.substr(0, at);
    auto colon = userinfo.find(':');
    return colon == std::string_view::npos ? std::string_view{} : userinfo.substr(colon + 1);
}

std::vector<std::string> split(std::string_view s, char sep) {
    std::vector<std::string> out;
    std::size_t start = 0;
    while (true) {
        auto pos = s.find(sep, start);
        out.emplace_back(s.substr(start, pos == std::string_view::npos ? pos : pos - start));
        if (pos == std::string_view::npos) break;
        start = pos + 1;
    }
    return out;
}

std::string join(const std::vector<std::string>& parts, char sep) {
    std::string out;
    for (std::size_t i = 0; i < parts.size(); ++i) {
        if (i) out += sep;
        out += parts[i];
    }
    return out;
}

// Builds `scheme://[user[:password]@]hosts/path?sorted query` with `password` shown as given.
std::string assemble(std::string_view scheme, const std::string& user, const std::string* password,
                     const std::string& hosts, const std::string& path,
                     const std::map<std::string, std::string>& query) {
    std::string out{scheme};
    out += "://";
    if (!user.empty() || password) {
        out += pct(user);
        if (password) out += ":" + *password;
        out += "@";
    }
    out += hosts;
    out += path;
    char sep = '?';
    for (const auto& [k, v] : query) {
        out += sep;
        out += pct(k) + "=" + pct_value(v);
        sep = '&';
    }
    return out;
}

// Percent-decodes `s`; nullopt on a malformed escape.
std::optional<std::string> pct_decode(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    auto hex = [](char c) -> int {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        if (c >= 'A' && c <= 'F') return c - 'A' + 10;
        return -1;
    };
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] != '%') {
            out += s[i];
            continue;
        }
        if (i + 2 >= s.size()) return std::nullopt;
        const int hi = hex(s[i + 1]), lo = hex(s[i + 2]);
        if (hi < 0 || lo < 0) return std::nullopt;
        out += static_cast<char>(hi * 16 + lo);
        i += 2;
    }
    return out;
}

bool parse_port(std::string_view port, std::uint16_t& out) {
    unsigned value = 0;
    auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (ec != std::errc{} || end != port.data() + port.size() || value == 0 || value > 65535)
        return false;
    out = static_cast<std::uint16_t>(value);
    return true;
}

bool parse_db(std::string_view digits, int& out) {
    int db = 0;
    auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), db);
    if (digits.empty() || ec != std::errc{} || end != digits.data() + digits.size() || db < 0)
        return false;
    out = db;
    return true;
}

// The raw value of `sentinel_password=` in the query, only to scrub it from error messages.
std::string_view raw_query_value(std::string_view text, std::string_view key) {
    const auto q = text.find('?');
    if (q == std::string_view::npos) return {};
    std::string_view rest = text.substr(q + 1);
    while (!rest.empty()) {
        const auto amp = rest.find('&');
        const auto kv = rest.substr(0, amp);
        if (kv.size() > key.size() && kv.substr(0, key.size()) == key && kv[key.size()] == '=')
            return kv.substr(key.size() + 1);
        if (amp == std::string_view::npos) break;
        rest = rest.substr(amp + 1);
    }
    return {};
}

}  // namespace

// redis+sentinel://[[user]:password@]h1[:26379][,h2[:port]...]/<service>[/<db>][?query]
// Parsed here rather than by Boost.URL, which reads a host list as one registered name.
db_url db_url::parse_sentinel(std::string_view text, const std::string& scheme,
                              std::string_view raw_secret) {
    const std::string_view raw_sentinel_secret = raw_query_value(text, "sentinel_password");
    auto bad = [&](const std::string& what) {
        fail(raw_secret, scrub(scheme + ": " + what, raw_sentinel_secret));
    };
    db_url u;
    u.kind_ = scheme == "falkordb+sentinel" ? backend::falkordb : backend::redis;
    redis_endpoint& r = u.redis_;
    sentinel_options& s = u.sentinel_;
    r.host.clear();
    r.tls = scheme == "rediss+sentinel";

    std::string_view rest = text.substr(text.find("://") + 3);
    if (rest.find('#') != std::string_view::npos) bad("a fragment ('#') is not allowed");
    std::string_view query_text;
    if (const auto q = rest.find('?'); q != std::string_view::npos) {
        query_text = rest.substr(q + 1);
        rest = rest.substr(0, q);
    }
    std::string_view path_text;
    // The user-info ends at the last '@' before the path (a password's '/' must be encoded).
    const auto slash = rest.find('/');
    std::string_view authority = rest.substr(0, slash);
    if (slash != std::string_view::npos) path_text = rest.substr(slash);
    if (const auto at = authority.rfind('@'); at != std::string_view::npos) {
        const auto userinfo = authority.substr(0, at);
        authority = authority.substr(at + 1);
        const auto colon = userinfo.find(':');
        auto user = pct_decode(userinfo.substr(0, colon));
        if (!user) bad("malformed percent-escape in the user name");
        r.user = *user;
        if (colon != std::string_view::npos) {
            auto password = pct_decode(userinfo.substr(colon + 1));
            if (!password) bad("malformed percent-escape in the password");
            r.password = *password;
        }
    }
    if (authority.empty())
        bad("missing the sentinel list (e.g. " + scheme + "://h1:26379,h2:26379/mymaster)");

    std::vector<std::string> endpoints;
    const auto hosts = split(authority, ',');
    for (std::size_t i = 0; i < hosts.size(); ++i) {
        const std::string& item = hosts[i];
        const std::string which =
            "sentinel " + std::to_string(i + 1) + " of " + std::to_string(hosts.size());
        if (item.empty()) bad(which + " in the host list is empty");
        sentinel_address a;
        std::string_view port_text;
        if (item.front() == '[') {
            const auto close = item.find(']');
            if (close == std::string::npos) bad(which + ": unterminated '[' in an IPv6 address");
            a.host = lower(item.substr(1, close - 1));
            in6_addr v6{};
            if (::inet_pton(AF_INET6, a.host.c_str(), &v6) != 1)
                bad(which + ": '" + a.host + "' is not an IPv6 address");
            const std::string_view after = std::string_view(item).substr(close + 1);
            if (!after.empty()) {
                if (after.front() != ':') bad(which + ": expected ':port' after ']'");
                port_text = after.substr(1);
                if (port_text.empty()) bad(which + ": empty port");
            }
        } else {
            const auto colon = item.rfind(':');
            auto host = pct_decode(std::string_view(item).substr(0, colon));
            if (!host) bad(which + ": malformed percent-escape in the host");
            a.host = lower(*host);
            if (a.host.empty()) bad(which + " has an empty host");
            if (colon != std::string::npos) {
                port_text = std::string_view(item).substr(colon + 1);
                if (port_text.empty()) bad(which + ": empty port");
            }
        }
        if (!port_text.empty() && !parse_port(port_text, a.port))
            bad(which + ": invalid port '" + std::string(port_text) + "'");
        in6_addr v6{};
        const bool ipv6 = a.host.find(':') != std::string::npos &&
                          ::inet_pton(AF_INET6, a.host.c_str(), &v6) == 1;
        endpoints.push_back((ipv6 ? "[" + a.host + "]" : pct(a.host)) + ":" +
                            std::to_string(a.port));
        s.sentinels.push_back(std::move(a));
    }

    // /<service>[/<db>]
    const auto segments = split(path_text.empty() ? std::string_view{} : path_text.substr(1), '/');
    if (path_text.empty() || segments.empty() || segments[0].empty())
        bad("missing the service name (e.g. " + scheme + "://h1:26379,h2:26379/mymaster)");
    auto service = pct_decode(segments[0]);
    if (!service) bad("malformed percent-escape in the service name");
    s.service = *service;
    if (segments.size() > 2 ||
        (segments.size() == 2 && !segments[1].empty() && !parse_db(segments[1], r.db)))
        bad("the path must be /<service>[/<db number>], e.g. /mymaster/0");

    std::map<std::string, std::string> query;
    for (const auto& kv : split(query_text, '&')) {
        if (kv.empty()) continue;
        const auto eq = kv.find('=');
        auto key = pct_decode(std::string_view(kv).substr(0, eq));
        auto value = pct_decode(eq == std::string::npos ? std::string_view{}
                                                        : std::string_view(kv).substr(eq + 1));
        if (!key || !value) bad("malformed percent-escape in the query");
        if (*key == "role") {
            const auto role = lower(*value);
            if (role != "master" && role != "replica")
                bad("role must be master or replica, not '" + *value + "'");
            s.replica = role == "replica";
        } else if (*key == "sentinel_user") {
            s.user = *value;
        } else if (*key == "sentinel_password") {
            s.password = *value;
        } else if (*key == "sentinel_tls") {
            const auto v = lower(*value);
            if (v != "true" && v != "false") bad("sentinel_tls must be true or false");
            s.tls = v == "true";
        } else if (*key == "db") {
            if (!parse_db(*value, r.db)) bad("db must be a database number");
        } else if (*key == "ssl_ca_certs") {
            r.tls_ca_file = *value;
        } else if (*key == "ssl_cert_reqs") {
            const auto reqs = lower(*value);
            if (reqs != "none" && reqs != "required") bad("ssl_cert_reqs must be none or required");
            r.tls_verify = reqs == "required";
        } else {
            bad("unknown query parameter '" + *key +
                "' (known: role, sentinel_user, sentinel_password, sentinel_tls, db, "
                "ssl_ca_certs, ssl_cert_reqs)");
        }
    }
    if (s.tls && !r.tls) bad("sentinel_tls=true needs rediss+sentinel://");

    // The key: defaults filled (ports), defaults of the query left out (role=master,
    // sentinel_tls=false, ssl_cert_reqs=required), the rest sorted.
    if (s.replica) query["role"] = "replica";
    if (!s.user.empty()) query["sentinel_user"] = s.user;
    if (s.tls) query["sentinel_tls"] = "true";
    if (!r.tls_ca_file.empty()) query["ssl_ca_certs"] = r.tls_ca_file;
    if (!r.tls_verify) query["ssl_cert_reqs"] = "none";
    const std::string hostlist = join(endpoints, ',');
    const std::string path = "/" + pct(s.service) + "/" + std::to_string(r.db);
    const std::string stars = "***";
    const std::string secret = pct(r.password);
    const bool has_password = !r.password.empty();
    auto key_query = query;
    if (!s.password.empty()) {
        key_query["sentinel_password"] = s.password;
        query["sentinel_password"] = stars;
    }
    u.key_ = assemble(scheme, r.user, has_password ? &secret : nullptr, hostlist, path, key_query);
    u.redacted_ = assemble(scheme, r.user, has_password ? &stars : nullptr, hostlist, path, query);
    // assemble() percent-encodes query values; the stars read better as they are.
    if (!s.password.empty()) {
        const std::string encoded = "sentinel_password=%2A%2A%2A";
        if (auto at = u.redacted_.find(encoded); at != std::string::npos)
            u.redacted_.replace(at, encoded.size(), "sentinel_password=***");
    }
    return u;
}

db_url db_url::parse(std::string_view text) {
    const std::string_view raw_secret = raw_password(text);
    // libpq reads C strings: it would parse only what precedes a NUL, so the key would not
    // describe the whole text (found by tests/fuzz/url_fuzz.cpp).
    if (const auto nul = text.find('\0'); nul != std::string_view::npos)
        fail(raw_secret, "a NUL byte at offset " + std::to_string(nul) +
                             " (percent-encode it if it is really meant)");
    const auto colon = text.find("://");
    if (colon == std::string_view::npos)
        fail(raw_secret, "expected scheme://..., e.g. postgresql:// or redis://");
    const std::string scheme = lower(text.substr(0, colon));
    db_url u;

    if (scheme == "postgresql" || scheme == "postgres") {
        u.kind_ = backend::postgres;
        // libpq only knows the lower-case schemes; give it the rest verbatim.
        std::string conninfo = "postgresql" + std::string(text.substr(colon));
        // load_balance_hosts is libpq 16's name, implemented by connmgr: libpq 15 would refuse
        // it, so it is taken out of the query here and kept as a parameter of connmgr's own.
        std::string balance;
        if (auto q = conninfo.find('?'); q != std::string::npos) {
            std::string query = conninfo.substr(q + 1), kept;
            conninfo.resize(q);
            for (const auto& kv : split(query, '&')) {
                if (kv.rfind("load_balance_hosts=", 0) == 0) {
                    balance = kv.substr(std::string_view("load_balance_hosts=").size());
                    if (balance != "disable" && balance != "random")
                        fail(raw_secret,
                             "PostgreSQL: load_balance_hosts must be disable or "
                             "random, not '" +
                                 balance + "'");
                } else if (!kv.empty()) {
                    kept += (kept.empty() ? "" : "&") + kv;
                }
            }
            if (!kept.empty()) conninfo += "?" + kept;
        }
        char* err = nullptr;
        std::unique_ptr<PQconninfoOption, decltype(&PQconninfoFree)> opts(
            PQconninfoParse(conninfo.c_str(), &err), &PQconninfoFree);
        if (!opts) {
            std::string message = err ? err : "out of memory";
            if (err) PQfreemem(err);
            while (!message.empty() && std::isspace(static_cast<unsigned char>(message.back())))
                message.pop_back();
            fail(raw_secret, message);
        }
        std::map<std::string, std::string> params;
        for (auto* o = opts.get(); o->keyword; ++o) {
            if (!o->val) continue;
            u.pg_params_.emplace_back(o->keyword, o->val);
            params[o->keyword] = o->val;
        }
        if (!balance.empty()) {
            u.pg_params_.emplace_back("load_balance_hosts", balance);
            params["load_balance_hosts"] = balance;
        }
        if (auto t = params.find("target_session_attrs"); t != params.end()) {
            static constexpr std::string_view known[] = {"any",     "read-write", "read-only",
                                                         "primary", "standby",    "prefer-standby"};
            if (std::find(std::begin(known), std::end(known), t->second) == std::end(known))
                fail(raw_secret,
                     "PostgreSQL: target_session_attrs must be one of any, "
                     "read-write, read-only, primary, standby, prefer-standby, not '" +
                         t->second + "'");
        }
        auto take = [&](const char* key) {
            auto it = params.find(key);
            if (it == params.end()) return std::string{};
            auto v = std::move(it->second);
            params.erase(it);
            return v;
        };
        const std::string user = take("user");
        const bool has_password = params.count("password") != 0;
        const std::string password = take("password");
        const std::string dbname = take("dbname");
        auto hosts = split(take("host"), ',');
        auto ports = split(take("port"), ',');
        if (ports.size() != 1 && ports.size() != hosts.size())
            fail(raw_secret, "PostgreSQL: " + std::to_string(ports.size()) + " ports for " +
                                 std::to_string(hosts.size()) + " hosts");
        std::vector<std::string> endpoints;
        for (std::size_t i = 0; i < hosts.size(); ++i) {
            std::string host = hosts[i];
            if (host.empty() && hosts.size() > 1)
                fail(raw_secret, "PostgreSQL: host " + std::to_string(i + 1) + " of " +
                                     std::to_string(hosts.size()) + " in the host list is empty");
            // A path is a unix socket directory: case matters there.
            if (host.empty() || host.front() != '/') host = lower(host);
            std::string port = ports.size() == 1 ? ports[0] : ports[i];
            if (port.empty()) port = "5432";
            unsigned value = 0;
            auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
            if (ec != std::errc{} || end != port.data() + port.size() || value == 0 ||
                value > 65535)
                fail(raw_secret, "PostgreSQL: invalid port '" + port + "'");
            endpoints.push_back(pg_host(host) + ":" + port);
        }
        const std::string hostlist = join(endpoints, ',');
        const std::string path = "/" + pct(dbname);
        const std::string stars = "***";
        const std::string secret = pct(password);
        u.key_ =
            assemble("postgresql", user, has_password ? &secret : nullptr, hostlist, path, params);
        u.redacted_ =
            assemble("postgresql", user, has_password ? &stars : nullptr, hostlist, path, params);
        return u;
    }

    if (scheme == "redis+sentinel" || scheme == "rediss+sentinel" || scheme == "falkordb+sentinel")
        return parse_sentinel(text, scheme, raw_secret);
    if (scheme != "redis" && scheme != "rediss" && scheme != "unix" && scheme != "falkordb")
        fail(raw_secret, "unsupported scheme '" + scheme +
                             "' (supported: postgresql, postgres, redis, rediss, unix, falkordb, "
                             "redis+sentinel, rediss+sentinel, falkordb+sentinel)");

    u.kind_ = scheme == "falkordb" ? backend::falkordb : backend::redis;
    auto parsed = boost::urls::parse_uri(boost::urls::string_view(text.data(), text.size()));
    if (!parsed) fail(raw_secret, scheme + ": " + parsed.error().message());
    const boost::urls::url_view& v = *parsed;

    redis_endpoint& r = u.redis_;
    r.tls = scheme == "rediss";
    if (v.has_userinfo()) {
        r.user = v.user();
        if (v.has_password()) r.password = v.password();
    }
    std::string hostpart;
    std::string path = v.path();
    if (scheme == "unix") {
        if (path.find_first_not_of('/') == std::string::npos)
            fail(raw_secret, "unix: missing socket path (unix:///path/to/sock)");
        if (!v.encoded_host().empty())
            fail(raw_secret, "unix: expected unix:///path/to/sock, not a host");
        r.socket_path = path;
        r.port = 0;
    } else {
        if (v.host_type() == boost::urls::host_type::ipv6) {
            r.host = std::string(v.host_address());
            hostpart = "[" + lower(r.host) + "]";
        } else {
            r.host = lower(std::string(v.host()));
            hostpart = pct(r.host);
        }
        if (r.host.empty()) fail(raw_secret, scheme + ": missing host");
        if (v.has_port() && !v.port().empty()) {
            auto port = std::string(v.port());
            unsigned value = 0;
            auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
            if (ec != std::errc{} || end != port.data() + port.size() || value == 0 ||
                value > 65535)
                fail(raw_secret, scheme + ": invalid port '" + port + "'");
            r.port = static_cast<std::uint16_t>(value);
        }
        hostpart += ":" + std::to_string(r.port);
        if (!path.empty() && path != "/") {
            std::string_view digits = std::string_view(path).substr(1);
            int db = 0;
            auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), db);
            if (ec != std::errc{} || end != digits.data() + digits.size() || db < 0)
                fail(raw_secret, scheme + ": the path must be a database number, e.g. /0");
            r.db = db;
        }
    }
    std::map<std::string, std::string> query;
    for (auto p : v.params()) {
        std::string key(p.key);
        std::string value(p.value);
        if (key == "db") {
            int db = 0;
            auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), db);
            if (ec != std::errc{} || end != value.data() + value.size() || db < 0)
                fail(raw_secret, scheme + ": db must be a database number");
            r.db = db;
        } else if (key == "ssl_ca_certs") {
            r.tls_ca_file = value;
            query[key] = value;
        } else if (key == "ssl_cert_reqs") {
            const auto reqs = lower(value);
            if (reqs == "none") {
                r.tls_verify = false;
            } else if (reqs == "required") {
                r.tls_verify = true;
            } else {
                fail(raw_secret, scheme + ": ssl_cert_reqs must be none or required");
            }
            query[key] = reqs;
        } else {
            fail(raw_secret, scheme + ": unknown query parameter '" + key +
                                 "' (known: db, ssl_ca_certs, ssl_cert_reqs)");
        }
    }
    const std::string stars = "***";
    const std::string secret = pct(r.password);
    const bool has_password = !r.password.empty();
    std::string tail;
    if (scheme == "unix") {
        tail = r.socket_path;
        query["db"] = std::to_string(r.db);
    } else {
        tail = "/" + std::to_string(r.db);
    }
    std::string encoded_tail;
    if (scheme == "unix") {
        // Keep the slashes of the socket path readable.
        for (const auto& seg : split(tail, '/')) {
            if (!encoded_tail.empty() || !seg.empty()) encoded_tail += "/" + pct_value(seg);
        }
    } else {
        encoded_tail = tail;
    }
    u.key_ =
        assemble(scheme, r.user, has_password ? &secret : nullptr, hostpart, encoded_tail, query);
    u.redacted_ =
        assemble(scheme, r.user, has_password ? &stars : nullptr, hostpart, encoded_tail, query);
    return u;
}

}  // namespace connmgr
