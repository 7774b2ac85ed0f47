#pragma once
/// The sans-io decoder of `GRAPH.QUERY ... --compact` replies: a parsed RESP reply and the
/// graph's schema names in, a `falkordb::result` out. No I/O and no shared state, so the
/// graph client's flavours share it and a fuzzer can drive it straight from bytes (through
/// redis::reply_parser).
///
/// Compact replies name labels, relationship types and property keys by id; an id past the
/// names given is reported in `decoded::missing` (the caller refreshes its schema cache and
/// decodes again) rather than guessed.
///
/// \par Thread safety
/// Pure functions.

#include <connmgr/falkordb/result.hpp>
#include <connmgr/redis/reply.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace connmgr::falkordb {

/// Names by id, in the order `db.labels()`, `db.relationshipTypes()` and `db.propertyKeys()`
/// list them.
struct schema_names {
    std::vector<std::string> labels;
    std::vector<std::string> relationship_types;
    std::vector<std::string> property_keys;
};

/// Which part of a schema a reply referred to past its end (bit flags).
enum schema_part : unsigned {
    schema_labels = 1U,
    schema_relationship_types = 2U,
    schema_property_keys = 4U,
};

struct decoded {
    std::optional<result> value;  ///< empty when `missing` is not 0
    unsigned missing{0};          ///< schema_part bits
};

/// Decodes one compact reply. An error reply (or an error in place of the statistics)
/// becomes `result::failure(message)`. Throws connmgr::error (query_failed) naming the
/// offending element when the reply does not have the compact shape.
decoded decode_compact(const redis::reply& reply, const schema_names& names);

/// Parses the statistics lines ("Nodes created: 2", ...). Throws connmgr::error
/// (query_failed) on an element that is not a string.
query_stats parse_stats(const redis::reply& lines);

/// The names in a `CALL db.labels()` (or relationshipTypes, propertyKeys) compact reply.
std::vector<std::string> decode_procedure_names(const redis::reply& reply);

}  // namespace connmgr::falkordb
