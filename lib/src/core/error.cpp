#include <connmgr/error.hpp>

namespace connmgr {
namespace {

// Boost's error_category has a protected non-virtual destructor by design.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wnon-virtual-dtor"
class category final : public boost::system::error_category {
public:
    const char* name() const noexcept override { return "connmgr"; }
    std::string message(int ev) const override {
        switch (static_cast<errc>(ev)) {
            case errc::acquire_timeout: return "timed out waiting for a connection";
            case errc::pool_exhausted: return "connection pool exhausted";
            case errc::circuit_open: return "circuit breaker open: database unavailable";
            case errc::shutting_down: return "connection pool is shutting down";
            case errc::connect_failed: return "could not connect to the database";
            case errc::connection_lost: return "connection to the database was lost";
            case errc::query_failed: return "the database rejected the request";
            case errc::invalid_url: return "invalid database URL";
            case errc::invalid_config: return "invalid configuration";
            case errc::invalid_argument: return "invalid argument";
            case errc::query_timeout: return "the database did not answer within query_timeout";
        }
        return "unknown connmgr error";
    }
};
#pragma GCC diagnostic pop

}  // namespace

const boost::system::error_category& error_category() noexcept {
    static const category instance;
    return instance;
}

std::string_view to_string(errc e) noexcept {
    switch (e) {
        case errc::acquire_timeout: return "acquire_timeout";
        case errc::pool_exhausted: return "pool_exhausted";
        case errc::circuit_open: return "circuit_open";
        case errc::shutting_down: return "shutting_down";
        case errc::connect_failed: return "connect_failed";
        case errc::connection_lost: return "connection_lost";
        case errc::query_failed: return "query_failed";
        case errc::invalid_url: return "invalid_url";
        case errc::invalid_config: return "invalid_config";
        case errc::invalid_argument: return "invalid_argument";
        case errc::query_timeout: return "query_timeout";
    }
    return "unknown";
}

void throw_error(boost::system::error_code code, const std::string& what) {
    if (code.category() == error_category()) {
        switch (static_cast<errc>(code.value())) {
            case errc::acquire_timeout: throw timeout_error(code, what);
            case errc::connect_failed:
            case errc::circuit_open: throw connect_error(code, what);
            case errc::query_failed: throw query_error("", what);
            case errc::invalid_url:
            case errc::invalid_config: throw config_error(what, static_cast<errc>(code.value()));
            default: break;
        }
    }
    throw error(code, what);
}

}  // namespace connmgr
