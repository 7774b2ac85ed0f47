#pragma once
/// Query parameters as the `CYPHER name=value ...` prefix FalkorDB reads (DESIGN §11), encoded
/// as its own clients do: strings double-quoted with `\` and `"` escaped, `null`, `true` /
/// `false`, integers, doubles, lists and maps. Everything is checked before a byte is sent: a
/// name or map key that is not an identifier, a NUL byte, NaN or an infinity, or a value kind
/// that cannot be written as a literal (node, edge, path, point, vector, temporal: build those
/// in Cypher from plain parameters) is refused with `errc::invalid_argument`.
///
/// \par Thread safety
/// Pure functions.

#include <connmgr/falkordb/value.hpp>

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace connmgr::falkordb {

/// Named parameters, `$name` in the query; sent in this order.
using params = std::vector<std::pair<std::string, value>>;

/// `value` as a Cypher literal: `"it\"s"`, `[1, 2.5, null]`, `{k: true}`.
std::string encode_literal(const value& v);

/// The text to send: `cypher` alone when there are no parameters, else
/// `CYPHER a=1 b="x" <cypher>`.
std::string encode_query(std::string_view cypher, const params& parameters);

}  // namespace connmgr::falkordb
