#pragma once
/// Label, relationship-type and property-key names per graph (DESIGN §11), as
/// `db.labels()`, `db.relationshipTypes()` and `db.propertyKeys()` list them. Ids only grow
/// on the server, so a snapshot stays right for every id it holds; a reply naming an id past
/// it triggers a refresh of that part.
///
/// \par Thread safety
/// Every member is safe to call from any thread at once. Readers get an immutable snapshot;
/// an update replaces it (and never with a shorter list, so a slow refresh racing a faster
/// one cannot take names away).

#include <connmgr/falkordb/decoder.hpp>

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

namespace connmgr::falkordb {

class schema_cache {
public:
    /// The names known for `graph` (empty lists when none are).
    std::shared_ptr<const schema_names> get(std::string_view graph) const;
    /// Replaces the `parts` (schema_part bits) of `graph`'s names with those of `fresh`.
    void update(std::string_view graph, unsigned parts, const schema_names& fresh);
    /// Forgets `graph` (after GRAPH.DELETE).
    void clear(std::string_view graph);

private:
    mutable std::mutex mutex_;
    std::map<std::string, std::shared_ptr<const schema_names>, std::less<>> graphs_;
};

}  // namespace connmgr::falkordb
