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

}  // namespace

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
                        fail(raw_secret, "PostgreSQL: load_balance_hosts must be disable or "
                                         "random, not '" + balance + "'");
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
                fail(raw_secret, "PostgreSQL: target_session_attrs must be one of any, "
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

    if (scheme != "redis" && scheme != "rediss" && scheme != "unix" && scheme != "falkordb")
        fail(raw_secret, "unsupported scheme '" + scheme +
                             "' (supported: postgresql, postgres, redis, rediss, unix, falkordb)");

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
