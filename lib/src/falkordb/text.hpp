#pragma once
// Message building without a formatting library in the core library's link interface:
// `cat("row of ", n, " values")`; doubles in their shortest exact form.
#include <charconv>
#include <concepts>
#include <string>
#include <string_view>

namespace connmgr::falkordb::detail {

inline void append_text(std::string& out, std::string_view s) { out += s; }
inline void append_text(std::string& out, char c) { out += c; }
template <std::integral I>
requires(!std::same_as<I, char> && !std::same_as<I, bool>) void append_text(std::string& out, I i) {
    out += std::to_string(i);
}
template <std::floating_point F>
void append_text(std::string& out, F f) {
    char buf[64];
    const auto r = std::to_chars(buf, buf + sizeof buf, f);
    out.append(buf, r.ptr);
}

template <class... Parts>
std::string cat(const Parts&... parts) {
    std::string out;
    (append_text(out, parts), ...);
    return out;
}

/// `n` as at least `width` digits, zero-padded.
inline std::string padded(long long n, std::size_t width) {
    std::string s = std::to_string(n < 0 ? -n : n);
    if (s.size() < width) s.insert(0, width - s.size(), '0');
    return n < 0 ? "-" + s : s;
}

}  // namespace connmgr::falkordb::detail
