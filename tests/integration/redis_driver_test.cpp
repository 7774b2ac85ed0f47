// The Redis drivers against a real server (CONNMGR_TEST_REDIS_*; skipped when unset).
#include "redis_test_env.hpp"

#include <connmgr/error.hpp>
#include <connmgr/redis/async_driver.hpp>
#include <connmgr/redis/sync_driver.hpp>
#include <connmgr/url.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>

#include <gtest/gtest.h>

#include <thread>

namespace asio = boost::asio;
using connmgr::errc;
using connmgr::redis::reply;
using connmgr::redis::request;
using namespace std::chrono_literals;
using namespace std::string_literals;

namespace {

constexpr const char* plain_url = "CONNMGR_TEST_REDIS_URL";

std::unique_ptr<connmgr::redis::sync_connection> open(connmgr::redis::sync_driver& d) {
    auto out = d.connect(redis_test::in(5s));
    if (!out.connection) throw std::runtime_error("connect failed: " + out.message);
    return std::move(out.connection);
}

connmgr::redis::sync_driver make_driver(const connmgr::redis_endpoint& ep,
                                        connmgr::pool_options o = {}) {
    return connmgr::redis::sync_driver(ep, "driver-test", o);
}

}  // namespace

TEST(RedisSyncDriver, BinarySafeRoundTrip) {
    REDIS_ENDPOINT_OR_SKIP(plain_url, ep);
    auto d = make_driver(ep);
    auto c = open(d);
    const std::string key = redis_test::unique_key("bin");
    const std::string value = "nul\0in\r\nthe middle\0"s;
    EXPECT_EQ(c->command({"SET", key, value}).str(), "OK");
    EXPECT_EQ(c->command({"GET", key}).str(), value);
    EXPECT_TRUE(c->command({"GET", key + ":absent"}).is_nil());
    EXPECT_EQ(c->command(std::vector<std::string>{"DEL", key}).integer(), 1);
}

TEST(RedisSyncDriver, SetsClientName) {
    REDIS_ENDPOINT_OR_SKIP(plain_url, ep);
    auto d = make_driver(ep);
    auto c = open(d);
    EXPECT_EQ(c->command({"CLIENT", "GETNAME"}).str(), "connmgr:driver-test");
}

TEST(RedisSyncDriver, ErrorReplyThrowsAndConnectionStaysUsable) {
    REDIS_ENDPOINT_OR_SKIP(plain_url, ep);
    auto d = make_driver(ep);
    auto c = open(d);
    const std::string key = redis_test::unique_key("wrongtype");
    c->command({"SET", key, "v"});
    try {
        c->command({"LPUSH", key, "x"});
        FAIL() << "no exception";
    } catch (const connmgr::query_error& e) {
        EXPECT_EQ(e.server_code(), "WRONGTYPE");
        EXPECT_EQ(e.code(), errc::query_failed);
    }
    EXPECT_FALSE(d.is_broken(*c));
    EXPECT_EQ(c->command({"PING"}).str(), "PONG");
    c->command({"DEL", key});
}

TEST(RedisSyncDriver, DatabasesAreIsolated) {
    REDIS_ENDPOINT_OR_SKIP(plain_url, ep);
    auto ep0 = ep;
    ep0.db = 0;
    auto ep1 = ep;
    ep1.db = 1;
    auto d0 = make_driver(ep0);
    auto d1 = make_driver(ep1);
    auto c0 = open(d0);
    auto c1 = open(d1);
    const std::string key = redis_test::unique_key("isolated");
    c0->command({"SET", key, "zero"});
    EXPECT_TRUE(c1->command({"GET", key}).is_nil());
    EXPECT_EQ(c0->command({"GET", key}).str(), "zero");
    c0->command({"DEL", key});
}

