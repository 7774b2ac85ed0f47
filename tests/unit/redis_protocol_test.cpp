// The protocol layer without a socket: RESP encoding and incremental parsing.
#include <connmgr/error.hpp>
#include <connmgr/redis/reply_parser.hpp>
#include <connmgr/redis/request.hpp>

#include <gtest/gtest.h>

#include <limits>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

using connmgr::redis::reply;
using connmgr::redis::reply_parser;
using connmgr::redis::reply_type;
using connmgr::redis::request;
using namespace std::string_literals;

TEST(RedisRequest, EncodesOneCommand) {
    const request r{"SET", "k", "v"};
    EXPECT_EQ(r.size(), 1U);
    EXPECT_EQ(r.payload(), "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n");
}

TEST(RedisRequest, EncodesBinaryArgumentsByLength) {
    const std::string value = "a\0b\r\nc"s;
    const request r{"SET", "k", value};
    EXPECT_EQ(r.payload(), "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$6\r\n"s + value + "\r\n");
}

TEST(RedisRequest, PipelinesSeveralCommands) {
    const request r{{"SET", "a", "1"}, {"INCR", "a"}};
    EXPECT_EQ(r.size(), 2U);
    EXPECT_EQ(r.payload(),
              "*3\r\n$3\r\nSET\r\n$1\r\na\r\n$1\r\n1\r\n*2\r\n$4\r\nINCR\r\n$1\r\na\r\n");
}

TEST(RedisRequest, ManyArgumentsAndVectors) {
    std::vector<std::string> args{"DEL"};
    for (int i = 0; i < 40; ++i) args.push_back("key" + std::to_string(i));
    request r;
    r.push(args);
    EXPECT_EQ(r.payload().rfind("*41\r\n", 0), 0U);
    EXPECT_NE(r.payload().find("$5\r\nkey39\r\n"), std::string::npos);
}

TEST(RedisRequest, RejectsEmptyCommand) {
    request r;
    EXPECT_THROW(r.push(std::vector<std::string>{}), connmgr::error);
    EXPECT_TRUE(r.empty());
}

TEST(RedisParser, ParsesEveryType) {
    reply_parser p;
    const std::string wire =
        "+OK\r\n-WRONGTYPE Operation against a key\r\n:42\r\n$-1\r\n$3\r\nabc\r\n"
        "*3\r\n:1\r\n*2\r\n$1\r\nx\r\n$-1\r\n+s\r\n*-1\r\n*0\r\n";
    ASSERT_TRUE(p.feed(wire.data(), wire.size()));
    auto ok = p.next();
    ASSERT_TRUE(ok);
    EXPECT_TRUE(ok->is_status());
    EXPECT_EQ(ok->str(), "OK");
    auto err = p.next();
    ASSERT_TRUE(err);
    EXPECT_TRUE(err->is_error());
    EXPECT_EQ(err->error_code(), "WRONGTYPE");
    EXPECT_EQ(p.next()->integer(), 42);
    EXPECT_TRUE(p.next()->is_nil());
    EXPECT_EQ(p.next()->str(), "abc");
    auto arr = p.next();
    ASSERT_TRUE(arr);
    ASSERT_EQ(arr->size(), 3U);
    EXPECT_EQ((*arr)[0].integer(), 1);
    ASSERT_EQ((*arr)[1].size(), 2U);
    EXPECT_EQ((*arr)[1][0].str(), "x");
    EXPECT_TRUE((*arr)[1][1].is_nil());
    EXPECT_EQ((*arr)[2], reply::make_status("s"));
    EXPECT_TRUE(p.next()->is_nil());  // null array
    auto empty = p.next();
    ASSERT_TRUE(empty);
    EXPECT_TRUE(empty->is_array());
    EXPECT_EQ(empty->size(), 0U);
    EXPECT_FALSE(p.next());
    EXPECT_TRUE(p.error().empty());
}

