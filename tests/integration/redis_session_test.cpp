// A returned Redis connection goes to the next borrower in the state the pool opened it in
// (DESIGN §5): whatever the last borrower did (MULTI, WATCH, SELECT, CLIENT REPLY OFF,
// SUBSCRIBE, a pipeline it walked away from), the next one sees the configured database and
// plain replies. Pools of max_size 1, so the next borrower gets the same connection unless the
// pool closed it.
#include "redis_test_env.hpp"

#include <connmgr/error.hpp>
#include <connmgr/redis/redis_client.hpp>
#include <connmgr/url.hpp>

#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>

#include <gtest/gtest.h>

#include <unistd.h>
#include <functional>
#include <future>
#include <thread>

namespace asio = boost::asio;
using connmgr::redis_client;
using connmgr::redis::reply;
using connmgr::redis::request;
using namespace std::chrono_literals;

namespace {

constexpr int configured_db = 3;

struct io_thread {
    asio::io_context io{1};
    asio::executor_work_guard<asio::io_context::executor_type> work{io.get_executor()};
    std::thread thread{[this] { io.run(); }};
    ~io_thread() {
        work.reset();
        thread.join();
    }
};

/// A client over pools of one connection each, on database 3 of the test server.
struct one_connection_client {
    io_thread t;
    redis_client client;

    explicit one_connection_client(const std::string& url) {
        auto base = url.substr(0, url.rfind('/'));
        connmgr::database_config db;
        db.name = "session-" + std::to_string(::getpid());
        db.url = connmgr::db_url::parse(base + "/" + std::to_string(configured_db));
        for (auto* p : {&db.sync_pool, &db.async_pool}) {
            p->max_size = 1;
            p->acquire_timeout = 10s;
            p->connect_timeout = 2s;
            p->health_check_interval = 1h;
        }
        db.retry = {.attempts = 1, .base_delay = 50ms, .max_delay = 200ms};
        db.circuit_breaker.failure_threshold = 0;
        client = redis_client(
            std::make_shared<redis_client::pools_type>(db, t.io.get_executor(), db.name));
    }
};

std::string field(const std::string& client_info, const std::string& name) {
    auto pos = client_info.find(" " + name + "=");
    if (pos == std::string::npos) return "?";
    pos += name.size() + 2;
    return client_info.substr(pos, client_info.find(' ', pos) - pos);
}

/// What the next borrower must see: the configured db, no transaction, no subscription, and
/// plain replies to plain commands.
void expect_clean_session(const std::string& client_info, const reply& set, const reply& get) {
    EXPECT_EQ(field(client_info, "db"), std::to_string(configured_db)) << client_info;
    EXPECT_EQ(field(client_info, "multi"), "-1") << client_info;
    EXPECT_EQ(field(client_info, "sub"), "0") << client_info;
    EXPECT_EQ(field(client_info, "psub"), "0") << client_info;
    EXPECT_EQ(field(client_info, "name").rfind("connmgr:session-", 0), 0U) << client_info;
    EXPECT_EQ(set.str(), "OK");
    EXPECT_EQ(get.str(), "v");
}

// ---- sync ------------------------------------------------------------------------------------

/// Runs `dirty` on a lease, returns it, and checks the next borrower. Returns whether the
/// pool kept the connection (restored) rather than closing it.
bool sync_case(const std::function<void(redis_client::sync_lease&)>& dirty) {
    auto url = redis_test::env("CONNMGR_TEST_REDIS_URL");
    one_connection_client c(*url);
    long long id_before = 0;
    {
        auto l = c.client.acquire();
        id_before = l->command({"CLIENT", "ID"}).integer();
        dirty(l);
    }
    const std::string key = redis_test::unique_key("session");
    const auto info = c.client.command({"CLIENT", "INFO"}).str();
    const auto set = c.client.command({"SET", key, "v"});
    const auto get = c.client.command({"GET", key});
    expect_clean_session(info, set, get);
    const long long id_after = c.client.command({"CLIENT", "ID"}).integer();
    c.client.command({"DEL", key});
    return id_after == id_before;
}

}  // namespace

