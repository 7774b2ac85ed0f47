#pragma once
/// The result of one statement run through the async PostgreSQL driver.
///
/// Values arrive in text format and are converted on access: `r[0][1].as<int>()`,
/// `r[0]["name"].as<std::string>()`, `r[0][2].as<pg::bytea>()`. libpq stays out of this header.
///
/// When a statement failed, `ok()` is false, `sqlstate()` holds the server's SQLSTATE ("42P01")
/// and `error_message()` its message; `check()` turns that into a `connmgr::query_error`.
///
/// \par Thread safety
/// Immutable once made: a result, and rows and fields taken from it, may be read from any number
/// of threads. Copies share the underlying data (cheap).

#include <connmgr/pg/params.hpp>

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

namespace connmgr::pg {

namespace detail {
struct result_data;
}

class result;
class row;

/// One value of a row. Throws std::out_of_range / std::invalid_argument on bad access or
/// conversion, and std::logic_error when converting a NULL (check `is_null()` first or use
/// `as<std::optional<T>>`-like handling yourself).
class field {
public:
    bool is_null() const;
    /// The raw text of the value ("" for NULL).
    std::string_view view() const;
    /// Supported: int, long, long long, unsigned, double, float, bool, std::string,
    /// std::string_view (valid as long as the result lives), pg::bytea.
    template <class T>
    T as() const;
    std::string_view name() const;

private:
    friend class row;
    field(const detail::result_data* d, std::size_t r, std::size_t c) : d_(d), row_(r), col_(c) {}
    const detail::result_data* d_;
    std::size_t row_;
    std::size_t col_;
};

template <>
int field::as<int>() const;
template <>
long field::as<long>() const;
template <>
long long field::as<long long>() const;
template <>
unsigned field::as<unsigned>() const;
template <>
double field::as<double>() const;
template <>
float field::as<float>() const;
template <>
bool field::as<bool>() const;
template <>
std::string field::as<std::string>() const;
template <>
std::string_view field::as<std::string_view>() const;
template <>
bytea field::as<bytea>() const;

/// One row of a result.
class row {
public:
    field operator[](std::size_t column) const;
    field operator[](std::string_view column_name) const;
    std::size_t size() const noexcept;

private:
    friend class result;
    row(const detail::result_data* d, std::size_t r) : d_(d), row_(r) {}
    const detail::result_data* d_;
    std::size_t row_;
};

class result {
public:
    result() = default;

    bool ok() const noexcept;
    /// SQLSTATE of a failed statement ("" when ok()).
    const std::string& sqlstate() const noexcept;
    /// The server's (or libpq's) error message ("" when ok()).
    const std::string& error_message() const noexcept;
    /// Throws connmgr::query_error (with the SQLSTATE) when !ok(); returns *this otherwise.
    const result& check() const;

    std::size_t size() const noexcept;  ///< rows
    bool empty() const noexcept { return size() == 0; }
    std::size_t columns() const noexcept;
    std::string_view column_name(std::size_t column) const;
    /// Throws std::out_of_range when there is no such column.
    std::size_t column_index(std::string_view name) const;
    /// Rows changed by INSERT/UPDATE/DELETE (0 otherwise).
    std::size_t affected_rows() const noexcept;
    /// The command tag, e.g. "SELECT 1", "INSERT 0 3".
    std::string_view command_status() const noexcept;

    row operator[](std::size_t r) const;
    /// The first column of the first row: `r.value().as<int>()`.
    field value() const { return (*this)[0][0]; }

    /// Made by the driver (lib/src/pg only).
    explicit result(std::shared_ptr<const detail::result_data> d) : d_(std::move(d)) {}

private:
    std::shared_ptr<const detail::result_data> d_;
};

}  // namespace connmgr::pg
