#pragma once
// The prepared statements of one PostgreSQL connection, by SQL text (internal).
//
// A bounded LRU map from a statement's SQL to the name it is prepared under on the server.
// Evicted names are kept as "stale" until the connection deallocates them; a statement the
// server lost (DISCARD ALL, DEALLOCATE ALL) is forgotten without deallocation.
//
// Thread safety: none; owned by one connection, used on its strand.

#include <cstddef>
#include <cstdint>
#include <list>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace connmgr::pg::detail {

class statement_cache {
public:
    /// `capacity` 0: disabled (find never hits, insert is refused).
    explicit statement_cache(std::size_t capacity) : capacity_(capacity) {}

    bool enabled() const noexcept { return capacity_ > 0; }
    std::size_t size() const noexcept { return by_sql_.size(); }

    /// The server-side name `sql` is prepared under (and marks it most recently used), or null.
    const std::string* find(std::string_view sql);
    /// Gives `sql` a fresh name, evicting the least recently used entry when full (its name
    /// becomes stale). The caller prepares it under the returned name.
    const std::string& insert(std::string_view sql);
    /// Forgets `sql` if it is still cached under `name`; `deallocate`: the server still holds
    /// it (the name becomes stale), else it is already gone.
    void forget(std::string_view sql, std::string_view name, bool deallocate);
    /// The server dropped every prepared statement: nothing cached, nothing to deallocate.
    void clear() noexcept;

    bool has_stale() const noexcept { return !stale_.empty(); }
    /// The evicted names, for the caller to deallocate; the list is empty afterwards.
    std::vector<std::string> take_stale() noexcept { return std::exchange(stale_, {}); }
    /// A taken name that cannot be deallocated yet.
    void add_stale(std::string name) { stale_.push_back(std::move(name)); }

private:
    struct entry {
        std::string sql;
        std::string name;
    };
    std::size_t capacity_;
    std::uint64_t next_id_{0};
    std::list<entry> lru_;  // most recently used first; nodes never move in memory
    std::unordered_map<std::string_view, std::list<entry>::iterator> by_sql_;  // keys: lru_'s sql
    std::vector<std::string> stale_;
};

}  // namespace connmgr::pg::detail