TEST(RedisParser, AssemblesRepliesSplitAtEveryByte) {
    const std::string value = "a\0b\r\nc"s;
    const std::string wire = "*2\r\n$6\r\n"s + value + "\r\n:7\r\n";
    reply_parser p;
    for (std::size_t i = 0; i + 1 < wire.size(); ++i) {
        ASSERT_TRUE(p.feed(&wire[i], 1));
        ASSERT_FALSE(p.next()) << "complete too early at byte " << i;
    }
    ASSERT_TRUE(p.feed(&wire.back(), 1));
    auto r = p.next();
    ASSERT_TRUE(r);
    EXPECT_EQ((*r)[0].str(), value);
    EXPECT_EQ((*r)[1].integer(), 7);
}

namespace {

// Every reply the stream holds, or the parser's error.
struct parsed {
    std::vector<reply> replies;
    std::string error;
};

parsed parse_all(reply_parser& p, std::string_view wire) {
    parsed out;
    p.feed(wire.data(), wire.size());
    while (auto r = p.next()) out.replies.push_back(std::move(*r));
    out.error = p.error();
    return out;
}

parsed parse_all(std::string_view wire) {
    reply_parser p;
    return parse_all(p, wire);
}

// `*1\r\n` `depth - 1` times around `:1`: a reply `depth` levels deep counting the integer.
std::string nested_wire(std::size_t arrays) {
    std::string wire;
    for (std::size_t i = 0; i < arrays; ++i) wire += "*1\r\n";
    return wire + ":1\r\n";
}

std::size_t depth_of(const reply& r) {
    std::size_t depth = 1;
    const reply* at = &r;
    while (at->is_array() && at->size() == 1) {
        at = &(*at)[0];
        ++depth;
    }
    return depth;
}

const std::string every_type_wire =
    "+OK\r\n-ERR bad thing\r\n:-9223372036854775808\r\n:0\r\n$0\r\n\r\n$-1\r\n*-1\r\n*0\r\n"
    "$5\r\nh\r\n\0y\r\n*3\r\n*2\r\n+a\r\n-b\r\n$1\r\nc\r\n*0\r\n"s +
    nested_wire(12);

}  // namespace

TEST(RedisParser, EveryTypeHasTheRightValue) {
    const parsed p = parse_all(every_type_wire);
    ASSERT_EQ(p.error, "");
    ASSERT_EQ(p.replies.size(), 11U);
    EXPECT_EQ(p.replies[0], reply::make_status("OK"));
    EXPECT_EQ(p.replies[1], reply::make_error("ERR bad thing"));
    EXPECT_EQ(p.replies[2], reply::make_integer(std::numeric_limits<long long>::min()));
    EXPECT_EQ(p.replies[3], reply::make_integer(0));
    EXPECT_EQ(p.replies[4], reply::make_string(""));
    EXPECT_TRUE(p.replies[5].is_nil());
    EXPECT_TRUE(p.replies[6].is_nil());
    EXPECT_EQ(p.replies[7], reply::make_array(std::vector<reply>{}));
    EXPECT_EQ(p.replies[8], reply::make_string("h\r\n\0y"s));
    EXPECT_EQ(
        p.replies[9],
        reply::make_array({reply::make_array({reply::make_status("a"), reply::make_error("b")}),
                           reply::make_string("c"), reply::make_array(std::vector<reply>{})}));
    EXPECT_EQ(depth_of(p.replies[10]), 13U);
}

TEST(RedisParser, SplitAtEveryByteBoundaryGivesTheSameReplies) {
    const parsed whole = parse_all(every_type_wire);
    ASSERT_EQ(whole.error, "");
    for (std::size_t cut = 1; cut < every_type_wire.size(); ++cut) {
        reply_parser p;
        parsed got = parse_all(p, std::string_view(every_type_wire).substr(0, cut));
        const parsed rest = parse_all(p, std::string_view(every_type_wire).substr(cut));
        got.replies.insert(got.replies.end(), rest.replies.begin(), rest.replies.end());
        ASSERT_EQ(rest.error, "") << "cut at " << cut;
        ASSERT_EQ(got.replies, whole.replies) << "cut at " << cut;
        EXPECT_EQ(p.buffered(), 0U);
    }
}

