// A user's program built against the installed package. `readme_example` is the README's
// usage example: it must compile against the public headers (it is not run: it needs servers).
// What runs needs no server: a URL is parsed and shown redacted.
#include <connmgr/config_loader.hpp>
#include <connmgr/connmgr.hpp>
#include <connmgr/pg/pg_client.hpp>
#include <connmgr/redis/redis_client.hpp>

#include <boost/asio/awaitable.hpp>
#include <pqxx/transaction>

#include <iostream>

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

int main() {
    const auto url = connmgr::db_url::parse("postgres://app:hunter2@DB.example:5432/app");
    std::cout << url.redacted() << '\n';
    return url.redacted().find("hunter2") == std::string::npos ? 0 : 1;
}
