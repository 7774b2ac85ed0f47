#pragma once
/// Error codes and exceptions of connmgr (DESIGN §6).
///
/// Async operations complete with a `boost::system::error_code` whose category is
/// `connmgr::error_category()`; sync calls throw `connmgr::error` or one of its subclasses.
///
/// \par Thread safety
/// Everything here is immutable or stateless: safe from any thread.

#include <boost/system/error_code.hpp>
#include <boost/system/system_error.hpp>

#include <string>
#include <string_view>
#include <type_traits>

namespace connmgr {

enum class errc {
    acquire_timeout = 1,  ///< a waiter reached its deadline
    pool_exhausted,       ///< more than max_waiters queued, or acquire_timeout 0 with none free
    circuit_open,         ///< the database's circuit breaker is open
    shutting_down,        ///< the pool or manager is closing
    connect_failed,       ///< a connection could not be established
    connection_lost,      ///< the connection broke during a request
    query_failed,         ///< the server rejected a statement or command
    invalid_url,          ///< a database URL could not be parsed or is unsupported
    invalid_config,       ///< the configuration is malformed or inconsistent
    invalid_argument,     ///< a caller's argument was refused before anything was sent
    query_timeout,        ///< the server did not answer a request within query_timeout; the
                          ///< request is not replayed (it may have run)
};

}  // namespace connmgr

template <>
struct boost::system::is_error_code_enum<connmgr::errc> : std::true_type {};

namespace connmgr {

const boost::system::error_category& error_category() noexcept;

inline boost::system::error_code make_error_code(errc e) noexcept {
    return {static_cast<int>(e), error_category()};
}

/// The enumerator's name, e.g. "acquire_timeout" (used in JSON and metrics).
std::string_view to_string(errc e) noexcept;

/// Base of every exception connmgr throws.
class error : public boost::system::system_error {
public:
    error(errc code, const std::string& what) : system_error(make_error_code(code), what) {}
    error(boost::system::error_code code, const std::string& what) : system_error(code, what) {}
};

/// acquire_timeout: a sync acquire reached its deadline.
class timeout_error : public error {
public:
    using error::error;
};

/// connect_failed or circuit_open: no connection could be made.
class connect_error : public error {
public:
    using error::error;
};

/// query_failed: the server rejected a request. `server_code()` is the SQLSTATE for
/// PostgreSQL ("42P01") or the error prefix for Redis ("WRONGTYPE").
class query_error : public error {
public:
    query_error(std::string server_code, const std::string& what)
        : error(errc::query_failed, what), server_code_(std::move(server_code)) {}
    const std::string& server_code() const noexcept { return server_code_; }

private:
    std::string server_code_;
};

/// invalid_config or invalid_url. The message names file:line:column and the key path.
class config_error : public error {
public:
    explicit config_error(const std::string& what, errc code = errc::invalid_config)
        : error(code, what) {}
};

/// Throws the exception type that matches `code` (timeout_error for acquire_timeout, ...).
[[noreturn]] void throw_error(boost::system::error_code code, const std::string& what);

}  // namespace connmgr