TEST(RedisParser, OneByteAtATime) {
    reply_parser p;
    std::vector<reply> got;
    for (const char c : every_type_wire) {
        ASSERT_TRUE(p.feed(&c, 1));
        while (auto r = p.next()) got.push_back(std::move(*r));
    }
    EXPECT_EQ(p.error(), "");
    EXPECT_EQ(got, parse_all(every_type_wire).replies);
}

TEST(RedisParser, TwelveLevelsAndFarDeeperNesting) {
    // hiredis 0.14 stopped at 7 levels; a FalkorDB path reply is about ten.
    const parsed twelve = parse_all(nested_wire(12));
    ASSERT_EQ(twelve.error, "");
    ASSERT_EQ(twelve.replies.size(), 1U);
    EXPECT_EQ(depth_of(twelve.replies[0]), 13U);

    const parsed deep = parse_all(nested_wire(999));
    ASSERT_EQ(deep.error, "");
    ASSERT_EQ(deep.replies.size(), 1U);
    EXPECT_EQ(depth_of(deep.replies[0]), 1000U);
}

TEST(RedisParser, RefusesNestingPastTheDepthLimitWithoutRecursing) {
    // A hostile server: a million levels must fail cleanly, not overflow the stack.
    const parsed p = parse_all(nested_wire(1'000'000));
    EXPECT_TRUE(p.replies.empty());
    EXPECT_NE(p.error.find("nested deeper than 1000 levels"), std::string::npos) << p.error;

    reply_parser shallow(reply_parser::limits{.max_depth = 3});
    EXPECT_EQ(parse_all(shallow, nested_wire(3)).replies.size(), 1U);
    EXPECT_NE(parse_all(shallow, nested_wire(4)).error, "");
}

TEST(RedisParser, ReportsProtocolErrors) {
    reply_parser p;
    const std::string wire = "?garbage\r\n";
    p.feed(wire.data(), wire.size());
    EXPECT_FALSE(p.next());
    EXPECT_NE(p.error().find("unexpected reply type byte \"?\""), std::string::npos) << p.error();
    // The stream is over: nothing more is accepted.
    EXPECT_FALSE(p.feed("+OK\r\n", 5));
    EXPECT_FALSE(p.next());
}

TEST(RedisParser, MalformedInputNamesTheProblem) {
    const std::vector<std::pair<std::string, std::string>> cases{
        {":12a\r\n", "integer reply \"12a\" is not an integer"},
        {":\r\n", "integer reply \"\" is not an integer"},
        {":99999999999999999999\r\n", "is not an integer"},
        {":+1\r\n", "is not an integer"},
        {"$abc\r\n", "bulk length \"abc\" is not an integer"},
        {"$-2\r\n", "bulk length -2 is negative"},
        {"$ 3\r\nabc\r\n", "is not an integer"},
        {"$3\r\nabcX\r\n", "not followed by CRLF but \"X\\r\""},
        {"$600000000\r\n", "exceeds the limit of 536870912"},
        {"*x\r\n", "array length \"x\" is not an integer"},
        {"*-5\r\n", "array length -5 is negative"},
        {"*99999999999\r\n", "exceeds the limit of 4294967296"},
        {"*2\r\n:1\r\n!x\r\n", "unexpected reply type byte \"!\""},
        {"\x01", "unexpected reply type byte \"\\x01\""},
        {":" + std::string(40, '1'), "no CRLF within 32 bytes"},
    };
    for (const auto& [wire, message] : cases) {
        const parsed p = parse_all(wire);
        EXPECT_TRUE(p.replies.empty()) << testing::PrintToString(wire);
        EXPECT_NE(p.error.find(message), std::string::npos)
            << "input " << testing::PrintToString(wire) << " gave: " << p.error;
    }
}

