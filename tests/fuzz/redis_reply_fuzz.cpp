// Fuzz target: the RESP reply parser the Redis drivers read with. The bytes of a socket arrive
// in arbitrary pieces, so the replies must not depend on how the input is split; a reply
// written back in RESP must parse to itself; a protocol error is final.

#include "fuzz_check.hpp"

#include <connmgr/redis/reply.hpp>
#include <connmgr/redis/reply_parser.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace {

using connmgr::redis::reply;
using connmgr::redis::reply_parser;
using connmgr::redis::reply_type;

struct outcome {
    std::vector<reply> replies;
    bool failed{false};
};

// Feeds `bytes` in pieces of `piece` bytes (0: all at once), taking replies after each piece.
outcome parse(std::string_view bytes, std::size_t piece) {
    reply_parser parser;
    outcome out;
    const std::size_t step = piece == 0 ? std::max<std::size_t>(bytes.size(), 1) : piece;
    for (std::size_t at = 0; at < bytes.size() && !out.failed; at += step) {
        const auto chunk = bytes.substr(at, step);
        if (!parser.feed(chunk.data(), chunk.size())) {
            out.failed = true;
            break;
        }
        while (auto r = parser.next()) out.replies.push_back(std::move(*r));
        out.failed = !parser.error().empty();
    }
    if (out.failed) {
        FUZZ_CHECK(!parser.next().has_value(), parser.error());
        FUZZ_CHECK(!parser.feed("+OK\r\n", 5), parser.error());
    }
    return out;
}

void encode(const reply& r, std::string& out) {
    switch (r.type()) {
        case reply_type::nil: out += "$-1\r\n"; return;
        case reply_type::status: out += "+" + r.str() + "\r\n"; return;
        case reply_type::error: out += "-" + r.str() + "\r\n"; return;
        case reply_type::integer: out += ":" + std::to_string(r.integer()) + "\r\n"; return;
        case reply_type::string:
            out += "$" + std::to_string(r.str().size()) + "\r\n" + r.str() + "\r\n";
            return;
        case reply_type::array:
            out += "*" + std::to_string(r.size()) + "\r\n";
            for (const auto& e : r.elements()) encode(e, out);
            return;
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    // The first byte picks how the rest is split, the rest is what the server sent.
    const std::size_t piece = data[0] % 8;
    const std::string_view bytes(reinterpret_cast<const char*>(data) + 1, size - 1);

    const outcome whole = parse(bytes, 0);
    const outcome split = parse(bytes, piece == 0 ? 1 : piece);
    FUZZ_CHECK(whole.failed == split.failed, bytes);
    FUZZ_CHECK(whole.replies == split.replies, bytes);

    std::string written;
    for (const auto& r : whole.replies) encode(r, written);
    const outcome again = parse(written, 0);
    FUZZ_CHECK(!again.failed, written);
    FUZZ_CHECK(again.replies == whole.replies, written);
    return 0;
}
