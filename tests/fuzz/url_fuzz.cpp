// Fuzz target: db_url::parse. Besides "no crash, only config_error", it checks what the rest of
// connmgr relies on: the pool key is a fixed point (re-parsing it gives the same key, so two
// spellings of a URL share one pool), and the redacted form is a URL that never carries the
// password, while no error message quotes it.

#include "fuzz_check.hpp"

#include <connmgr/error.hpp>
#include <connmgr/url.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace {

using connmgr::db_url;

// Seeds spell their passwords with this marker, so the fuzzer keeps producing URLs whose
// password we know without re-implementing the URL grammar here.
constexpr std::string_view marker = "fzPw7Qx9kT";

// nullopt when the URL has no password (a PostgreSQL URL can set an empty one).
std::optional<std::string> password_of(const db_url& u) {
    if (u.kind() != connmgr::backend::postgres) {
        if (u.redis().password.empty()) return std::nullopt;
        return u.redis().password;
    }
    for (const auto& [key, value] : u.pg_params())
        if (key == "password") return value;
    return std::nullopt;
}

bool contains(std::string_view text, std::string_view part) {
    return text.find(part) != std::string_view::npos;
}

std::size_t count(std::string_view text, std::string_view part) {
    std::size_t n = 0;
    for (auto pos = text.find(part); pos != std::string_view::npos; pos = text.find(part, pos + 1))
        ++n;
    return n;
}

std::string_view typed_password(std::string_view text) {
    const auto scheme_end = text.find("://");
    if (scheme_end == std::string_view::npos) return {};
    const auto rest = text.substr(scheme_end + 3);
    const auto at = rest.rfind('@');
    if (at == std::string_view::npos) return {};
    const auto userinfo = rest.substr(0, at);
    const auto colon = userinfo.find(':');
    return colon == std::string_view::npos ? std::string_view{} : userinfo.substr(colon + 1);
}

db_url reparse(const std::string& text, const char* what) {
    try {
        return db_url::parse(text);
    } catch (const connmgr::config_error& e) {
        connmgr::fuzz::invariant_failed(what, e.what(), __FILE__, __LINE__);
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    // The marker is a secret we can track when it is, as typed, where a password goes:
    // `scheme://user:MARKER@rest` with the last '@' (a password may hold '?', '#' or '/' that
    // the grammar then reads as the start of a query, fragment or path: messages must not
    // quote it either).
    const bool marked = count(text, marker) == 1 && typed_password(text) == marker;
    db_url u;
    try {
        u = db_url::parse(text);
    } catch (const connmgr::config_error& e) {
        FUZZ_CHECK(e.code() == connmgr::errc::invalid_url, e.what());
        if (marked) FUZZ_CHECK(!contains(e.what(), marker), e.what());
        return 0;
    }

    const std::optional<std::string> password = password_of(u);
    if (marked && password == marker) FUZZ_CHECK(!contains(u.redacted(), marker), u.redacted());

    // A Sentinel URL has a second secret, the sentinels' password: shown only as stars.
    if (u.is_sentinel() && !u.sentinel().password.empty())
        FUZZ_CHECK(contains(u.redacted(), "sentinel_password=***"), u.redacted());

    const db_url again = reparse(u.pool_key(), "the pool key parses");
    FUZZ_CHECK(again.sentinel().password == u.sentinel().password, u.redacted());
    FUZZ_CHECK(again.sentinel().sentinels == u.sentinel().sentinels, u.redacted());
    FUZZ_CHECK(again.kind() == u.kind(), u.redacted());
    FUZZ_CHECK(again.pool_key() == u.pool_key(), u.redacted() + " -> " + again.redacted());
    FUZZ_CHECK(again.redacted() == u.redacted(), u.redacted() + " -> " + again.redacted());
    FUZZ_CHECK(password_of(again) == password, u.redacted());

    const db_url shown = reparse(u.redacted(), "the redacted form parses");
    FUZZ_CHECK(shown.redacted() == u.redacted(), u.redacted() + " -> " + shown.redacted());
    const std::optional<std::string> shown_password = password_of(shown);
    FUZZ_CHECK(password ? shown_password == "***" : !shown_password, u.redacted());
    return 0;
}
