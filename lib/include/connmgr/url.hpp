#pragma once
/// Database URLs: parsing, the normalized registry key, and the redacted display form.
///
/// PostgreSQL URLs are parsed by libpq's own `PQconninfoParse` (multi-host lists and every
/// libpq parameter included); the Redis family by Boost.URL.
///
/// \par Thread safety
/// Immutable after construction: safe to share and read from any thread.

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace connmgr {

enum class backend { postgres, redis, falkordb };

/// "postgres", "redis", "falkordb".
std::string_view to_string(backend b) noexcept;

/// Where and how to reach one Redis-protocol server (redis, rediss, unix, falkordb schemes).
struct redis_endpoint {
    std::string host;  ///< empty for a unix socket
    std::uint16_t port{6379};
    std::string socket_path;  ///< set for unix://
    std::string user;         ///< ACL user; empty = password-only AUTH
    std::string password;     ///< empty = no AUTH
    int db{0};                ///< SELECT after connect
    bool tls{false};          ///< rediss://
    std::string tls_ca_file;  ///< ?ssl_ca_certs=/path/ca.pem (redis-py's name); empty = system CAs
    bool tls_verify{true};    ///< ?ssl_cert_reqs=none turns verification off (redis-py's name)
};

class db_url {
public:
    db_url() = default;

    /// Parses `text`. Throws config_error (errc::invalid_url) with a message that never
    /// contains the password, naming what is wrong ("unsupported scheme 'mysql'").
    static db_url parse(std::string_view text);

    backend kind() const noexcept { return kind_; }

    /// Normalized: scheme aliases folded, host lower-cased, default port filled, query
    /// parameters sorted. Includes credentials: never print it.
    const std::string& pool_key() const noexcept { return key_; }

    /// Safe to print: the password replaced by "***".
    const std::string& redacted() const noexcept { return redacted_; }

    /// PostgreSQL only: libpq keyword/value pairs (PQconnectdbParams order), from
    /// PQconninfoParse, with only the parameters that were set.
    const std::vector<std::pair<std::string, std::string>>& pg_params() const noexcept {
        return pg_params_;
    }

    /// Redis family only.
    const redis_endpoint& redis() const noexcept { return redis_; }

    friend bool operator==(const db_url& a, const db_url& b) noexcept { return a.key_ == b.key_; }

private:
    backend kind_{backend::postgres};
    std::string key_;
    std::string redacted_;
    std::vector<std::pair<std::string, std::string>> pg_params_;
    redis_endpoint redis_;
};

}  // namespace connmgr
