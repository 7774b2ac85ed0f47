// redis_client through the generic pools against a real server
// (CONNMGR_TEST_REDIS_*).
#include "redis_test_env.hpp"

#include <connmgr/error.hpp>
#include <connmgr/redis/redis_client.hpp>
#include <connmgr/url.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>

#include <gtest/gtest.h>

#include <unistd.h>
#include <atomic>
#include <cstdlib>
#include <future>
#include <thread>

namespace asio = boost::asio;
using connmgr::errc;
using connmgr::redis_client;
using connmgr::redis::reply;
using connmgr::redis::request;
using namespace std::chrono_literals;

namespace {

/// An io_context with one thread for the async pool (as the manager has).
struct io_thread {
    asio::io_context io{1};
    asio::executor_work_guard<asio::io_context::executor_type> work{io.get_executor()};
    std::thread thread{[this] { io.run(); }};
    ~io_thread() {
        work.reset();
        thread.join();
    }
};

connmgr::database_config make_config(const std::string& url, const std::string& name,
                                     std::size_t max_size = 8) {
    connmgr::database_config db;
    db.name = name;
    db.url = connmgr::db_url::parse(url);
    for (auto* p : {&db.sync_pool, &db.async_pool}) {
        p->max_size = max_size;
        p->acquire_timeout = 10s;
        p->connect_timeout = 2s;
        p->health_check_interval = 1h;  // the client's own dead-idle check is under test
    }
    db.retry = {.attempts = 1, .base_delay = 50ms, .max_delay = 200ms};
    db.circuit_breaker.failure_threshold = 0;
    return db;
}

std::shared_ptr<redis_client::pools_type> make_pools(const connmgr::database_config& db,
                                                     io_thread& t) {
    return std::make_shared<redis_client::pools_type>(db, t.io.get_executor(), db.name);
}

/// A separate connection for looking at the server (named connmgr:observer).
std::unique_ptr<connmgr::redis::sync_connection> observer(const connmgr::redis_endpoint& ep) {
    connmgr::redis::sync_driver d(ep, "observer", {});
    auto out = d.connect(redis_test::in(5s));
    if (!out.connection) throw std::runtime_error(out.message);
    return std::move(out.connection);
}

/// CLIENT LIST entries whose name is exactly `name`.
std::size_t clients_named(connmgr::redis::sync_connection& c, const std::string& name) {
    const std::string list = c.command({"CLIENT", "LIST"}).str();
    const std::string needle = " name=" + name + " ";
    std::size_t n = 0;
    for (auto pos = list.find(needle); pos != std::string::npos; pos = list.find(needle, pos + 1))
        ++n;
    return n;
}

std::string unique_name(const char* what) {
    return std::string(what) + "-" + std::to_string(::getpid()) + "-" +
           std::to_string(std::chrono::steady_clock::now().time_since_epoch().count() % 1000000);
}

}  // namespace

TEST(RedisClient, CommandsPipelinesAndLeases) {
    auto url = redis_test::env("CONNMGR_TEST_REDIS_URL");
    if (!url) GTEST_SKIP() << "CONNMGR_TEST_REDIS_URL is not set";
    io_thread t;
    redis_client client(make_pools(make_config(*url, unique_name("basic")), t));
    const redis_client copy = client;  // cheap, shares the pools
    const std::string key = redis_test::unique_key("client");
    EXPECT_EQ(client.command({"SET", key, "v"}).str(), "OK");
    EXPECT_EQ(copy.pools_ptr(), client.pools_ptr());
    auto rs = client.pipeline({{"GET", key}, {"INCR", key}, {"APPEND", key, "w"}});
    ASSERT_EQ(rs.size(), 3U);
    EXPECT_EQ(rs[0].str(), "v");
    EXPECT_TRUE(rs[1].is_error());
    EXPECT_EQ(rs[2].integer(), 2);
    try {
        client.command({"LPUSH", key, "x"});
        FAIL();
    } catch (const connmgr::query_error& e) {
        EXPECT_EQ(e.server_code(), "WRONGTYPE");
    }
    {
        auto l = client.acquire();
        l->command({"MULTI"});
        l->command({"SET", key, "in-tx"});
        auto exec = l->command({"EXEC"});
        EXPECT_EQ(exec.size(), 1U);
    }
    std::atomic<bool> done{false};
    asio::co_spawn(
        t.io,
        [&]() -> asio::awaitable<void> {
            auto get = client.async_command({"GET", key});
            reply r = co_await std::move(get);
            EXPECT_EQ(r.str(), "in-tx");
            request bad{"LPUSH", key, "x"};
            auto [ec, err] =
                co_await client.async_command(std::move(bad), asio::as_tuple(asio::use_awaitable));
            EXPECT_EQ(ec, errc::query_failed);
            EXPECT_EQ(err.error_code(), "WRONGTYPE");
            request pipe{{"DEL", key}, {"INCR", key}};
            auto replies = co_await client.async_pipeline(std::move(pipe), asio::use_awaitable);
            EXPECT_EQ(replies[1].integer(), 1);
            auto l = co_await client.async_acquire(asio::use_awaitable);
            request del{"DEL", key};
            auto n = co_await l->async_command(std::move(del), asio::use_awaitable);
            EXPECT_EQ(n.integer(), 1);
            done = true;
        },
        asio::detached);
    // A future from a plain thread, too.
    auto f = client.async_command({"PING"}, asio::use_future);
    EXPECT_EQ(f.get().str(), "PONG");
    const auto until = redis_test::in(10s);
    while (!done && std::chrono::steady_clock::now() < until) std::this_thread::sleep_for(1ms);
    EXPECT_TRUE(done);
}

