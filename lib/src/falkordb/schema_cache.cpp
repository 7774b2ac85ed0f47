#include <connmgr/falkordb/schema_cache.hpp>

namespace connmgr::falkordb {

std::shared_ptr<const schema_names> schema_cache::get(std::string_view graph) const {
    static const auto none = std::make_shared<const schema_names>();
    std::lock_guard lock(mutex_);
    const auto it = graphs_.find(graph);
    return it == graphs_.end() ? none : it->second;
}

void schema_cache::update(std::string_view graph, unsigned parts, const schema_names& fresh) {
    std::lock_guard lock(mutex_);
    auto it = graphs_.find(graph);
    auto next = std::make_shared<schema_names>(it == graphs_.end() ? schema_names{}
                                                                   : schema_names(*it->second));
    const auto take = [parts](unsigned part, std::vector<std::string>& have,
                              const std::vector<std::string>& got) {
        if ((parts & part) != 0 && got.size() >= have.size()) have = got;
    };
    take(schema_labels, next->labels, fresh.labels);
    take(schema_relationship_types, next->relationship_types, fresh.relationship_types);
    take(schema_property_keys, next->property_keys, fresh.property_keys);
    if (it == graphs_.end()) {
        graphs_.emplace(std::string(graph), std::move(next));
    } else {
        it->second = std::move(next);
    }
}

void schema_cache::clear(std::string_view graph) {
    std::lock_guard lock(mutex_);
    if (auto it = graphs_.find(graph); it != graphs_.end()) graphs_.erase(it);
}

}  // namespace connmgr::falkordb
