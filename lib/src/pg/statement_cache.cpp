#include "statement_cache.hpp"

#include <utility>

namespace connmgr::pg::detail {

const std::string* statement_cache::find(std::string_view sql) {
    auto it = by_sql_.find(sql);
    if (it == by_sql_.end()) return nullptr;
    lru_.splice(lru_.begin(), lru_, it->second);
    return &it->second->name;
}

const std::string& statement_cache::insert(std::string_view sql) {
    if (auto it = by_sql_.find(sql); it != by_sql_.end()) {
        // Prepared afresh while cached: the old name is still held by the server.
        stale_.push_back(std::move(it->second->name));
        lru_.erase(it->second);
        by_sql_.erase(it);
    }
    while (!lru_.empty() && lru_.size() >= capacity_) {
        by_sql_.erase(lru_.back().sql);
        stale_.push_back(std::move(lru_.back().name));
        lru_.pop_back();
    }
    // Unique per connection, never reused: a late answer about an old name cannot be taken
    // for a newer statement.
    lru_.push_front(entry{std::string(sql), "connmgr_" + std::to_string(next_id_++)});
    by_sql_.emplace(lru_.front().sql, lru_.begin());
    return lru_.front().name;
}

void statement_cache::forget(std::string_view sql, std::string_view name, bool deallocate) {
    auto it = by_sql_.find(sql);
    // Not cached under that name any more: evicted or re-prepared, so already stale.
    if (it == by_sql_.end() || it->second->name != name) return;
    if (deallocate) stale_.push_back(std::move(it->second->name));
    lru_.erase(it->second);
    by_sql_.erase(it);
}

void statement_cache::clear() noexcept {
    by_sql_.clear();
    lru_.clear();
    stale_.clear();
}

}  // namespace connmgr::pg::detail