TEST(RedisClient, ServerSeesAtMostMaxSizeConnectionsAndNoneAfterClose) {
    auto url = redis_test::env("CONNMGR_TEST_REDIS_URL");
    if (!url) GTEST_SKIP() << "CONNMGR_TEST_REDIS_URL is not set";
    const auto ep = redis_test::parse_endpoint(*url);
    const std::string name = unique_name("limits");
    constexpr std::size_t max_size = 6;
    io_thread t;
    auto pools = make_pools(make_config(*url, name, max_size), t);
    redis_client client(pools);
    auto watch = observer(ep);
    const std::string client_name = "connmgr:" + name;

    std::atomic<bool> stop{false};
    std::atomic<std::size_t> ok{0}, failed{0};
    std::vector<std::thread> threads;
    for (int i = 0; i < 32; ++i) {  // 32 threads through the sync pool
        threads.emplace_back([&, i] {
            const std::string key = redis_test::unique_key("limits-" + std::to_string(i));
            while (!stop) {
                try {
                    client.command({"INCR", key});
                    ++ok;
                } catch (const std::exception&) {
                    ++failed;
                }
            }
            try {
                client.command({"DEL", key});
            } catch (const std::exception&) {
                ++failed;
            }
        });
    }
    std::atomic<int> coroutines_running{0};
    for (int i = 0; i < 32; ++i) {  // 32 coroutines through the async pool
        ++coroutines_running;
        asio::co_spawn(
            t.io,
            [&]() -> asio::awaitable<void> {
                while (!stop) {
                    auto op = client.async_command({"PING"}, asio::as_tuple(asio::deferred));
                    auto [ec, r] = co_await std::move(op);
                    ++(ec ? failed : ok);
                }
                --coroutines_running;
            },
            asio::detached);
    }
    std::size_t peak = 0;
    const auto until = std::chrono::steady_clock::now() + 1500ms;
    while (std::chrono::steady_clock::now() < until) {  // sample while running
        try {
            peak = std::max(peak, clients_named(*watch, client_name));
        } catch (const std::exception& e) {  // keep going: the threads must be joined
            ADD_FAILURE() << "CLIENT LIST failed: " << e.what();
            break;
        }
    }
    stop = true;
    for (auto& th : threads) th.join();
    while (coroutines_running > 0) std::this_thread::sleep_for(1ms);

    // One name for both flavours (connmgr:<database>): each pool has its own
    // max_size.
    EXPECT_LE(peak, 2 * max_size);
    EXPECT_GE(peak, 2U);
    EXPECT_GT(ok.load(), 1000U);
    EXPECT_EQ(failed.load(), 0U);
    for (const auto& s : pools->stats()) EXPECT_LE(s.max_size, max_size);

    pools->close(5s);
    std::size_t left = clients_named(*watch, client_name);
    const auto deadline = redis_test::in(5s);
    while (left != 0 && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(10ms);
        left = clients_named(*watch, client_name);
    }
    EXPECT_EQ(left, 0U);
}

