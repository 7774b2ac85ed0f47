#pragma once
/// Query parameters of the async PostgreSQL driver: what `async_query(sql, args...)` accepts.
///
/// Values travel in text format except `bytea`, which is sent in binary format so that any
/// byte (including `\0`) arrives unchanged.
///
/// \par Thread safety
/// Plain values: copy freely; concurrent reads are safe.

#include <concepts>
#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace connmgr::pg {

/// Binary data for a `bytea` parameter or column. Holds the bytes in a std::string.
struct bytea {
    std::string data;

    bytea() = default;
    explicit bytea(std::string bytes) : data(std::move(bytes)) {}
    explicit bytea(std::span<const std::byte> bytes)
        : data(reinterpret_cast<const char*>(bytes.data()), bytes.size()) {}
    explicit bytea(const std::vector<std::byte>& bytes)
        : bytea(std::span<const std::byte>(bytes)) {}

    std::span<const std::byte> bytes() const noexcept {
        return {reinterpret_cast<const std::byte*>(data.data()), data.size()};
    }
    friend bool operator==(const bytea&, const bytea&) = default;
};

/// One bound parameter: no value means SQL NULL.
struct param {
    std::optional<std::string> value;
    bool binary{false};  ///< bytea: raw bytes in binary format
    friend bool operator==(const param&, const param&) = default;
};

/// Conversions of the supported C++ types; extend by adding an overload in connmgr::pg.
param to_param(std::nullopt_t) noexcept;
param to_param(bool v);
param to_param(long long v);
param to_param(unsigned long long v);
param to_param(double v);
param to_param(std::string_view v);
param to_param(const bytea& v);
inline param to_param(const char* v) { return to_param(std::string_view(v)); }
inline param to_param(const std::string& v) { return to_param(std::string_view(v)); }
inline param to_param(std::string&& v) { return {std::move(v), false}; }
inline param to_param(bytea&& v) { return {std::move(v.data), true}; }
inline param to_param(float v) { return to_param(static_cast<double>(v)); }
inline param to_param(param p) { return p; }
template <std::signed_integral T>
requires(!std::same_as<T, bool>) param to_param(T v) { return to_param(static_cast<long long>(v)); }
template <std::unsigned_integral T>
requires(!std::same_as<T, bool>) param to_param(T v) {
    return to_param(static_cast<unsigned long long>(v));
}
template <class T>
param to_param(const std::optional<T>& v) {
    return v ? to_param(*v) : param{};
}

/// Converts a list of arguments to bound parameters ($1, $2, ... in order).
template <class... Args>
std::vector<param> make_params(Args&&... args) {
    std::vector<param> out;
    out.reserve(sizeof...(Args));
    (out.push_back(to_param(std::forward<Args>(args))), ...);
    return out;
}

/// One statement of a pipeline: SQL text and its parameters.
struct query {
    std::string sql;
    std::vector<param> params;

    query() = default;
    query(std::string text, std::vector<param> p = {})
        : sql(std::move(text)), params(std::move(p)) {}
    query(const char* text) : sql(text) {}
    /// `pg::query::with("SELECT $1::int", 1)`.
    template <class... Args>
    static query with(std::string text, Args&&... args) {
        return {std::move(text), make_params(std::forward<Args>(args)...)};
    }
};

}  // namespace connmgr::pg