TEST(RedisParser, LineLengthIsBounded) {
    reply_parser p(reply_parser::limits{.max_line_length = 8});
    EXPECT_EQ(parse_all(p, "+12345678\r\n").replies.size(), 1U);
    const parsed over = parse_all(p, "+123456789");
    EXPECT_NE(over.error.find("no CRLF within 8 bytes"), std::string::npos) << over.error;
}

// Found by the split-feed fuzz check: a number line of exactly the limit was refused when its
// '\r' arrived before its '\n', and accepted when fed whole.
TEST(RedisParser, LongestNumberLineParsesFedByteByByte) {
    const std::string wire = ":" + std::string(31, '0') + "7\r\n";  // 32 digits: the limit
    reply_parser whole;
    EXPECT_EQ(parse_all(whole, wire).replies.size(), 1U);
    reply_parser split;
    std::optional<reply> r;
    for (char c : wire) {
        ASSERT_TRUE(split.feed(&c, 1)) << split.error();
        if (auto next = split.next()) r = std::move(next);
    }
    ASSERT_TRUE(r.has_value()) << split.error();
    EXPECT_EQ(r->integer(), 7);
}

TEST(RedisParser, HugeDeclaredArrayAllocatesNothingUpFront) {
    // Four billion elements declared, three sent: the parser waits, it does not allocate.
    reply_parser p;
    const parsed got = parse_all(p, "*4000000000\r\n:1\r\n:2\r\n:3\r\n");
    EXPECT_TRUE(got.replies.empty());
    EXPECT_EQ(got.error, "");
    EXPECT_EQ(p.buffered(), 0U);
}

TEST(RedisParser, LargeBulkInManyPieces) {
    const std::string value(1 << 20, 'v');
    const std::string wire = "$" + std::to_string(value.size()) + "\r\n" + value + "\r\n";
    reply_parser p;
    std::optional<reply> r;
    for (std::size_t at = 0; at < wire.size(); at += 1000) {
        ASSERT_TRUE(p.feed(wire.data() + at, std::min<std::size_t>(1000, wire.size() - at)));
        if (auto got = p.next()) r = std::move(got);
    }
    ASSERT_TRUE(r);
    EXPECT_EQ(r->str(), value);
}

// Found by tests/fuzz/redis_reply_fuzz.cpp: the element vector was sized from the declared
// count, so one line from a peer made the client allocate (and zero) gigabytes.
TEST(RedisParser, DeclaredArraySizeIsNotAllocatedUpFront) {
    reply_parser p;
    const std::string huge = "*1000000000\r\n:1\r\n";
    ASSERT_TRUE(p.feed(huge.data(), huge.size()));
    EXPECT_FALSE(p.next().has_value());
    EXPECT_EQ(p.error(), "");
}

TEST(RedisParser, NestedArraysFilledInOrder) {
    reply_parser p;
    const std::string bytes = "*3\r\n*2\r\n:1\r\n*1\r\n$1\r\na\r\n:2\r\n*0\r\n";
    ASSERT_TRUE(p.feed(bytes.data(), bytes.size()));
    const auto r = p.next();
    ASSERT_TRUE(r.has_value());
    const reply want = reply::make_array(
        {reply::make_array({reply::make_integer(1), reply::make_array({reply::make_string("a")})}),
         reply::make_integer(2), reply::make_array(std::vector<reply>{})});
    EXPECT_EQ(*r, want) << r->describe();
}

TEST(RedisReply, AccessorsCheckTheType) {
    const reply i = reply::make_integer(3);
    EXPECT_THROW((void)i.str(), connmgr::error);
    EXPECT_THROW((void)reply{}.integer(), connmgr::error);
    EXPECT_EQ(reply{}.as_optional_string(), std::nullopt);
    EXPECT_EQ(reply::make_string("v").as_optional_string(), "v");
    EXPECT_EQ(i.describe(), "(integer) 3");
    EXPECT_EQ(reply::make_error("ERR bad").error_code(), "ERR");
    EXPECT_EQ(to_string(reply_type::array), "array");
}
