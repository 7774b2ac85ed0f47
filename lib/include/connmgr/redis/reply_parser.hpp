#pragma once
/// Incremental RESP2 reader of our own: feed bytes as they arrive, take complete replies out.
/// Socket-free and I/O-free, so protocol edge cases are unit-tested (and fuzzed) without a
/// server; both Redis drivers, and FalkorDB through them, use it.
///
/// Arrays are assembled with an explicit stack, never by recursion, so nesting depth costs
/// heap, not C++ stack. Depth is still bounded (`limits::max_depth`, far beyond what any
/// server sends: FalkorDB paths are about ten levels) because a `reply` tree is destroyed and
/// compared recursively. Every size read off the wire is checked against `limits` before
/// anything is allocated, and malformed input ends the stream with an `error()` that names
/// the offending bytes.
///
/// \par Thread safety
/// One parser per connection, used by one thread at a time.

#include <connmgr/redis/reply.hpp>

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

namespace connmgr::redis {

class reply_parser {
public:
    /// Upper bounds on what one reply may declare; exceeding one is a protocol error.
    struct limits {
        std::size_t max_bulk_length{512U * 1024U * 1024U};  ///< bytes; Redis' proto-max-bulk-len
        std::size_t max_line_length{64U * 1024U * 1024U};   ///< status, error, integer lines
        std::size_t max_array_elements{std::size_t{1} << 32U};  ///< per array
        std::size_t max_depth{1000};                            ///< array nesting levels
    };

    reply_parser() = default;
    explicit reply_parser(limits l) : limits_(l) {}

    /// Appends received bytes. Returns false once a protocol error has been seen.
    bool feed(const char* data, std::size_t size);

    /// The next complete reply, if one is buffered. Sets `error()` and returns nullopt on a
    /// protocol error, after which the stream can no longer be trusted.
    std::optional<reply> next();

    /// Non-empty after a protocol error.
    const std::string& error() const noexcept { return error_; }

    /// Bytes received but not yet consumed by a complete reply.
    std::size_t buffered() const noexcept { return buf_.size() - pos_; }

private:
    struct frame {
        reply array;
        std::size_t expected;
    };

    enum class step { done, need_more, failed };

    // Reads one element at pos_: a scalar into `out`, or an array header pushed on stack_.
    step read_element(std::optional<reply>& out);
    // Finds the CRLF ending the line that starts at pos_; npos when it has not arrived yet.
    std::size_t line_end();
    bool parse_length(std::string_view digits, long long& value, const char* what);
    void fail(std::string message);
    void compact();

    limits limits_{};
    std::string buf_;
    std::size_t pos_{0};
    std::size_t scanned_{0};  // bytes after pos_ already searched for CRLF
    std::vector<frame> stack_;
    std::string error_;
};

}  // namespace connmgr::redis