TEST(RedisClient, KilledIdleConnectionIsReplacedTransparently) {
    auto url = redis_test::env("CONNMGR_TEST_REDIS_URL");
    if (!url) GTEST_SKIP() << "CONNMGR_TEST_REDIS_URL is not set";
    io_thread t;
    redis_client client(make_pools(make_config(*url, unique_name("kill"), 1), t));
    auto killer = observer(redis_test::parse_endpoint(*url));

    const auto sync_id = client.command({"CLIENT", "ID"}).integer();  // now idle in the pool
    killer->command({"CLIENT", "KILL", "ID", std::to_string(sync_id)});
    const auto next_sync = client.command({"CLIENT", "ID"});  // must not fail
    EXPECT_NE(next_sync.integer(), sync_id);

    auto first = client.async_command({"CLIENT", "ID"}, asio::use_future).get().integer();
    killer->command({"CLIENT", "KILL", "ID", std::to_string(first)});
    auto second = client.async_command({"CLIENT", "ID"}, asio::use_future).get().integer();
    EXPECT_NE(second, first);
}

TEST(RedisClient, SurvivesAServerRestart) {
    auto url = redis_test::env("CONNMGR_TEST_REDIS_URL");
    auto services = redis_test::env("CONNMGR_SERVICES");
    if (!url || !services) GTEST_SKIP() << "CONNMGR_TEST_REDIS_URL / CONNMGR_SERVICES not set";
    io_thread t;
    auto db = make_config(*url, unique_name("restart"), 4);
    db.sync_pool.acquire_timeout = db.async_pool.acquire_timeout = 2s;
    redis_client client(make_pools(db, t));
    for (int i = 0; i < 8; ++i) client.command({"PING"});  // warm both pools
    client.async_command({"PING"}, asio::use_future).get();

    // In flight while the server goes away: must fail cleanly, not hang.
    auto blocked_sync = std::async(std::launch::async, [&] {
        try {
            client.command({"BLPOP", redis_test::unique_key("never"), "30"});
            return std::string("no error");
        } catch (const connmgr::error& e) {
            return std::string(connmgr::to_string(static_cast<errc>(e.code().value())));
        }
    });
    request blpop{"BLPOP", redis_test::unique_key("never"), "30"};
    std::promise<boost::system::error_code> async_result;
    auto blocked_async = async_result.get_future();
    client.async_command(std::move(blpop), [&](boost::system::error_code ec, const reply&) {
        async_result.set_value(ec);
    });
    std::this_thread::sleep_for(200ms);  // let both requests reach the server (no event to await)

    ASSERT_EQ(std::system((*services + " stop redis >/dev/null 2>&1").c_str()), 0);
    ASSERT_EQ(blocked_sync.wait_for(10s), std::future_status::ready) << "sync request hangs";
    EXPECT_EQ(blocked_sync.get(), "connection_lost");
    ASSERT_EQ(blocked_async.wait_for(10s), std::future_status::ready) << "async request hangs";
    EXPECT_EQ(blocked_async.get(), errc::connection_lost);

    // While down: requests fail (connect_failed), promptly.
    EXPECT_THROW(client.command({"PING"}), connmgr::error);

    ASSERT_EQ(std::system((*services + " start redis >/dev/null 2>&1").c_str()), 0);
    // The idle connections from before the restart are dead; every new request
    // must succeed.
    for (int i = 0; i < 50; ++i) {
        EXPECT_EQ(client.command({"PING"}).str(), "PONG") << i;
        EXPECT_NO_THROW(client.async_command({"PING"}, asio::use_future).get()) << i;
    }
}

TEST(RedisClient, TlsConnectionsAreReused) {
    auto url = redis_test::env("CONNMGR_TEST_REDIS_TLS_URL");
    if (!url) GTEST_SKIP() << "CONNMGR_TEST_REDIS_TLS_URL is not set";
    io_thread t;
    redis_client client(make_pools(make_config(*url, unique_name("tls"), 1), t));
    // An idle TLS connection must not look dead (e.g. unread session tickets).
    const auto first = client.command({"CLIENT", "ID"}).integer();
    EXPECT_EQ(client.command({"CLIENT", "ID"}).integer(), first);
    const auto async_first = client.async_command({"CLIENT", "ID"}, asio::use_future).get();
    EXPECT_EQ(client.async_command({"CLIENT", "ID"}, asio::use_future).get(), async_first);
}
