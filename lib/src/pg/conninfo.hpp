#pragma once
// libpq connection parameters shared by both PostgreSQL drivers (internal).

#include <connmgr/config.hpp>
#include <connmgr/pg/sync_driver.hpp>

#include <string>
#include <string_view>

namespace connmgr::pg::detail {

/// The URL's parameters plus connmgr's defaults: fallback_application_name=connmgr:<name>,
/// TCP keepalives, connect_timeout (seconds; 0 = leave unset) and, when `statement_timeout`,
/// `options=-c statement_timeout=<ms>` (appended to the URL's options).
conn_params effective_params(const conn_params& url_params, std::string_view name,
                             const pool_options& options, long connect_timeout_seconds,
                             bool statement_timeout);

/// `key='value' ...` with quotes and backslashes escaped, as libpq's conninfo parser expects.
std::string to_conninfo(const conn_params& params);

/// The parameters of a db_url, or an empty list for a non-PostgreSQL URL.
conn_params params_of(const database_config& db);

}  // namespace connmgr::pg::detail
