#pragma once
// Test-only: the CONNMGR_TEST_REDIS_* URLs as redis_endpoints (a tiny parser, so these tests
// do not depend on db_url::parse), and small helpers shared by the Redis integration tests.
#include <connmgr/config.hpp>
#include <connmgr/driver.hpp>
#include <connmgr/url.hpp>

#include <chrono>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>

namespace redis_test {

inline std::optional<std::string> env(const char* name) {
    const char* v = std::getenv(name);
    if (v == nullptr || *v == '\0') return std::nullopt;
    return std::string(v);
}

/// redis[s]://[user[:password]@]host[:port][/db][?ssl_ca_certs=...&ssl_cert_reqs=none]
inline connmgr::redis_endpoint parse_endpoint(std::string_view url) {
    connmgr::redis_endpoint ep;
    const auto scheme_end = url.find("://");
    ep.tls = url.substr(0, scheme_end) == "rediss";
    std::string_view rest = url.substr(scheme_end + 3);
    std::string_view query;
    if (auto q = rest.find('?'); q != std::string_view::npos) {
        query = rest.substr(q + 1);
        rest = rest.substr(0, q);
    }
    if (auto at = rest.rfind('@'); at != std::string_view::npos) {
        const std::string_view cred = rest.substr(0, at);
        rest = rest.substr(at + 1);
        if (auto colon = cred.find(':'); colon != std::string_view::npos) {
            ep.user = cred.substr(0, colon);
            ep.password = cred.substr(colon + 1);
        } else {
            ep.user = cred;
        }
    }
    std::string_view hostport = rest;
    if (auto slash = rest.find('/'); slash != std::string_view::npos) {
        hostport = rest.substr(0, slash);
        const std::string_view db = rest.substr(slash + 1);
        if (!db.empty()) ep.db = std::stoi(std::string(db));
    }
    if (auto colon = hostport.rfind(':'); colon != std::string_view::npos) {
        ep.host = hostport.substr(0, colon);
        ep.port = static_cast<std::uint16_t>(std::stoi(std::string(hostport.substr(colon + 1))));
    } else {
        ep.host = hostport;
    }
    while (!query.empty()) {
        const auto amp = query.find('&');
        const std::string_view kv = query.substr(0, amp);
        query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
        const auto eq = kv.find('=');
        const std::string_view k = kv.substr(0, eq);
        const std::string_view v = eq == std::string_view::npos ? "" : kv.substr(eq + 1);
        if (k == "ssl_ca_certs") ep.tls_ca_file = v;
        if (k == "ssl_cert_reqs" && v == "none") ep.tls_verify = false;
    }
    return ep;
}

inline std::optional<connmgr::redis_endpoint> endpoint(const char* var) {
    auto url = env(var);
    if (!url) return std::nullopt;
    return parse_endpoint(*url);
}

/// A key no other test (or earlier run) uses.
inline std::string unique_key(std::string_view what) {
    static int counter = 0;
    return "connmgr-test:" + std::string(what) + ":" +
           std::to_string(std::chrono::steady_clock::now().time_since_epoch().count()) + ":" +
           std::to_string(++counter);
}

inline connmgr::steady_time in(std::chrono::milliseconds d) {
    return std::chrono::steady_clock::now() + d;
}

}  // namespace redis_test

#define REDIS_ENDPOINT_OR_SKIP(var, name)                  \
    auto name##_opt = redis_test::endpoint(var);           \
    if (!name##_opt) GTEST_SKIP() << var << " is not set"; \
    const connmgr::redis_endpoint& name = *name##_opt
