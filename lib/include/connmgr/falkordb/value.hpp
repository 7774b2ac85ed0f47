#pragma once
/// One FalkorDB value as a compact reply carries it (DESIGN §11): null, bool, integer, double,
/// string, array, map, node, edge, path, point, vectorf32, datetime, date, time, duration.
/// Query parameters are values too (see params.hpp for which kinds can be sent).
///
/// \par Thread safety
/// Plain values: copy freely; concurrent reads are safe, writes need external synchronization.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

namespace connmgr::falkordb {

// Declared before the types it names, so its enumerators shadow nothing.
enum class value_type {
    null,
    boolean,
    integer,
    floating,
    string,
    array,
    map,
    node,
    edge,
    path,
    point,
    vectorf32,
    datetime,
    date,
    time,
    duration
};

/// "null", "boolean", "integer", "double", "string", "array", "map", "node", ...
std::string_view to_string(value_type t) noexcept;

class value;

/// A list: `[1, 'a', null]`.
using array = std::vector<value>;
/// vecf32(...): a vector of 32-bit floats.
using vectorf32 = std::vector<float>;

/// A map in the server's key order (also node and edge properties).
struct map {
    std::vector<std::pair<std::string, value>> entries;

    map() = default;
    map(std::initializer_list<std::pair<std::string, value>> init);

    // Defined below `value`: clang (unlike GCC) needs the element type complete here.
    std::size_t size() const noexcept;
    bool empty() const noexcept;
    /// The value under `key`, or nullptr.
    const value* find(std::string_view key) const noexcept;
    /// The value under `key`; throws connmgr::error (query_failed) naming the key if absent.
    const value& at(std::string_view key) const;

    friend bool operator==(const map& a, const map& b);
};

struct node {
    std::int64_t id{0};
    std::vector<std::string> labels;
    map properties;
    friend bool operator==(const node&, const node&) = default;
};

struct edge {
    std::int64_t id{0};
    std::string type;
    std::int64_t source{0};       ///< id of the start node
    std::int64_t destination{0};  ///< id of the end node
    map properties;
    friend bool operator==(const edge&, const edge&) = default;
};

/// Nodes in order along the path; `edges[i]` joins `nodes[i]` and `nodes[i + 1]`.
struct path {
    std::vector<node> nodes;
    std::vector<edge> edges;
    friend bool operator==(const path&, const path&) = default;
};

struct point {
    double latitude{0};
    double longitude{0};
    friend bool operator==(const point&, const point&) = default;
};

/// localdatetime(): seconds since the epoch, no time zone.
struct datetime {
    std::chrono::sys_seconds value{};
    friend bool operator==(const datetime&, const datetime&) = default;
};

/// date(): the day.
struct date {
    std::chrono::sys_days value{};
    friend bool operator==(const date&, const date&) = default;
};

/// localtime(): the time of day.
struct time {
    std::chrono::seconds since_midnight{0};
    friend bool operator==(const time&, const time&) = default;
};

/// duration(): in seconds, as the server reports it (a month counts as the server says).
struct duration {
    std::chrono::seconds value{0};
    friend bool operator==(const duration&, const duration&) = default;
};

class value {
public:
    /// Null.
    value() = default;
    value(std::nullptr_t) {}  // NOLINT(google-explicit-constructor): params read naturally
    // Exactly bool: a pointer or an int must not turn into a boolean silently.
    template <class B>
    requires std::is_same_v<B, bool> value(B b) : v_(b) {}  // NOLINT(google-explicit-constructor)
    template <class I>
    requires(std::is_integral_v<I> && !std::is_same_v<I, bool> && !std::is_same_v<I, char>)
        value(I i)
        : v_(static_cast<std::int64_t>(i)) {}          // NOLINT(google-explicit-constructor)
    value(double d) : v_(d) {}                         // NOLINT(google-explicit-constructor)
    value(const char* s) : v_(std::string(s)) {}       // NOLINT(google-explicit-constructor)
    value(std::string_view s) : v_(std::string(s)) {}  // NOLINT(google-explicit-constructor)
    value(std::string s) : v_(std::move(s)) {}         // NOLINT(google-explicit-constructor)
    value(array a) : v_(std::move(a)) {}               // NOLINT(google-explicit-constructor)
    value(map m) : v_(std::move(m)) {}                 // NOLINT(google-explicit-constructor)
    value(node n) : v_(std::move(n)) {}                // NOLINT(google-explicit-constructor)
    value(edge e) : v_(std::move(e)) {}                // NOLINT(google-explicit-constructor)
    value(path p) : v_(std::move(p)) {}                // NOLINT(google-explicit-constructor)
    value(point p) : v_(p) {}                          // NOLINT(google-explicit-constructor)
    value(vectorf32 v) : v_(std::move(v)) {}           // NOLINT(google-explicit-constructor)
    value(datetime t) : v_(t) {}                       // NOLINT(google-explicit-constructor)
    value(date d) : v_(d) {}                           // NOLINT(google-explicit-constructor)
    value(time t) : v_(t) {}                           // NOLINT(google-explicit-constructor)
    value(duration d) : v_(d) {}                       // NOLINT(google-explicit-constructor)

    value_type type() const noexcept { return static_cast<value_type>(v_.index()); }
    bool is_null() const noexcept { return type() == value_type::null; }

    // Each accessor throws connmgr::error (query_failed) naming both types on a mismatch.
    bool as_bool() const;
    std::int64_t as_integer() const;
    /// A double, or an integer converted.
    double as_double() const;
    const std::string& as_string() const;
    const array& as_array() const;
    const map& as_map() const;
    const node& as_node() const;
    const edge& as_edge() const;
    const path& as_path() const;
    const point& as_point() const;
    const vectorf32& as_vectorf32() const;
    const datetime& as_datetime() const;
    const date& as_date() const;
    const time& as_time() const;
    const duration& as_duration() const;

    /// Short human form for diagnostics and the CLI: `null`, `42`, `"ada"`, `(:Person {..})`.
    std::string describe() const;

    friend bool operator==(const value&, const value&) = default;

private:
    template <class T>
    const T& get(value_type want) const;

    std::variant<std::monostate, bool, std::int64_t, double, std::string, array, map, node, edge,
                 path, point, vectorf32, datetime, date, time, duration>
        v_;
};

inline std::size_t map::size() const noexcept { return entries.size(); }
inline bool map::empty() const noexcept { return entries.empty(); }

}  // namespace connmgr::falkordb
