#pragma once
/// One RESP2 reply: status, error, integer, bulk string (binary-safe), nil, or nested array.
///
/// \par Thread safety
/// A plain value: copy freely; concurrent reads are safe, writes need external synchronization.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace connmgr::redis {

enum class reply_type { nil, status, error, integer, string, array };

/// "nil", "status", "error", "integer", "string", "array".
std::string_view to_string(reply_type t) noexcept;

class reply {
public:
    /// A nil reply.
    reply() = default;

    static reply make_status(std::string text);
    static reply make_error(std::string text);
    static reply make_integer(long long value);
    static reply make_string(std::string bytes);
    /// An array of `size` nil elements, to be filled through `elements()`.
    static reply make_array(std::size_t size);
    static reply make_array(std::vector<reply> elements);

    reply_type type() const noexcept { return type_; }
    bool is_nil() const noexcept { return type_ == reply_type::nil; }
    bool is_status() const noexcept { return type_ == reply_type::status; }
    bool is_error() const noexcept { return type_ == reply_type::error; }
    bool is_integer() const noexcept { return type_ == reply_type::integer; }
    bool is_string() const noexcept { return type_ == reply_type::string; }
    bool is_array() const noexcept { return type_ == reply_type::array; }

    /// The bytes of a bulk string, or the text of a status or error reply. Throws
    /// connmgr::error (query_failed) for any other type.
    const std::string& str() const;
    /// The value of an integer reply; throws connmgr::error for any other type.
    long long integer() const;
    /// The elements of an array reply; throws connmgr::error for any other type.
    const std::vector<reply>& elements() const;
    std::vector<reply>& elements();

    /// Array size, or 0 for anything else.
    std::size_t size() const noexcept { return elements_.size(); }
    /// Array element `i` (unchecked, like std::vector).
    const reply& operator[](std::size_t i) const noexcept { return elements_[i]; }

    /// The bulk string, or nullopt for nil; throws for any other type (GET's natural shape).
    std::optional<std::string> as_optional_string() const;

    /// For an error reply, its prefix: "WRONGTYPE", "NOAUTH", "ERR"; empty otherwise.
    std::string_view error_code() const noexcept;

    /// Short human form for diagnostics: `"OK"`, `(integer) 3`, `(nil)`, `(error) ERR x`.
    std::string describe() const;

    friend bool operator==(const reply&, const reply&) = default;

private:
    reply_type type_{reply_type::nil};
    long long integer_{0};
    std::string str_;
    std::vector<reply> elements_;
};

}  // namespace connmgr::redis
