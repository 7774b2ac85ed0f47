// PostgreSQL failover under write load (issue 21, DESIGN §12), on the pg-ha topology of
// scripts/services.sh: a primary (node 0) and two streaming standbys. 8 clients write through
// `target_session_attrs=read-write` (max_size 8, query_timeout 1 s) while the primary turns
// read-only and a standby is promoted, or the primary is killed or stopped and a standby
// promoted, or the old primary, rejoined as a standby, is promoted back. What must hold:
// only requests in flight fail (at most max_size), never with circuit_open; the first write on
// the new primary comes within 1 s of its promotion; the old primary keeps no connection of the
// pool; no server ever holds more than max_size; none after close_all().
//
// Skips unless `scripts/services.sh start pg-ha` ran and `scripts/services.sh env` was
// evaluated. Each case prints a FAILOVER line (scripts/failover.sh collects them for README).
#include "pg_ha.hpp"
#include "scenario.hpp"

#include <connmgr/detail/server_table.hpp>
#include <connmgr/pg/pg_client.hpp>

namespace connmgr::scenario {
namespace {

using test::pg_ha;
using test::pg_ha_port;

constexpr std::size_t max_size = 8;
constexpr int writers = 8;

::testing::AssertionResult done(const test::command_result& r) {
    if (r.ok) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << r.output;
}

std::string node_url(int n) {
    return "postgresql://connmgr:connmgr-secret@127.0.0.1:" + std::to_string(pg_ha_port(n)) +
           "/connmgr_test";
}

std::string with_query(std::string url, const std::string& query) {
    return url + (url.find('?') == std::string::npos ? "?" : "&") + query;
}

/// When node `n` leaves recovery (its promotion), seen by polling it every 2 ms on a
/// connection of its own: the promote command's return comes later (it also waits for
/// pg_ctl and repoints the other standby), so it would overstate the gap.
class promotion_watch {
public:
    explicit promotion_watch(int n)
        : thread_([this, n] {
              try {
                  pqxx::connection c{node_url(n)};
                  while (!stop_) {
                      if (!pqxx::nontransaction{c}
                               .exec1("SELECT pg_is_in_recovery()")[0]
                               .as<bool>()) {
                          std::lock_guard lock(mutex_);
                          seen_ = clock::now();
                          return;
                      }
                      std::this_thread::sleep_for(2ms);
                  }
              } catch (const std::exception&) {  // seen_ stays empty: the test says so
              }
          }) {}
    ~promotion_watch() {
        stop_ = true;
        thread_.join();
    }
    std::optional<clock::time_point> seen() const {
        std::lock_guard lock(mutex_);
        return seen_;
    }

private:
    std::atomic<bool> stop_{false};
    mutable std::mutex mutex_;
    std::optional<clock::time_point> seen_;
    std::thread thread_;
};

class PgFailover : public testing::TestWithParam<flavour> {
protected:
    void SetUp() override {
        if (test::pg_ha_url().empty() || !test::services_script())
            GTEST_SKIP() << "CONNMGR_TEST_PG_HA_URL or CONNMGR_SERVICES is not set";
        // The case before may have left a node killed or promoted: reset, then check.
        const auto reset = pg_ha("reset");
        if (!reset.ok && reset.output.find("not created") != std::string::npos)
            GTEST_SKIP() << "pg-ha is not running (scripts/services.sh start pg-ha)";
        ASSERT_TRUE(done(reset));
        ASSERT_TRUE(test::pg_ha_available());
        name_ = unique_name(GetParam() == flavour::sync ? "ha-sync" : "ha-async");
        table_ = "ha_" + std::to_string(::getpid()) + "_" + std::to_string(++counter());
        pqxx::connection c{node_url(0)};
        pqxx::nontransaction{c}.exec("CREATE TABLE " + table_ + " (id bigserial PRIMARY KEY)");
        for (int n = 0; n < 3; ++n)
            samplers_.push_back(std::make_unique<test::connection_sampler>(
                test::pg_server_connections(node_url(n), name_)));
        io_thread_ = std::thread([this] { io_.run(); });
    }

    void TearDown() override {
        if (configured_) {
            const auto summary = manager_.close_all();
            EXPECT_EQ(summary.leases_outstanding, 0u);
            for (int n = 0; n < 3; ++n) {
                if (test::pg_ha_role(n) == "down") continue;
                EXPECT_EQ(samplers_[static_cast<std::size_t>(n)]->await(0, 10s).value_or(-1), 0)
                    << "node " << n << " holds connections after close_all()";
            }
        }
        for (auto& s : samplers_) s->stop();
        work_.reset();
        if (io_thread_.joinable()) io_thread_.join();
        // The next test starts from `reset`, which restores every node: nothing to drop.
    }

