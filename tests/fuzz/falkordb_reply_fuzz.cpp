// Fuzz target: the FalkorDB compact-reply decoder, fed what a server could send (bytes through
// redis::reply_parser, as the graph client reads them). Only query_failed may escape; a schema
// reference past the names given is reported, never guessed; and the names only fill in
// references: whether a reply decodes, and what it decodes to when it refers to no name, does
// not depend on the schema.

#include "fuzz_check.hpp"

#include <connmgr/error.hpp>
#include <connmgr/falkordb/decoder.hpp>
#include <connmgr/redis/reply_parser.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace {

namespace fdb = connmgr::falkordb;
using connmgr::redis::reply;

// What one decode ended with: the decoded reply, or the error it threw.
struct attempt {
    std::optional<fdb::decoded> out;
    std::string error;
};

void check_error(const connmgr::error& e) {
    FUZZ_CHECK(e.code() == connmgr::errc::query_failed, e.what());
    FUZZ_CHECK(std::string_view(e.what()).size() > 0, "an empty message");
}

attempt decode(const reply& r, const fdb::schema_names& names) {
    attempt a;
    try {
        a.out = fdb::decode_compact(r, names);
    } catch (const connmgr::error& e) {
        check_error(e);
        a.error = e.what();
        return a;
    }
    const auto& d = *a.out;
    FUZZ_CHECK(d.value.has_value() == (d.missing == 0), r.describe());
    FUZZ_CHECK((d.missing & ~7U) == 0, r.describe());
    if (d.value) {
        // Diagnostics and column lookup must work on whatever was decoded.
        for (const auto& row : *d.value)
            for (const auto& cell : row) (void)cell.describe();
        if (d.value->ok() && !d.value->columns().empty())
            FUZZ_CHECK(d.value->column(d.value->columns().front()) == 0, r.describe());
    }
    return a;
}

// The other entry points taking server replies: they may refuse, never crash.
void decode_others(const reply& r) {
    try {
        (void)fdb::decode_procedure_names(r);
    } catch (const connmgr::error& e) {
        check_error(e);
    }
    try {
        (void)fdb::parse_stats(r);
    } catch (const connmgr::error& e) {
        check_error(e);
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    // The first byte picks how many names of each part the schema knows (0..3 each).
    const unsigned pick = data[0];
    fdb::schema_names names;
    for (unsigned i = 0; i < (pick & 3U); ++i) names.labels.push_back("L" + std::to_string(i));
    for (unsigned i = 0; i < ((pick >> 2U) & 3U); ++i)
        names.relationship_types.push_back("T" + std::to_string(i));
    for (unsigned i = 0; i < ((pick >> 4U) & 3U); ++i)
        names.property_keys.push_back("k" + std::to_string(i));

    connmgr::redis::reply_parser parser;
    parser.feed(reinterpret_cast<const char*>(data) + 1, size - 1);
    for (int n = 0; n < 4; ++n) {
        auto r = parser.next();
        if (!r) break;
        const attempt known = decode(*r, names);
        const attempt none = decode(*r, {});
        FUZZ_CHECK(known.error == none.error, known.error + " | " + none.error);
        if (none.out && none.out->missing == 0) {
            FUZZ_CHECK(known.out && known.out->missing == 0, r->describe());
            FUZZ_CHECK(known.out->value == none.out->value, r->describe());
        }
        decode_others(*r);
    }
    return 0;
}
