#pragma once
/// Incremental RESP2 parser (hiredis' `redisReader` underneath): feed bytes as they arrive,
/// take complete replies out. Socket-free, so protocol edge cases are unit-tested without a
/// server; both drivers use it.
///
/// \par Thread safety
/// One parser per connection, used by one thread at a time.

#include <connmgr/redis/reply.hpp>

#include <cstddef>
#include <optional>
#include <string>

namespace connmgr::redis {

class reply_parser {
public:
    reply_parser();
    ~reply_parser();
    reply_parser(const reply_parser&) = delete;
    reply_parser& operator=(const reply_parser&) = delete;

    /// Appends received bytes. Returns false on a protocol error (see `error()`).
    bool feed(const char* data, std::size_t size);

    /// The next complete reply, if one is buffered. Sets `error()` and returns nullopt on a
    /// protocol error, after which the connection can no longer be trusted.
    std::optional<reply> next();

    /// Non-empty after a protocol error.
    const std::string& error() const noexcept { return error_; }

private:
    void* reader_;  // redisReader*; hiredis stays out of public headers
    std::string error_;
};

}  // namespace connmgr::redis
