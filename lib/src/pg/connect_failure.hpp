#pragma once
// What a failed PostgreSQL connect means for the pool (internal): libpq gives no SQLSTATE for
// a connect failure, only the server's message, so the class is read from the message text
// (the server's and PgBouncer's English messages; lc_messages other than English reads as
// transient, which only costs retries).

#include <connmgr/driver.hpp>

#include <string_view>

namespace connmgr::pg::detail {

connect_failure classify_connect_error(std::string_view message) noexcept;

}  // namespace connmgr::pg::detail