    void open() {
        database_config db;
        db.name = name_;
        db.url = db_url::parse(with_query(test::pg_ha_url(), "target_session_attrs=read-write"));
        pool_options p;
        p.max_size = max_size;
        p.query_timeout = 1s;
        p.acquire_timeout = 2s;
        p.connect_timeout = 1s;
        db.sync_pool = p;
        db.async_pool = p;
        db.drain_timeout = 5s;
        manager_config config;
        config.databases[name_] = db;
        manager_.configure(config);
        configured_ = true;
        pg_ = manager_.get_client<pg_client>(name_);
    }

    std::string insert() const { return "INSERT INTO " + table_ + " DEFAULT VALUES"; }

    void sync_request(tally& t) {
        const auto start = clock::now();
        std::optional<clock::duration> waited;
        const outcome o = outcome_of([&] {
            auto lease = pg_.acquire();
            waited = clock::now() - start;
            pg::run(lease, [&](pqxx::connection& c) { pqxx::nontransaction{c}.exec(insert()); });
        });
        t.add(o, clock::now() - start, waited ? waited : std::optional(clock::now() - start));
        if (o != "ok") std::this_thread::sleep_for(10ms);
    }

    asio::awaitable<void> async_request(tally& t) {
        const auto start = clock::now();
        std::optional<clock::duration> waited;
        outcome o;
        auto [ec, lease] = co_await pg_.async_acquire(asio::as_tuple(asio::use_awaitable));
        waited = clock::now() - start;
        if (ec) {
            o = name_of(ec);
        } else {
            auto [ec2, result] = co_await lease->async_execute(pg::query::with(insert()),
                                                               asio::as_tuple(asio::use_awaitable));
            if (ec2 == errc::connection_lost) lease.mark_broken();
            o = name_of(ec2);
            if (ec2) {
                std::lock_guard lock(messages_mutex_);
                messages_.push_back(result.error_message());
            }
        }
        t.add(o, clock::now() - start, waited);
        if (o != "ok") {
            asio::steady_timer pause(co_await asio::this_coro::executor, 10ms);
            co_await pause.async_wait(asio::as_tuple(asio::use_awaitable));
        }
    }

    /// Writers until `stop`, while `fault` runs on this thread.
    template <class Fault>
    void under_load(tally& t, Fault fault) {
        std::atomic<bool> stop{false};
        std::vector<std::thread> threads;
        std::vector<std::future<void>> coroutines;
        for (int w = 0; w < writers; ++w) {
            if (GetParam() == flavour::sync)
                threads.emplace_back([&] {
                    while (!stop) sync_request(t);
                });
            else
                coroutines.push_back(asio::co_spawn(
                    io_,
                    [&]() -> asio::awaitable<void> {
                        while (!stop) co_await async_request(t);
                    },
                    asio::use_future));
        }
        fault();
        stop = true;
        for (auto& th : threads) th.join();
        for (auto& f : coroutines) f.get();
    }

    void expect_within_max_size() {
        for (int n = 0; n < 3; ++n)
            EXPECT_LE(samplers_[static_cast<std::size_t>(n)]->peak(), static_cast<long>(max_size))
                << "node " << n << " held more than max_size";
    }

    /// `to_first_write`: from the promotion as seen on the promoted node (or the standby's stop);
    /// `from_start`: from the moment the promote command started.
    void report(const std::string& scenario, const tally& t, milliseconds to_first_write,
                milliseconds from_start) {
        std::printf(
            "FAILOVER %s %s: requests=%ld %s to_first_ok=%lldms "
            "command_start_to_first_ok=%lldms\n",
            scenario.c_str(), GetParam() == flavour::sync ? "sync" : "async", t.total(),
            t.describe().c_str(), static_cast<long long>(to_first_write.count()),
            static_cast<long long>(from_start.count()));
        std::fflush(stdout);
    }

