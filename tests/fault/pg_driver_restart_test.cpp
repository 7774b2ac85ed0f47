// PostgreSQL restarted (pg_ctl restart -m fast) under the drivers: statements in flight fail
// with connection_lost (async) or broken_connection (sync), none hangs, and new connections made
// by the same driver objects work afterwards.
#include <gtest/gtest.h>

#include "../integration/pg_test_env.hpp"
#include "services.hpp"

#include <connmgr/error.hpp>
#include <connmgr/pg/async_driver.hpp>
#include <connmgr/pg/sync_driver.hpp>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include <pqxx/pqxx>

#include <future>
#include <thread>

namespace connmgr::pg::test {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using clock = std::chrono::steady_clock;
using boost::system::error_code;

TEST(PgDriverRestart, InFlightStatementsFailAndNewConnectionsWork) {
    auto url = env("CONNMGR_TEST_PG_URL");
    if (!url || !connmgr::test::services_script())
        GTEST_SKIP() << "CONNMGR_TEST_PG_URL / CONNMGR_SERVICES not set";
    auto params = parse_params(*url);
    auto name = unique_name("driver-restart");
    sync_driver sd(params, name, {});
    async_driver ad(params, name, {});

    asio::io_context ioc;
    auto work = asio::make_work_guard(ioc);
    std::thread io([&] { ioc.run(); });
    auto connect_async = [&] {
        std::promise<connect_outcome<async_connection>> p;
        ad.async_connect(ioc.get_executor(), clock::now() + 5s,
                         [&p](connect_outcome<async_connection> o) { p.set_value(std::move(o)); });
        return p.get_future().get();
    };

    // In flight: 4 async and 2 sync statements that would run for a minute.
    std::vector<std::unique_ptr<async_connection>> conns;
    std::vector<std::future<error_code>> async_done;
    for (int i = 0; i < 4; ++i) {
        auto o = connect_async();
        ASSERT_FALSE(o.error) << o.message;
        conns.push_back(std::move(o.connection));
        auto p = std::make_shared<std::promise<error_code>>();
        async_done.push_back(p->get_future());
        conns.back()->async_query("SELECT pg_sleep(60)")(
            [p](error_code ec, result) { p->set_value(ec); });
    }
    std::vector<std::future<std::string>> sync_done;
    for (int i = 0; i < 2; ++i) {
        auto o = sd.connect(clock::now() + 5s);
        ASSERT_FALSE(o.error) << o.message;
        sync_done.push_back(
            std::async(std::launch::async, [c = std::move(o.connection)]() -> std::string {
                try {
                    pqxx::nontransaction{*c}.exec("SELECT pg_sleep(60)");
                    return "no error";
                } catch (const pqxx::broken_connection&) {
                    return "broken_connection";
                } catch (const std::exception& e) {
                    return e.what();
                }
            }));
    }
    observer obs;
    ASSERT_EQ(obs.await_sessions(name, 6), 6);

    auto start = clock::now();
    const auto restarted = connmgr::test::services("restart", "postgres");
    ASSERT_TRUE(restarted.ok) << restarted.output;

    for (auto& f : async_done) {
        ASSERT_EQ(f.wait_until(start + 20s), std::future_status::ready)
            << "an async statement hangs";
        EXPECT_EQ(f.get(), errc::connection_lost);
    }
    for (auto& f : sync_done) {
        ASSERT_EQ(f.wait_until(start + 20s), std::future_status::ready) << "a sync statement hangs";
        EXPECT_EQ(f.get(), "broken_connection");
    }
    for (auto& c : conns) EXPECT_TRUE(ad.is_broken(*c));

    // Same process, same drivers: new connections work.
    auto o = connect_async();
    ASSERT_FALSE(o.error) << o.message;
    std::promise<int> got;
    o.connection->async_query("SELECT 41 + 1")(
        [&got](error_code ec, result r) { got.set_value(ec ? -1 : r.value().as<int>()); });
    EXPECT_EQ(got.get_future().get(), 42);
    auto s = sd.connect(clock::now() + 5s);
    ASSERT_FALSE(s.error) << s.message;
    EXPECT_EQ(pqxx::nontransaction{*s.connection}.exec("SELECT 7")[0][0].as<int>(), 7);

    for (auto& c : conns) ad.close(*c);
    ad.close(*o.connection);
    work.reset();
    io.join();
}

}  // namespace
}  // namespace connmgr::pg::test
