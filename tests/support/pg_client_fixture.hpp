#pragma once
// The fixture of the pg_client suites (tests/integration/pg_client_test.cpp, pg_clean_test.cpp):
// one server of scripts/services.sh per parameter (direct or through PgBouncer), a unique name
// (application_name "connmgr:<name>"), an I/O thread, a client over pools built straight from a
// database_config (no manager), and helpers that wait for an operation without ever hanging.

#include "../integration/pg_test_env.hpp"
#include "server_connections.hpp"

#include <connmgr/config.hpp>
#include <connmgr/error.hpp>
#include <connmgr/pg/pg_client.hpp>
#include <connmgr/url.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>

#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <tuple>

namespace connmgr::pg::test {

class pg_client_fixture : public testing::TestWithParam<target> {
protected:
    /// `what` names the suite in the connections' application_name ("client", "clean").
    explicit pg_client_fixture(std::string what) : what_(std::move(what)) {}

    void SetUp() override {
        auto url = env(GetParam().env);
        if (!url) GTEST_SKIP() << GetParam().env << " is not set";
        url_ = *url;
        name_ = unique_name(what_);
        io_ = std::thread([this] { ioc_.run(); });
    }

    void TearDown() override {
        if (pools_) pools_->close(std::chrono::seconds(5));
        work_.reset();
        if (io_.joinable()) io_.join();
    }

    /// A client over new pools with `options` for both flavours; the connect retried quickly,
    /// the breaker off; pgbouncer mode as the parameter says unless `pgbouncer` is given.
    pg_client make_client(const pool_options& options, std::optional<bool> pgbouncer = {}) {
        using namespace std::chrono_literals;
        database_config db;
        db.name = name_;
        db.url = db_url::parse(url_);
        db.sync_pool = options;
        db.async_pool = options;
        db.retry = {.attempts = 3, .base_delay = 50ms, .max_delay = 500ms};
        db.circuit_breaker = {.failure_threshold = 0};
        db.pgbouncer = pgbouncer.value_or(GetParam().pgbouncer);
        pools_ = std::make_shared<pg_client::pools_type>(db, ioc_.get_executor(), name_);
        return pg_client(pools_);
    }

    /// Runs a deferred operation from the test thread; fails the test instead of hanging.
    template <class T = result, class Op>
    std::tuple<boost::system::error_code, T> run(Op op) {
        auto p = std::make_shared<std::promise<std::tuple<boost::system::error_code, T>>>();
        auto f = p->get_future();
        std::move(op)([p](boost::system::error_code ec, T r) { p->set_value({ec, std::move(r)}); });
        if (f.wait_for(std::chrono::seconds(10)) != std::future_status::ready) {
            ADD_FAILURE() << "the operation never completed";
            return {make_error_code(errc::query_timeout), T{}};
        }
        return f.get();
    }

    /// Runs a coroutine on the I/O thread and waits for its result.
    template <class T>
    T co_run(boost::asio::awaitable<T> a) {
        return boost::asio::co_spawn(ioc_, std::move(a), boost::asio::use_future).get();
    }

    /// This test's connections as PostgreSQL sees them (through PgBouncer too: its server
    /// connections carry our application_name), sampled every 100 ms.
    connmgr::test::connection_sampler sampler() const {
        return connmgr::test::connection_sampler(
            connmgr::test::pg_server_connections(*env("CONNMGR_TEST_PG_URL"), name_));
    }

    std::string what_;
    std::string url_;
    std::string name_;
    boost::asio::io_context ioc_{1};
    boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_{
        ioc_.get_executor()};
    std::thread io_;
    std::shared_ptr<pg_client::pools_type> pools_;
};

}  // namespace connmgr::pg::test