    /// The fault is "kill" or "stop" of `from`, then `to` promoted; the figures of the issue.
    void lose_primary_then_promote(const std::string& scenario, int from, int to,
                                   const std::string& how) {
        open();
        tally t;
        clock::time_point promoted{}, promoting{}, fault{};
        test::command_result lost, promotion;
        promotion_watch watch(to);
        under_load(t, [&] {
            ASSERT_TRUE(await([&] { return t.count("ok") > 200; }, 5s)) << t.describe();
            lost = how == "kill" ? pg_ha("kill", {std::to_string(from)})
                                 : pg_ha("stop", {std::to_string(from), "fast"});
            fault = clock::now();  // the helper returns once the node's port is closed
            std::this_thread::sleep_for(100ms);  // the scenario's gap before the promotion
            promoting = clock::now();
            promotion = pg_ha("promote", {std::to_string(to)});
            promoted = clock::now();
            await([&] { return t.first_ok_after(promoted).has_value(); }, 5s);
            std::this_thread::sleep_for(1s);  // writes keep going on the new primary
        });
        ASSERT_TRUE(done(lost));
        ASSERT_TRUE(done(promotion));
        // After the fault no write can succeed until the promotion: the first one is on the
        // new primary.
        const auto first = t.first_ok_after(fault);
        ASSERT_TRUE(first) << "no write succeeded after the promotion: " << t.describe();
        ASSERT_TRUE(watch.seen()) << "node " << to << " was never seen promoted";
        const auto gap =
            std::max(0ms, std::chrono::duration_cast<milliseconds>(*first - *watch.seen()));
        report(scenario, t, gap, std::chrono::duration_cast<milliseconds>(*first - promoting));
        EXPECT_EQ(t.count("circuit_open"), 0) << t.describe();
        EXPECT_LE(t.total() - t.count("ok"), static_cast<long>(max_size)) << t.describe();
        for (const auto& [o, n] : t.by_outcome())
            EXPECT_TRUE(o == "ok" || o == "connection_lost" || o == "query_failed")
                << o << " x" << n;
        EXPECT_LE(gap, 1s) << t.describe();
        expect_within_max_size();
    }

    static int& counter() {
        static int n = 0;
        return n;
    }