TEST(RedisSyncDriver, PipelineOfTenThousandWithAnErrorInside) {
    REDIS_ENDPOINT_OR_SKIP(plain_url, ep);
    auto d = make_driver(ep);
    auto c = open(d);
    const std::string key = redis_test::unique_key("pipe");
    const std::string text = redis_test::unique_key("pipe-text");
    request req;
    req.push({"SET", text, "not a number"});
    for (int i = 0; i < 10'000; ++i) {
        if (i == 5'000) req.push({"INCR", text});  // fails: WRONGTYPE-like ERR
        req.push({"INCR", key});
    }
    const auto replies = c->pipeline(req);
    ASSERT_EQ(replies.size(), 10'002U);
    EXPECT_EQ(replies[0].str(), "OK");
    for (std::size_t i = 1; i <= 5'000; ++i)
        ASSERT_EQ(replies[i].integer(), static_cast<long long>(i));
    EXPECT_TRUE(replies[5'001].is_error());
    EXPECT_EQ(replies[5'001].error_code(), "ERR");
    for (std::size_t i = 5'002; i < replies.size(); ++i)
        ASSERT_EQ(replies[i].integer(), static_cast<long long>(i - 1));
    EXPECT_FALSE(d.is_broken(*c));
    c->pipeline({{"DEL", key}, {"DEL", text}});
}

TEST(RedisSyncDriver, QueryTimeoutMarksTheConnectionBroken) {
    REDIS_ENDPOINT_OR_SKIP(plain_url, ep);
    auto d = make_driver(ep, {.query_timeout = 200ms});
    auto c = open(d);
    const auto start = std::chrono::steady_clock::now();
    try {
        c->command({"BLPOP", redis_test::unique_key("never"), "5"});
        FAIL() << "no timeout";
    } catch (const connmgr::error& e) {
        EXPECT_EQ(e.code(), errc::query_timeout);
        EXPECT_NE(std::string(e.what()).find("timed out"), std::string::npos) << e.what();
    }
    EXPECT_LT(std::chrono::steady_clock::now() - start, 3s);
    EXPECT_TRUE(d.is_broken(*c));
    EXPECT_FALSE(d.reset(*c));
    EXPECT_THROW(c->command({"PING"}), connmgr::error);
}

TEST(RedisSyncDriver, NoticesAKilledIdleConnection) {
    REDIS_ENDPOINT_OR_SKIP(plain_url, ep);
    auto d = make_driver(ep);
    auto victim = open(d);
    auto killer = open(d);
    const auto id = victim->command({"CLIENT", "ID"}).integer();
    EXPECT_FALSE(victim->is_broken());
    EXPECT_EQ(killer->command({"CLIENT", "KILL", "ID", std::to_string(id)}).integer(), 1);
    // The borrower's check asks the socket; the pool's check on return (the driver's) only
    // what a request already found, so it costs no system call.
    const auto until = redis_test::in(5s);
    while (!victim->is_broken() && std::chrono::steady_clock::now() < until)
        std::this_thread::yield();
    EXPECT_TRUE(victim->is_broken());
    EXPECT_FALSE(d.is_broken(*victim));
    EXPECT_EQ(d.ping(*victim, redis_test::in(1s)), errc::connection_lost);
    EXPECT_TRUE(d.is_broken(*victim));
}

TEST(RedisSyncDriver, ConnectRefusedFailsWithAMessage) {
    connmgr::redis_endpoint ep;
    ep.host = "127.0.0.1";
    ep.port = 1;
    ep.password = "hunter2-secret";
    auto d = make_driver(ep);
    auto out = d.connect(redis_test::in(2s));
    EXPECT_FALSE(out.connection);
    EXPECT_EQ(out.error, errc::connect_failed);
    EXPECT_NE(out.message.find("127.0.0.1:1"), std::string::npos) << out.message;
    EXPECT_EQ(out.message.find("hunter2"), std::string::npos) << out.message;
}

TEST(RedisSyncDriver, AuthWithAclUserAndPasswordOnly) {
    REDIS_ENDPOINT_OR_SKIP("CONNMGR_TEST_REDIS_AUTH_URL", ep);
    {
        auto d = make_driver(ep);
        auto c = open(d);
        EXPECT_EQ(c->command({"ACL", "WHOAMI"}).str(), ep.user);
    }
    {
        auto pw_only = ep;
        pw_only.user.clear();
        auto d = make_driver(pw_only);
        auto c = open(d);
        EXPECT_EQ(c->command({"ACL", "WHOAMI"}).str(), "default");
    }
}

TEST(RedisSyncDriver, WrongCredentialsFailWithoutShowingThePassword) {
    REDIS_ENDPOINT_OR_SKIP("CONNMGR_TEST_REDIS_AUTH_URL", ep);
    for (bool with_user : {true, false}) {
        auto bad = ep;
        bad.password = "wrong-Pa55word-xyz";
        if (!with_user) bad.user.clear();
        auto d = make_driver(bad);
        auto out = d.connect(redis_test::in(5s));
        EXPECT_FALSE(out.connection);
        EXPECT_EQ(out.error, errc::connect_failed);
        EXPECT_NE(out.message.find("AUTH"), std::string::npos) << out.message;
        EXPECT_EQ(out.message.find("wrong-Pa55word-xyz"), std::string::npos) << out.message;
    }
    {
        auto none = ep;  // no credentials at all: the first command is refused
        none.user.clear();
        none.password.clear();
        auto d = make_driver(none);
        auto out = d.connect(redis_test::in(5s));
        EXPECT_FALSE(out.connection);
        EXPECT_NE(out.message.find("NOAUTH"), std::string::npos) << out.message;
    }
}

TEST(RedisSyncDriver, TlsWithTheTestCa) {
    REDIS_ENDPOINT_OR_SKIP("CONNMGR_TEST_REDIS_TLS_URL", ep);
    ASSERT_TRUE(ep.tls);
    auto d = make_driver(ep);
    auto c = open(d);
    const std::string key = redis_test::unique_key("tls");
    const std::string value(100'000, 'x');
    c->command({"SET", key, value});
    EXPECT_EQ(c->command({"GET", key}).str(), value);
    c->command({"DEL", key});
}

TEST(RedisSyncDriver, TlsRejectsAnUnknownCa) {
    REDIS_ENDPOINT_OR_SKIP("CONNMGR_TEST_REDIS_TLS_URL", ep);
    auto no_ca = ep;
    no_ca.tls_ca_file.clear();  // system CAs do not know the test CA
    auto d = make_driver(no_ca);
    auto out = d.connect(redis_test::in(5s));
    EXPECT_FALSE(out.connection);
    EXPECT_NE(out.message.find("TLS"), std::string::npos) << out.message;
}

// ---------------------------------------------------------------------------------------------

namespace {

std::unique_ptr<connmgr::redis::async_connection> async_open(connmgr::redis::async_driver& d,
                                                             asio::io_context& io) {
    std::unique_ptr<connmgr::redis::async_connection> conn;
    std::string message;
    d.async_connect(io.get_executor(), redis_test::in(5s),
                    [&](connmgr::connect_outcome<connmgr::redis::async_connection> out) {
                        conn = std::move(out.connection);
                        message = out.message;
                    });
    io.run();
    io.restart();
    if (!conn) throw std::runtime_error("connect failed: " + message);
    return conn;
}

}  // namespace

TEST(RedisAsyncDriver, CommandsAndPipelinesInACoroutine) {
    REDIS_ENDPOINT_OR_SKIP(plain_url, ep);
    asio::io_context io;
    connmgr::redis::async_driver d(ep, "async-test", {});
    auto c = async_open(d, io);
    const std::string key = redis_test::unique_key("async");
    const std::string value = "a\0b\r\n"s;
    bool done = false;
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
            request set{"SET", key, value};
            reply r = co_await c->async_command(std::move(set), asio::use_awaitable);
            EXPECT_EQ(r.str(), "OK");
            request get{"GET", key};
            r = co_await c->async_command(std::move(get));  // deferred by default
            EXPECT_EQ(r.str(), value);
            request wrong{"LPUSH", key, "x"};
            auto [ec, err] =
                co_await c->async_command(std::move(wrong), asio::as_tuple(asio::use_awaitable));
            EXPECT_EQ(ec, errc::query_failed);
            EXPECT_EQ(err.error_code(), "WRONGTYPE");
            request pipe{{"INCR", key}, {"DEL", key}, {"INCR", key}};
            auto rs = co_await c->async_pipeline(std::move(pipe), asio::use_awaitable);
            EXPECT_EQ(rs.size(), 3U);
            EXPECT_TRUE(rs[0].is_error());
            EXPECT_EQ(rs[1].integer(), 1);
            EXPECT_EQ(rs[2].integer(), 1);
            request del{"DEL", key};
            co_await c->async_command(std::move(del), asio::use_awaitable);
            done = true;
        },
        asio::detached);
    io.run();
    EXPECT_TRUE(done);
    EXPECT_FALSE(d.is_broken(*c));
}

// Replies far larger than the connection's first read buffer (4 KiB, grown while reads fill
// it): a 3 MiB value whole, a pipeline of 2,000 replies in order, then small replies again.
TEST(RedisAsyncDriver, RepliesLargerThanTheReadBuffer) {
    REDIS_ENDPOINT_OR_SKIP(plain_url, ep);
    asio::io_context io;
    connmgr::redis::async_driver d(ep, "async-test", {});
    auto c = async_open(d, io);
    const std::string key = redis_test::unique_key("large");
    std::string value(3U << 20U, '\0');
    for (std::size_t i = 0; i < value.size(); ++i) value[i] = static_cast<char>(i * 7 % 251);
    bool done = false;
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
            request set{"SET", key, value};
            co_await c->async_command(std::move(set), asio::use_awaitable);
            request get{"GET", key};
            reply r = co_await c->async_command(std::move(get), asio::use_awaitable);
            EXPECT_EQ(r.str().size(), value.size());
            EXPECT_TRUE(r.str() == value);
            request many;
            for (int i = 0; i < 2000; ++i) many.push({"ECHO", std::to_string(i)});
            auto rs = co_await c->async_pipeline(std::move(many), asio::use_awaitable);
            EXPECT_EQ(rs.size(), 2000U);
            for (std::size_t i = 0; i < rs.size(); ++i) {
                if (rs[i].str() != std::to_string(i)) {
                    ADD_FAILURE() << "reply " << i << " is '" << rs[i].str() << "'";
                    break;
                }
            }
            request ping{"PING"};
            r = co_await c->async_command(std::move(ping), asio::use_awaitable);
            EXPECT_EQ(r.str(), "PONG");
            request del{"DEL", key};
            r = co_await c->async_command(std::move(del), asio::use_awaitable);
            EXPECT_EQ(r.integer(), 1);
            done = true;
        },
        asio::detached);
    io.run();
    EXPECT_TRUE(done);
    EXPECT_FALSE(d.is_broken(*c));
}

TEST(RedisAsyncDriver, CompletesOnTheCallersExecutorFromAnotherThread) {
    REDIS_ENDPOINT_OR_SKIP(plain_url, ep);
    asio::io_context io;
    connmgr::redis::async_driver d(ep, "async-test", {});
    auto c = async_open(d, io);
    auto work = asio::make_work_guard(io);
    std::thread runner([&] { io.run(); });
    auto fut = c->async_command({"PING"}, asio::use_future);
    EXPECT_EQ(fut.get().str(), "PONG");
    auto pipe = c->async_pipeline({{"PING"}, {"ECHO", "x"}}, asio::use_future);
    EXPECT_EQ(pipe.get()[1].str(), "x");
    work.reset();
    runner.join();
}

TEST(RedisAsyncDriver, QueryTimeoutCompletesWithQueryTimeout) {
    REDIS_ENDPOINT_OR_SKIP(plain_url, ep);
    asio::io_context io;
    connmgr::redis::async_driver d(ep, "async-test", {.query_timeout = 200ms});
    auto c = async_open(d, io);
    boost::system::error_code got;
    c->async_command({"BLPOP", redis_test::unique_key("never"), "5"},
                     [&](boost::system::error_code ec, reply) { got = ec; });
    const auto start = std::chrono::steady_clock::now();
    io.run();
    EXPECT_LT(std::chrono::steady_clock::now() - start, 3s);
    EXPECT_EQ(got, errc::query_timeout);
    EXPECT_TRUE(d.is_broken(*c));
    io.restart();
    boost::system::error_code again;
    c->async_command({"PING"}, [&](boost::system::error_code ec, reply) { again = ec; });
    io.run();
    EXPECT_EQ(again, errc::connection_lost);
}

TEST(RedisAsyncDriver, PingAndConnectRefused) {
    REDIS_ENDPOINT_OR_SKIP(plain_url, ep);
    asio::io_context io;
    connmgr::redis::async_driver d(ep, "async-test", {});
    auto c = async_open(d, io);
    boost::system::error_code ping = make_error_code(errc::query_failed);
    d.async_ping(*c, redis_test::in(1s), [&](boost::system::error_code ec) { ping = ec; });
    io.run();
    io.restart();
    EXPECT_FALSE(ping);
    auto refused = ep;
    refused.port = 1;
    connmgr::redis::async_driver bad(refused, "async-test", {});
    connmgr::connect_outcome<connmgr::redis::async_connection> out;
    bad.async_connect(
        io.get_executor(), redis_test::in(2s),
        [&](connmgr::connect_outcome<connmgr::redis::async_connection> o) { out = std::move(o); });
    io.run();
    EXPECT_FALSE(out.connection);
    EXPECT_EQ(out.error, errc::connect_failed);
}

TEST(RedisSyncDriver, BuiltFromADatabaseConfig) {
    auto url = redis_test::env("CONNMGR_TEST_REDIS_AUTH_URL");
    if (!url) GTEST_SKIP() << "CONNMGR_TEST_REDIS_AUTH_URL is not set";
    connmgr::database_config db;
    db.name = "from-config";
    db.url = connmgr::db_url::parse(*url);
    {
        connmgr::redis::sync_driver d(db, db.sync_pool);
        auto out = d.connect(redis_test::in(5s));
        ASSERT_TRUE(out.connection) << out.message;
        EXPECT_EQ(out.connection->command({"CLIENT", "GETNAME"}).str(), "connmgr:from-config");
    }
    const auto ep = redis_test::parse_endpoint(*url);
    std::string wrong = *url;
    wrong.replace(wrong.find(ep.password), ep.password.size(), "Zz-wrong-secret");
    db.url = connmgr::db_url::parse(wrong);
    connmgr::redis::sync_driver d(db, db.sync_pool);
    auto out = d.connect(redis_test::in(5s));
    EXPECT_FALSE(out.connection);
    EXPECT_EQ(out.message.find("Zz-wrong-secret"), std::string::npos) << out.message;
    EXPECT_NE(out.message.find("127.0.0.1:" + std::to_string(ep.port)), std::string::npos)
        << out.message;
}
