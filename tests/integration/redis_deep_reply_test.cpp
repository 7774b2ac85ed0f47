// Replies nested deeper than hiredis 0.14's reader took (7 levels) through both Redis drivers:
// a 12-level Lua table and Redis 7's COMMAND INFO (CONNMGR_TEST_REDIS_URL; skipped when unset).
#include "redis_test_env.hpp"

#include <connmgr/redis/async_driver.hpp>
#include <connmgr/redis/sync_driver.hpp>

#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>

#include <gtest/gtest.h>

#include <string>
#include <thread>

namespace asio = boost::asio;
using connmgr::redis::reply;
using connmgr::redis::request;
using namespace std::chrono_literals;

namespace {

constexpr const char* plain_url = "CONNMGR_TEST_REDIS_URL";
constexpr std::size_t levels = 12;

// `return {{...{1}...}}` with `levels` tables: an array reply `levels` deep around an integer.
request nested_eval() {
    const std::string script =
        "return " + std::string(levels, '{') + "1" + std::string(levels, '}');
    return request{"EVAL", script, "0"};
}

void expect_nested(const reply& r) {
    const reply* at = &r;
    for (std::size_t level = 0; level < levels; ++level) {
        ASSERT_TRUE(at->is_array()) << "level " << level << ": " << at->describe();
        ASSERT_EQ(at->size(), 1U) << "level " << level;
        at = &(*at)[0];
    }
    EXPECT_EQ(at->integer(), 1);
}

// COMMAND INFO GET on Redis 7: [[name, arity, flags, first, last, step, acl categories, tips,
// key specs, subcommands]], key specs holding nested begin_search / find_keys descriptions.
void expect_command_info(const reply& r) {
    ASSERT_TRUE(r.is_array()) << r.describe();
    ASSERT_EQ(r.size(), 1U);
    const reply& get = r[0];
    ASSERT_GE(get.size(), 10U) << get.describe();
    EXPECT_EQ(get[0].str(), "get");
    EXPECT_EQ(get[1].integer(), 2);
    const reply& key_specs = get[8];
    ASSERT_TRUE(key_specs.is_array());
    ASSERT_GE(key_specs.size(), 1U);
    EXPECT_NE(key_specs.describe().find("begin_search"), std::string::npos);
}

}  // namespace

TEST(RedisDeepReply, SyncDriverTakesTwelveLevelsAndCommandInfo) {
    REDIS_ENDPOINT_OR_SKIP(plain_url, ep);
    connmgr::redis::sync_driver d(ep, "deep-reply-test", {});
    auto out = d.connect(redis_test::in(5s));
    ASSERT_TRUE(out.connection) << out.message;
    auto& c = *out.connection;
    expect_nested(c.command(nested_eval()));
    expect_command_info(c.command({"COMMAND", "INFO", "GET"}));
    EXPECT_FALSE(d.is_broken(c));
    EXPECT_EQ(c.command({"PING"}).str(), "PONG");
}

TEST(RedisDeepReply, AsyncDriverTakesTwelveLevelsAndCommandInfo) {
    REDIS_ENDPOINT_OR_SKIP(plain_url, ep);
    asio::io_context io;
    connmgr::redis::async_driver d(ep, "deep-reply-test", {});
    std::unique_ptr<connmgr::redis::async_connection> c;
    std::string message;
    d.async_connect(io.get_executor(), redis_test::in(5s),
                    [&](connmgr::connect_outcome<connmgr::redis::async_connection> o) {
                        c = std::move(o.connection);
                        message = o.message;
                    });
    io.run();
    io.restart();
    ASSERT_TRUE(c) << message;
    auto work = asio::make_work_guard(io);
    std::thread runner([&] { io.run(); });
    auto nested = c->async_command(nested_eval(), asio::use_future);
    expect_nested(nested.get());
    auto info = c->async_command({"COMMAND", "INFO", "GET"}, asio::use_future);
    expect_command_info(info.get());
    auto both = c->async_pipeline(request{{"COMMAND", "INFO", "GET"}, {"PING"}}, asio::use_future);
    const auto replies = both.get();
    ASSERT_EQ(replies.size(), 2U);
    expect_command_info(replies[0]);
    EXPECT_EQ(replies[1].str(), "PONG");
    EXPECT_FALSE(d.is_broken(*c));
    work.reset();
    io.stop();
    runner.join();
}
