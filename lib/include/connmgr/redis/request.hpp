#pragma once
/// A batch of Redis commands, encoded once into RESP on construction (binary-safe).
///
/// Both drivers send `payload()` as it is, so every command, pipelined or not, goes through
/// the same encoder (hiredis' `redisFormatCommandArgv`, with explicit lengths).
///
/// \par Thread safety
/// A plain value: copy freely; concurrent reads are safe, writes need external synchronization.

#include <cstddef>
#include <initializer_list>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace connmgr::redis {

/// The arguments of one command: {"SET", "key", "value"}. Views: the bytes are copied into
/// the encoded request before the call returns.
using command_args = std::initializer_list<std::string_view>;

class request {
public:
    request() = default;
    /// One command.
    request(command_args args) { push(args); }  // NOLINT(google-explicit-constructor)
    /// Several commands, pipelined: {{"SET", "a", "1"}, {"INCR", "a"}}.
    request(std::initializer_list<command_args> commands);  // NOLINT(google-explicit-constructor)
    explicit request(const std::vector<std::vector<std::string>>& commands);

    /// Appends one command. Throws connmgr::error (query_failed) for an empty command.
    void push(std::span<const std::string_view> args);
    void push(command_args args) {
        push(std::span<const std::string_view>(args.begin(), args.size()));
    }
    void push(const std::vector<std::string>& args);
    void push(const std::vector<std::string_view>& args) {
        push(std::span<const std::string_view>(args));
    }

    /// Number of commands, hence of replies expected.
    std::size_t size() const noexcept { return count_; }
    bool empty() const noexcept { return count_ == 0; }
    /// The RESP bytes of every command, in order.
    const std::string& payload() const noexcept { return payload_; }
    void clear() noexcept {
        payload_.clear();
        count_ = 0;
    }

private:
    std::string payload_;
    std::size_t count_{0};
};

}  // namespace connmgr::redis