#define REDIS_URL_OR_SKIP()                         \
    if (!redis_test::env("CONNMGR_TEST_REDIS_URL")) \
    GTEST_SKIP() << "CONNMGR_TEST_REDIS_URL "       \
                    "is not set"

TEST(RedisSession, SyncMultiIsDiscardedAndTheConnectionKept) {
    REDIS_URL_OR_SKIP();
    EXPECT_TRUE(sync_case([](auto& l) {
        l->command({"MULTI"});
        EXPECT_EQ(l->command({"SET", redis_test::unique_key("tx"), "x"}).str(), "QUEUED");
    }));
}

TEST(RedisSession, SyncWatchIsDropped) {
    REDIS_URL_OR_SKIP();
    const std::string watched = redis_test::unique_key("watched");
    EXPECT_TRUE(sync_case([&](auto& l) { l->command({"WATCH", watched}); }));
    // A leaked WATCH would abort the next borrower's transaction once the key changes.
    one_connection_client c(*redis_test::env("CONNMGR_TEST_REDIS_URL"));
    {
        auto l = c.client.acquire();
        l->command({"WATCH", watched});
    }
    c.client.command({"SET", watched, "changed"});  // the same (only) connection
    auto l = c.client.acquire();
    l->command({"MULTI"});
    l->command({"SET", watched, "mine"});
    EXPECT_TRUE(l->command({"EXEC"}).is_array()) << "EXEC aborted by a WATCH of the last borrower";
    l->command({"DEL", watched});
}

TEST(RedisSession, SyncSelectIsUndone) {
    REDIS_URL_OR_SKIP();
    EXPECT_TRUE(sync_case([](auto& l) { l->command({"SELECT", "7"}); }));
}

TEST(RedisSession, SyncClientSetnameIsUndone) {
    REDIS_URL_OR_SKIP();
    EXPECT_TRUE(sync_case([](auto& l) { l->command({"CLIENT", "SETNAME", "borrower"}); }));
}

TEST(RedisSession, SyncRepliesOffClosesTheConnection) {
    REDIS_URL_OR_SKIP();
    EXPECT_FALSE(sync_case([](auto& l) {
        // The server answers nothing now: the command completes without a reply.
        EXPECT_TRUE(l->command({"CLIENT", "REPLY", "OFF"}).is_nil());
        EXPECT_TRUE(l->command({"SET", redis_test::unique_key("silent"), "x"}).is_nil());
    }));
}

TEST(RedisSession, SyncReplySkipSkipsOneReply) {
    REDIS_URL_OR_SKIP();
    EXPECT_TRUE(sync_case([](auto& l) {
        auto rs = l->pipeline({{"CLIENT", "REPLY", "SKIP"}, {"PING"}, {"ECHO", "heard"}});
        ASSERT_EQ(rs.size(), 3U);
        EXPECT_TRUE(rs[0].is_nil());
        EXPECT_TRUE(rs[1].is_nil());
        EXPECT_EQ(rs[2].str(), "heard");
    }));
}

TEST(RedisSession, SyncSubscribeClosesTheConnection) {
    REDIS_URL_OR_SKIP();
    EXPECT_FALSE(sync_case([](auto& l) {
        l->command({"SUBSCRIBE", redis_test::unique_key("channel")});
    }));
}

TEST(RedisSession, SyncUnreadRepliesCloseTheConnection) {
    REDIS_URL_OR_SKIP();
    // Two channels answer with two replies to one command: one stays unread.
    EXPECT_FALSE(sync_case([](auto& l) {
        l->command({"SUBSCRIBE", redis_test::unique_key("a"), redis_test::unique_key("b")});
    }));
}

