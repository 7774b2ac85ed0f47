#include "connect_failure.hpp"

#include <array>

namespace connmgr::pg::detail {

namespace {

bool contains(std::string_view text, std::string_view part) noexcept {
    return text.find(part) != std::string_view::npos;
}

// SQLSTATE class 53 (53300 too_many_connections) and PgBouncer's pool limits.
constexpr std::array server_full{
    std::string_view{"too many clients already"},
    std::string_view{"too many connections for role"},
    std::string_view{"too many connections for database"},
    std::string_view{"remaining connection slots are reserved"},
    std::string_view{"no more connections allowed"},  // PgBouncer max_client_conn
};

// 28P01, 28000, 3D000, 42501 and their PgBouncer forms; libpq's own for a missing password
// and TLS verification.
constexpr std::array permanent{
    std::string_view{"password authentication failed"},
    std::string_view{"authentication failed"},
    std::string_view{"no pg_hba.conf entry"},
    std::string_view{"does not exist"},    // database "x" / role "x" does not exist
    std::string_view{"no such database"},  // PgBouncer
    std::string_view{"no such user"},      // PgBouncer
    std::string_view{"permission denied for database"},
    std::string_view{"not permitted to log in"},
    std::string_view{"does not have CONNECT privilege"},
    std::string_view{"no password supplied"},
    std::string_view{"password is required"},
    std::string_view{"server does not support SSL"},
    std::string_view{"certificate verify failed"},
    std::string_view{"does not match host name"},
    std::string_view{"root certificate file"},
    std::string_view{"SSL error: tlsv1 alert"},
};

}  // namespace

connect_failure classify_connect_error(std::string_view message) noexcept {
    for (auto part : server_full)
        if (contains(message, part)) return connect_failure::server_full;
    for (auto part : permanent)
        if (contains(message, part)) return connect_failure::permanent;
    return connect_failure::transient;
}

}  // namespace connmgr::pg::detail
