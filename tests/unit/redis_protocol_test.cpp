// The protocol layer without a socket: RESP encoding and incremental parsing.
#include <connmgr/error.hpp>
#include <connmgr/redis/reply_parser.hpp>
#include <connmgr/redis/request.hpp>

#include <gtest/gtest.h>

#include <string>

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

TEST(RedisParser, ReportsProtocolErrors) {
    reply_parser p;
    const std::string wire = "?garbage\r\n";
    p.feed(wire.data(), wire.size());
    EXPECT_FALSE(p.next());
    EXPECT_FALSE(p.error().empty());
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