TEST(RedisSession, SyncCleanLeaseKeepsItsConnection) {
    REDIS_URL_OR_SKIP();
    EXPECT_TRUE(sync_case([](auto& l) {
        l->command({"MULTI"});
        l->command({"EXEC"});
        l->command({"SELECT", std::to_string(configured_db)});
    }));
}

// ---- async -----------------------------------------------------------------------------------

namespace {

bool async_case(const std::vector<std::vector<std::string>>& dirty) {
    auto url = redis_test::env("CONNMGR_TEST_REDIS_URL");
    one_connection_client c(*url);
    long long id_before = 0;
    {
        auto l = c.client.async_acquire(asio::use_future).get();
        id_before = l->async_command({"CLIENT", "ID"}, asio::use_future).get().integer();
        for (const auto& cmd : dirty) {
            request r;
            r.push(cmd);
            // An error reply is fine here: the session state is under test.
            std::promise<void> done;
            l->async_command(std::move(r),
                             [&](boost::system::error_code, reply) { done.set_value(); });
            done.get_future().wait();
        }
    }
    const std::string key = redis_test::unique_key("async-session");
    const auto info = c.client.async_command({"CLIENT", "INFO"}, asio::use_future).get().str();
    const auto set = c.client.async_command({"SET", key, "v"}, asio::use_future).get();
    const auto get = c.client.async_command({"GET", key}, asio::use_future).get();
    expect_clean_session(info, set, get);
    const long long id_after =
        c.client.async_command({"CLIENT", "ID"}, asio::use_future).get().integer();
    c.client.async_command({"DEL", key}, asio::use_future).get();
    return id_after == id_before;
}

}  // namespace

TEST(RedisSession, AsyncMultiIsDiscardedAndTheConnectionKept) {
    REDIS_URL_OR_SKIP();
    EXPECT_TRUE(async_case({{"MULTI"}, {"SET", redis_test::unique_key("tx"), "x"}}));
}

TEST(RedisSession, AsyncWatchAndSelectAreUndone) {
    REDIS_URL_OR_SKIP();
    EXPECT_TRUE(async_case({{"WATCH", redis_test::unique_key("w")}, {"SELECT", "7"}}));
}

TEST(RedisSession, AsyncRepliesOffClosesTheConnection) {
    REDIS_URL_OR_SKIP();
    EXPECT_FALSE(async_case({{"CLIENT", "REPLY", "OFF"}}));
}

TEST(RedisSession, AsyncSubscribeClosesTheConnection) {
    REDIS_URL_OR_SKIP();
    EXPECT_FALSE(async_case({{"SUBSCRIBE", redis_test::unique_key("channel")}}));
}

TEST(RedisSession, AsyncAbandonedPipelineNeverReachesTheNextBorrower) {
    REDIS_URL_OR_SKIP();
    one_connection_client c(*redis_test::env("CONNMGR_TEST_REDIS_URL"));
    const std::string key = redis_test::unique_key("abandoned");
    std::future<std::vector<reply>> abandoned;
    {
        auto l = c.client.async_acquire(asio::use_future).get();
        std::vector<std::vector<std::string>> many(20'000, {"ECHO", std::string(100, 'x')});
        abandoned = l->async_pipeline(request(many), asio::use_future);
    }  // returned while its replies are still coming
    EXPECT_EQ(c.client.async_command({"SET", key, "v"}, asio::use_future).get().str(), "OK");
    EXPECT_EQ(c.client.async_command({"GET", key}, asio::use_future).get().str(), "v");
    c.client.async_command({"DEL", key}, asio::use_future).get();
    // The abandoned pipeline either finished before the return or failed; it never got the
    // next borrower's replies.
    try {
        auto rs = abandoned.get();
        EXPECT_EQ(rs.size(), 20'000U);
        EXPECT_EQ(rs.back().str(), std::string(100, 'x'));
    } catch (const boost::system::system_error& e) {
        EXPECT_EQ(e.code(), connmgr::errc::connection_lost);
    }
}