    std::string name_;
    std::string table_;
    manager manager_;
    bool configured_{false};
    pg_client pg_{nullptr};
    std::vector<std::unique_ptr<test::connection_sampler>> samplers_;
    std::mutex messages_mutex_;
    std::vector<std::string> messages_;  ///< the async failures' messages
    asio::io_context io_;
    asio::executor_work_guard<asio::io_context::executor_type> work_ = asio::make_work_guard(io_);
    std::thread io_thread_;
};

// The switchover every pool gets wrong (HikariCP #1556 and kin): the old primary stays up and
// turns read-only, a standby is promoted. Each pooled connection may fail once (25006); then the
// pool is on the new primary and the old one holds none of its connections.
TEST_P(PgFailover, ReadOnlySwitchoverFailsAtMostOncePerConnectionThenWritesOnTheNewPrimary) {
    open();
    tally t;
    clock::time_point promoted{}, promoting{};
    std::optional<clock::time_point> first_failure;
    std::optional<milliseconds> drained_after;
    test::command_result read_only, promotion;
    promotion_watch watch(1);
    under_load(t, [&] {
        ASSERT_TRUE(await([&] { return t.count("ok") > 200; }, 5s)) << t.describe();
        read_only = pg_ha("read-only", {"0", "on"});
        promoting = clock::now();
        promotion = pg_ha("promote", {"1"});
        promoted = clock::now();
        if (await([&] { return t.last_failure().has_value(); }, 3s)) {
            first_failure = clock::now();
            if (samplers_[0]->await(0, 3s) == 0)
                drained_after =
                    std::chrono::duration_cast<milliseconds>(clock::now() - *first_failure);
        }
        await([&] { return t.first_ok_after(promoted).has_value(); }, 5s);
        std::this_thread::sleep_for(1s);
    });
    ASSERT_TRUE(done(read_only));
    ASSERT_TRUE(done(promotion));
    ASSERT_TRUE(watch.seen()) << "node 1 was never seen promoted";
    const auto first = t.first_ok_after(*watch.seen());
    ASSERT_TRUE(first) << "no write succeeded after the promotion: " << t.describe();
    const auto gap = std::chrono::duration_cast<milliseconds>(*first - *watch.seen());
    report("read_only_switchover", t, gap,
           std::chrono::duration_cast<milliseconds>(*first - promoting));
    const long failed = t.total() - t.count("ok");
    EXPECT_GT(failed, 0) << "no write met the read-only primary: the test proves nothing";
    EXPECT_LE(failed, static_cast<long>(max_size)) << t.describe();
    EXPECT_EQ(t.count("query_failed"), failed) << t.describe();  // 25006 only
    if (GetParam() == flavour::async) {  // the message names the server and what happens to it
        const std::string node0 = "127.0.0.1:" + std::to_string(pg_ha_port(0));
        std::lock_guard lock(messages_mutex_);
        ASSERT_FALSE(messages_.empty());
        EXPECT_NE(messages_.front().find("server " + node0 +
                                         " now reports itself read_only; its "
                                         "connections are being replaced"),
                  std::string::npos)
            << messages_.front();
    }
    ASSERT_TRUE(drained_after) << "the old primary kept connections of the read-write pool";
    // Sampled every 100 ms: a drain within 1 s is seen within 1.1 s.
    EXPECT_LE(*drained_after, 1100ms);
    EXPECT_LE(gap, 1s) << t.describe();
    expect_within_max_size();
}

TEST_P(PgFailover, PrimaryKilledThenStandbyPromotedOnlyInFlightFail) {
    lose_primary_then_promote("primary_killed", 0, 1, "kill");
}

TEST_P(PgFailover, PrimaryStoppedFastThenStandbyPromotedOnlyInFlightFail) {
    lose_primary_then_promote("primary_stopped", 0, 1, "stop");
}

// The old primary comes back as a standby of the new one, and the next failover goes back to it.
TEST_P(PgFailover, OldPrimaryRejoinedAsStandbyThenFailedBackTo) {
    ASSERT_TRUE(done(pg_ha("kill", {"0"})));
    ASSERT_TRUE(done(pg_ha("promote", {"1"})));
    ASSERT_TRUE(done(pg_ha("rejoin", {"0"})));
    ASSERT_EQ(test::pg_ha_role(0), "standby");
    lose_primary_then_promote("failback", 1, 0, "kill");
}

// Reads through reader() (prefer-standby, load_balance_hosts=random) while one standby stops:
// reads go on on the other servers within 1 s and only those in flight fail; the write pool,
// beside it, never lands on a standby.
TEST_P(PgFailover, AStandbyStoppedUnderReaderLoadReadsGoOnWritesNeverReachAStandby) {
    open();
    pg_client reader = pg_.reader();
    tally reads, writes;
    std::atomic<long> writes_on_standby{0}, reads_on_primary{0};
    std::atomic<bool> stop{false};
    const std::string probe = "SELECT pg_is_in_recovery()";
    auto read_sync = [&] {
        const auto start = clock::now();
        const outcome o = outcome_of([&] {
            auto l = reader.acquire();
            if (!pqxx::nontransaction{*l}.exec1(probe)[0].as<bool>()) ++reads_on_primary;
        });
        reads.add(o, clock::now() - start);
        if (o != "ok") std::this_thread::sleep_for(10ms);
    };
    auto write_sync = [&] {
        const auto start = clock::now();
        const outcome o = outcome_of([&] {
            auto l = pg_.acquire();
            pqxx::nontransaction tx{*l};
            if (tx.exec1(probe)[0].as<bool>()) ++writes_on_standby;
            tx.exec(insert());
        });
        writes.add(o, clock::now() - start);
        if (o != "ok") std::this_thread::sleep_for(10ms);
    };
    auto read_async = [&]() -> asio::awaitable<void> {
        const auto start = clock::now();
        auto [ec, r] = co_await reader.async_query(probe)(asio::as_tuple(asio::use_awaitable));
        if (!ec && r.size() == 1 && !r[0][0].as<bool>()) ++reads_on_primary;
        reads.add(name_of(ec), clock::now() - start);
        if (ec) {
            asio::steady_timer pause(co_await asio::this_coro::executor, 10ms);
            co_await pause.async_wait(asio::as_tuple(asio::use_awaitable));
        }
    };
    std::vector<std::thread> threads;
    std::vector<std::future<void>> coroutines;
    for (int w = 0; w < writers + 2; ++w) {
        const bool is_reader = w < writers;
        if (GetParam() == flavour::sync) {
            threads.emplace_back([&, is_reader] {
                while (!stop) is_reader ? read_sync() : write_sync();
            });
        } else if (is_reader) {
            coroutines.push_back(asio::co_spawn(
                io_,
                [&]() -> asio::awaitable<void> {
                    while (!stop) co_await read_async();
                },
                asio::use_future));
        } else {
            threads.emplace_back([&] {  // the write pool's check is the same either flavour
                while (!stop) write_sync();
            });
        }
    }
    clock::time_point stopped{};
    test::command_result stopping;
    bool warmed = await([&] { return reads.count("ok") > 200 && writes.count("ok") > 50; }, 5s);
    if (warmed) {
        stopping = pg_ha("stop", {"2", "fast"});
        stopped = clock::now();
        std::this_thread::sleep_for(2s);
    }
    stop = true;
    for (auto& th : threads) th.join();
    for (auto& f : coroutines) f.get();
    ASSERT_TRUE(warmed) << reads.describe() << " / " << writes.describe();
    ASSERT_TRUE(done(stopping));
    const auto first = reads.first_ok_after(stopped);
    ASSERT_TRUE(first) << "no read succeeded after the standby stopped: " << reads.describe();
    report("standby_stopped_reads", reads,
           std::chrono::duration_cast<milliseconds>(*first - stopped),
           std::chrono::duration_cast<milliseconds>(*first - stopped));
    EXPECT_LE(reads.total() - reads.count("ok"), static_cast<long>(max_size)) << reads.describe();
    for (const auto& [o, n] : reads.by_outcome())
        EXPECT_TRUE(o == "ok" || o == "connection_lost" || o == "query_failed") << o << " x" << n;
    // Reads continue within 1 s: an ok read that started after the stop ended within 1 s of it.
    bool resumed = false;
    for (const auto& sp : reads.spans())
        resumed = resumed || (sp.how == "ok" && sp.start >= stopped && sp.end - stopped <= 1s);
    EXPECT_TRUE(resumed) << reads.timeline(stopped - 1s);
    EXPECT_EQ(reads_on_primary.load(), 0) << "prefer-standby read on the primary with a standby up";
    EXPECT_EQ(writes_on_standby.load(), 0);
    EXPECT_EQ(writes.total(), writes.count("ok")) << writes.describe();
    expect_within_max_size();
}

// DESIGN §12: SQLSTATE 25006 is a failover signal only when the session reports itself
// read-only; the user's own BEGIN READ ONLY on a healthy primary is the user's error and
// retires nothing (the connection goes back to the pool and is used again).
TEST_P(PgFailover, AUsersOwnReadOnlyTransactionRetiresNothing) {
    open();
    auto closed = [&] {
        std::uint64_t n = 0;
        for (const auto& p : manager_.stats().pools) n += p.closed_total;
        return n;
    };
    int pid = 0, pid_after = 0;
    if (GetParam() == flavour::sync) {
        {
            auto l = pg_.acquire();
            pid = l->backendpid();
            pqxx::nontransaction tx{*l};
            tx.exec("BEGIN READ ONLY");
            try {
                tx.exec(insert());
                ADD_FAILURE() << "the insert ran in a read-only transaction";
            } catch (const pqxx::sql_error& e) {
                EXPECT_EQ(e.sqlstate(), "25006");
            }
        }  // returned inside the failed transaction: rolled back, kept
        auto l = pg_.acquire();
        pid_after = l->backendpid();
    } else {
        auto run = [&]() -> asio::awaitable<void> {
            {
                auto lease = co_await pg_.async_acquire(asio::use_awaitable);
                pid = lease->backend_pid();
                co_await lease->async_query("BEGIN READ ONLY");
                auto [ec, r] = co_await lease->async_execute(pg::query::with(insert()),
                                                             asio::as_tuple(asio::use_awaitable));
                EXPECT_EQ(ec, errc::query_failed);
                EXPECT_EQ(r.sqlstate(), "25006");
            }
            auto lease = co_await pg_.async_acquire(asio::use_awaitable);
            pid_after = lease->backend_pid();
        };
        asio::co_spawn(io_, run, asio::use_future).get();
    }
    EXPECT_NE(pid, 0);
    EXPECT_EQ(pid_after, pid) << "the connection was not used again";
    EXPECT_EQ(closed(), 0u);
    auto& table = connmgr::detail::server_table::instance();
    EXPECT_EQ(table.get(table.intern("127.0.0.1:" + std::to_string(pg_ha_port(0)))).state,
              server_state::primary);
}

INSTANTIATE_TEST_SUITE_P(Flavours, PgFailover, testing::Values(flavour::sync, flavour::async),
                         [](const testing::TestParamInfo<flavour>& i) {
                             return std::string(i.param == flavour::sync ? "sync" : "async");
                         });

}  // namespace
}  // namespace connmgr::scenario
