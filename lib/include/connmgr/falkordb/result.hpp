#pragma once
/// The outcome of one Cypher query (DESIGN §11): column names, rows of values and the
/// statistics line the server appends, or the server's error message.
///
/// \par Thread safety
/// A plain value: copy freely; concurrent reads are safe, writes need external synchronization.

#include <connmgr/falkordb/value.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace connmgr::falkordb {

/// The statistics lines of a reply ("Nodes created: 2", ...), parsed into fields; a line
/// this version does not know lands in `other` unchanged.
struct query_stats {
    std::int64_t labels_added{0};
    std::int64_t labels_removed{0};
    std::int64_t nodes_created{0};
    std::int64_t nodes_deleted{0};
    std::int64_t properties_set{0};
    std::int64_t properties_removed{0};
    std::int64_t relationships_created{0};
    std::int64_t relationships_deleted{0};
    std::int64_t indices_created{0};
    std::int64_t indices_deleted{0};
    bool cached_execution{false};
    std::chrono::duration<double, std::milli> execution_time{
        0};  ///< "Query internal execution time"
    std::vector<std::pair<std::string, std::string>> other;

    friend bool operator==(const query_stats&, const query_stats&) = default;
};

using row = std::vector<value>;

class result {
public:
    /// An empty, successful result.
    result() = default;
    result(std::vector<std::string> columns, std::vector<row> rows, query_stats stats)
        : columns_(std::move(columns)), rows_(std::move(rows)), stats_(std::move(stats)) {}

    /// A failed query carrying the server's message.
    static result failure(std::string message);

    /// False when the server refused the query; `error_message()` says why.
    bool ok() const noexcept { return error_.empty(); }
    const std::string& error_message() const noexcept { return error_; }
    /// Throws connmgr::query_error (query_failed) with the server's message unless ok().
    const result& check() const;

    const std::vector<std::string>& columns() const noexcept { return columns_; }
    const std::vector<row>& rows() const noexcept { return rows_; }
    std::size_t size() const noexcept { return rows_.size(); }
    bool empty() const noexcept { return rows_.empty(); }
    /// Row `i` (unchecked, like std::vector).
    const row& operator[](std::size_t i) const noexcept { return rows_[i]; }
    auto begin() const noexcept { return rows_.begin(); }
    auto end() const noexcept { return rows_.end(); }
    /// Index of column `name`; throws connmgr::error (query_failed) naming it if absent.
    std::size_t column(std::string_view name) const;

    const query_stats& stats() const noexcept { return stats_; }

    friend bool operator==(const result&, const result&) = default;

private:
    std::vector<std::string> columns_;
    std::vector<row> rows_;
    query_stats stats_;
    std::string error_;
};

}  // namespace connmgr::falkordb
