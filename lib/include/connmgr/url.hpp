#pragma once
/// Database URLs: parsing, the normalized registry key, and the redacted display form.
///
/// PostgreSQL URLs are parsed by libpq's own `PQconninfoParse` (multi-host lists and every
/// libpq parameter included); the Redis family by Boost.URL, except the Sentinel forms
/// (`redis+sentinel://`, `rediss+sentinel://`, `falkordb+sentinel://`), whose host lists
/// connmgr parses itself (Boost.URL 1.81 mis-parses `h1:26379,h2:26379`).
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

/// One sentinel of a Sentinel URL.
struct sentinel_address {
    std::string host;  ///< lower-cased name or address (IPv6 without brackets)
    std::uint16_t port{26379};
    friend bool operator==(const sentinel_address&, const sentinel_address&) = default;
};

/// The Sentinel part of `redis+sentinel://[[user]:password@]h1[:26379][,h2...]/<service>[/<db>]`
/// (DESIGN §12). The user-info credentials are the data servers' (in redis_endpoint); the
/// sentinels' own come from `sentinel_user` / `sentinel_password`.
struct sentinel_options {
    std::vector<sentinel_address> sentinels;  ///< in the URL's order; asked in turn
    std::string service;                      ///< the monitored master's name
    std::string user;                         ///< ?sentinel_user=; empty = password-only AUTH
    std::string password;                     ///< ?sentinel_password=; empty = no AUTH
    bool tls{false};                          ///< ?sentinel_tls=true (rediss+sentinel only)
    bool replica{false};                      ///< ?role=replica (default role=master)
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

    /// Redis family only. For a Sentinel URL: the data servers' credentials, db and TLS; the
    /// host is empty (the sentinels name it).
    const redis_endpoint& redis() const noexcept { return redis_; }

    /// A `*+sentinel://` URL.
    bool is_sentinel() const noexcept { return !sentinel_.sentinels.empty(); }
    /// Sentinel URLs only (empty otherwise).
    const sentinel_options& sentinel() const noexcept { return sentinel_; }

    friend bool operator==(const db_url& a, const db_url& b) noexcept { return a.key_ == b.key_; }

private:
    backend kind_{backend::postgres};
    std::string key_;
    std::string redacted_;
    std::vector<std::pair<std::string, std::string>> pg_params_;
    redis_endpoint redis_;
    sentinel_options sentinel_;

    static db_url parse_sentinel(std::string_view text, const std::string& scheme,
                                 std::string_view raw_secret);
};

}  // namespace connmgr
