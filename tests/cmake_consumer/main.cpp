// A user's program built against the installed package. `readme_example` is the README's
// usage example and `async_example` calls every async entry point of the clients from a
// coroutine: they must compile against the public headers (with g++ and clang++: see
// consumer.cmake) but are not run (they need servers). What runs needs no server: a URL is
// parsed and shown redacted.
#include <connmgr/config_loader.hpp>
#include <connmgr/connmgr.hpp>
#include <connmgr/pg/pg_client.hpp>
#include <connmgr/redis/redis_client.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <pqxx/transaction>

#include <iostream>
#include <utility>
#include <vector>

[[maybe_unused]] boost::asio::awaitable<void> readme_example() {
    connmgr::manager::instance().configure(
        connmgr::load_config({"configs/connmgr.yaml", "local.yaml"}));

    auto db = connmgr::get_client<connmgr::pg_client>("app");
    {
        auto conn = db.acquire();
        pqxx::work tx{*conn};
        tx.exec("SELECT 1");
        tx.commit();
    }
    connmgr::pg::result r = co_await db.async_query("SELECT $1::int + 1", 41);

    auto cache = connmgr::get_client<connmgr::redis_client>("main");
    cache.command({"SET", "k", "v"});
    auto replies = cache.pipeline({{"SET", "a", "1"}, {"INCR", "a"}});

    auto ref = connmgr::manager::instance().attach("memory-store#42", "app");
    auto stats = connmgr::manager::instance().stats();
    connmgr::close_summary done = connmgr::close_all();
}

// Each call instantiates the headers' templates with the tokens users pass. A braced list goes
// into a named operation first (the GCC 12 bug the README describes).
[[maybe_unused]] boost::asio::awaitable<void> async_example() {
    namespace asio = boost::asio;
    namespace pg = connmgr::pg;
    namespace redis = connmgr::redis;

    auto db = connmgr::get_client<connmgr::pg_client>("app");
    pg::result r1 = co_await db.async_query("SELECT $1::int + 1", 41);
    auto [ec, r2] = co_await db.async_query("SELECT 1")(asio::as_tuple(asio::use_awaitable));
    pg::result r3 = co_await db.async_execute(pg::query::with("SELECT $1::text", "x"));
    pg::result r4 = co_await db.async_execute("SELECT 1", asio::use_awaitable);
    auto pipeline = db.async_pipeline({"BEGIN", pg::query::with("SELECT $1::int", 1), "COMMIT"});
    std::vector<pg::result> rs = co_await std::move(pipeline);
    auto lease = co_await db.async_acquire();
    pg::result r5 = co_await lease->async_query("SELECT $1::int", 2);
    auto [ec2, r6] = co_await lease->async_execute("SELECT 1", asio::as_tuple(asio::deferred));
    auto on_lease = lease->async_pipeline({"SELECT 1", "SELECT 2"});
    std::vector<pg::result> rs2 = co_await std::move(on_lease);

    auto cache = connmgr::get_client<connmgr::redis_client>("main");
    auto get = cache.async_command({"GET", "k"});
    redis::reply v1 = co_await std::move(get);
    const redis::request ping_request(redis::command_args{"PING"});
    redis::reply v2 = co_await cache.async_command(ping_request, asio::use_awaitable);
    auto replies_op = cache.async_pipeline({{"SET", "a", "1"}, {"INCR", "a"}});
    std::vector<redis::reply> replies = co_await std::move(replies_op);
    redis::request gets;
    gets.push({"GET", "a"});
    gets.push({"GET", "b"});
    auto [ec3, replies2] = co_await cache.async_pipeline(gets, asio::as_tuple(asio::use_awaitable));
    auto redis_lease = co_await cache.async_acquire();
    auto ping = redis_lease->async_command({"PING"});
    redis::reply v3 = co_await std::move(ping);

    auto graph = connmgr::get_client<connmgr::graph_client>("graph");
    connmgr::falkordb::result g1 = co_await graph.async_ro_query("social", "RETURN 1");
    auto g2_op = graph.async_query("social", "RETURN $x", {{"x", 1}});
    connmgr::falkordb::result g2 = co_await std::move(g2_op);
}

int main() {
    const auto url = connmgr::db_url::parse("postgres://app:hunter2@DB.example:5432/app");
    std::cout << url.redacted() << '\n';
    return url.redacted().find("hunter2") == std::string::npos ? 0 : 1;
}
