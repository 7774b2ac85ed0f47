#include "bench_async_runner.hpp"
#include "bench_progress.hpp"
#include "bench_report.hpp"

#include <gtest/gtest.h>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/system/system_error.hpp>

#include <atomic>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <vector>

namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using namespace connmgr::bench;

std::string name_of(std::exception_ptr e) {
    try {
        std::rethrow_exception(e);
    } catch (const std::exception& ex) {
        return ex.what();
    }
}

TEST(BenchRunner, SyncCountsAddUpPerClient) {
    std::atomic<std::uint64_t> calls{0};
    run_plan plan{.clients = 8, .requests_per_client = 25};
    std::uint64_t observed = 0;
    auto r = run_sync(
        plan, [&](std::size_t) { return [&](std::size_t n) { calls += n; }; }, name_of,
        [&](std::uint64_t done, std::uint64_t, std::chrono::nanoseconds) { observed = done; });
    EXPECT_EQ(r.ok, 8u * 25u);
    EXPECT_EQ(calls.load(), 8u * 25u);
    EXPECT_EQ(r.latency.count(), 8u * 25u);
    EXPECT_TRUE(r.errors.empty());
    EXPECT_EQ(observed, 8u * 25u);  // the last observation comes after the last client
    EXPECT_GT(r.elapsed.count(), 0);
}

TEST(BenchRunner, PipelineSplitsRequestsIntoRoundTrips) {
    std::mutex m;
    std::vector<std::size_t> batches;
    run_plan plan{.clients = 1, .requests_per_client = 10, .pipeline = 4};
    auto r = run_sync(plan,
                      [&](std::size_t) {
                          return [&](std::size_t n) {
                              std::lock_guard lock{m};
                              batches.push_back(n);
                          };
                      },
                      name_of, {});
    EXPECT_EQ(batches, (std::vector<std::size_t>{4, 4, 2}));
    EXPECT_EQ(r.ok, 10u);
    EXPECT_EQ(r.latency.count(), 3u);  // one sample per round trip
}

TEST(BenchRunner, FailuresAreCountedByName) {
    std::atomic<int> i{0};
    run_plan plan{.clients = 4, .requests_per_client = 10};
    auto r = run_sync(plan,
                      [&](std::size_t) {
                          return [&](std::size_t) {
                              if (++i % 5 == 0) throw std::runtime_error("acquire_timeout");
                          };
                      },
                      name_of, {});
    EXPECT_EQ(r.ok + r.errors["acquire_timeout"], 40u);
    EXPECT_EQ(r.errors["acquire_timeout"], 8u);
    EXPECT_EQ(r.latency.count(), 32u);  // failures are not timed
    ASSERT_EQ(r.first_errors.size(), 1u);
    EXPECT_EQ(r.first_errors.at("acquire_timeout").message, "acquire_timeout");
}

// The first message of each kind: what() without Boost's ": <code message>" suffix; an
// exception with nothing but its code is marked as such.
TEST(BenchRunner, FirstMessageOfEachKind) {
    std::atomic<int> i{0};
    run_plan plan{.clients = 1, .requests_per_client = 20};
    auto r = run_sync(
        plan,
        [&](std::size_t) {
            return [&](std::size_t) {
                const int k = ++i;
                if (k == 3)
                    throw boost::system::system_error(
                        make_error_code(boost::system::errc::connection_refused),
                        "could not connect to app: Connection refused (attempt " +
                            std::to_string(k) + ")");
                if (k > 3 && k % 4 == 0)
                    throw boost::system::system_error(
                        make_error_code(boost::system::errc::connection_refused),
                        "later failure " + std::to_string(k));
                if (k % 7 == 0)
                    throw boost::system::system_error(
                        make_error_code(boost::system::errc::timed_out));
            };
        },
        [](std::exception_ptr e) -> std::string {
            try {
                std::rethrow_exception(e);
            } catch (const boost::system::system_error& ex) {
                return ex.code() == boost::system::errc::timed_out ? "acquire_timeout"
                                                                   : "connect_failed";
            } catch (...) {
                return "other";
            }
        },
        {});
    EXPECT_EQ(r.errors.at("connect_failed"), 6u);   // 3, 4, 8, 12, 16, 20
    EXPECT_EQ(r.errors.at("acquire_timeout"), 2u);  // 7, 14
    ASSERT_EQ(r.first_errors.size(), 2u);
    EXPECT_EQ(r.first_errors.at("connect_failed").message,
              "could not connect to app: Connection refused (attempt 3)");
    EXPECT_TRUE(r.first_errors.at("connect_failed").detailed);
    const auto& bare = r.first_errors.at("acquire_timeout");
    EXPECT_EQ(bare.message, make_error_code(boost::system::errc::timed_out).message());
    EXPECT_FALSE(bare.detailed);
}

// Merged over the clients, each kind keeps the message recorded first.
TEST(BenchRunner, MergeKeepsTheEarliestMessage) {
    const auto t0 = bench_clock::now();
    std::vector<run_result> tallies(2);
    tallies[0].errors["connect_failed"] = 1;
    tallies[0].first_errors["connect_failed"] = {t0 + 2ms, "second", true};
    tallies[1].errors["connect_failed"] = 1;
    tallies[1].first_errors["connect_failed"] = {t0 + 1ms, "first", true};
    tallies[1].errors["acquire_timeout"] = 1;
    tallies[1].first_errors["acquire_timeout"] = {t0 + 3ms, "only", true};
    const auto all = connmgr::bench::detail::merge(tallies);
    EXPECT_EQ(all.errors.at("connect_failed"), 2u);
    EXPECT_EQ(all.first_errors.at("connect_failed").message, "first");
    EXPECT_EQ(all.first_errors.at("acquire_timeout").message, "only");
}

TEST(BenchRunner, ClientSetupFailureFailsThatClientsRequests) {
    run_plan plan{.clients = 3, .requests_per_client = 4};
    auto r = run_sync(plan,
                      [&](std::size_t client) -> sync_request {
                          if (client == 1) throw std::runtime_error("connect_failed");
                          return [](std::size_t) {};
                      },
                      name_of, {});
    EXPECT_EQ(r.ok, 8u);
    EXPECT_EQ(r.errors["connect_failed"], 4u);
}

TEST(BenchRunner, DurationBoundsTheRun) {
    run_plan plan{.clients = 2, .requests_per_client = 0, .duration = 100ms};
    auto r = run_sync(
        plan, [&](std::size_t) { return [](std::size_t) { std::this_thread::sleep_for(1ms); }; },
        name_of, {});
    EXPECT_GE(r.elapsed, 100ms);
    EXPECT_LT(r.elapsed, 2s);
    EXPECT_GT(r.ok, 10u);
}

TEST(BenchRunner, AsyncClientsAreCoroutinesOnTheExecutor) {
    asio::io_context io;
    auto guard = asio::make_work_guard(io);
    std::thread io_thread{[&] { io.run(); }};
    std::atomic<std::uint64_t> calls{0};
    std::atomic<std::uint64_t> round_trips{0};
    std::atomic<std::uint64_t> failed_round_trips{0};
    std::atomic<bool> off_executor{false};
    run_plan plan{.clients = 50, .requests_per_client = 6, .pipeline = 4};
    auto r = run_async(plan, {io.get_executor()},
                       [&](std::size_t) -> async_request {
                           return [&](std::size_t n) -> asio::awaitable<void> {
                               if (std::this_thread::get_id() != io_thread.get_id())
                                   off_executor = true;
                               asio::steady_timer t{co_await asio::this_coro::executor, 100us};
                               co_await t.async_wait(asio::use_awaitable);
                               calls += n;
                               if (++round_trips % 7 == 0) {
                                   ++failed_round_trips;
                                   throw std::runtime_error("query_failed");
                               }
                           };
                       },
                       name_of, {});
    guard.reset();
    io_thread.join();
    EXPECT_FALSE(off_executor.load());
    EXPECT_EQ(calls.load(), 50u * 6u);
    EXPECT_EQ(round_trips.load(), 50u * 2u);  // 4 + 2 commands per client
    EXPECT_EQ(r.ok + r.errors["query_failed"], 50u * 6u);
    EXPECT_GT(r.errors["query_failed"], 0u);
    EXPECT_EQ(r.latency.count() + failed_round_trips.load(), round_trips.load());
    EXPECT_GE(r.elapsed, 200us);
}

TEST(BenchReport, JsonHasTheDesignShape) {
    bench_report rep;
    rep.database = "app";
    rep.backend = "postgres";
    rep.flavour = "sync";
    rep.clients = 2;
    rep.threads = 2;
    rep.requests_per_client = 3;
    rep.requests_ok = 5;
    rep.errors["acquire_timeout"] = 1;
    rep.duration_seconds = 0.5;
    rep.latency.record(1'000'000);
    rep.latency.record(3'000'000);
    rep.pool = {.max_size = 20,
                .peak_in_use = 2,
                .peak_waiters = 0,
                .wait_seconds_sum = 0.25,
                .wait_seconds_max = 0.125};
    const auto j = to_json(rep);
    for (const char* key :
         {"database", "backend", "flavour", "clients", "requests_per_client", "requests_ok",
          "errors", "duration_seconds", "throughput_per_second", "latency_ms", "pool"})
        EXPECT_TRUE(j.contains(key)) << key;
    // Added beside the contract's fields: the threads the clients ran on, and the first
    // message of each error kind (DESIGN §13: error_messages).
    EXPECT_EQ(j.at("threads").as_uint64(), 2u);
    EXPECT_TRUE(j.at("error_messages").as_object().empty());
    EXPECT_EQ(j.size(), 13u);
    EXPECT_EQ(j.at("errors").at("acquire_timeout").as_uint64(), 1u);
    EXPECT_DOUBLE_EQ(j.at("throughput_per_second").as_double(), 10.0);
    EXPECT_DOUBLE_EQ(j.at("latency_ms").at("max").as_double(), 3.0);
    EXPECT_EQ(j.at("latency_ms").as_object().size(), 4u);
    EXPECT_EQ(j.at("pool").as_object().size(), 6u);
    EXPECT_TRUE(j.at("pool").at("wait_seconds_max_exact").as_bool());
    EXPECT_EQ(j.at("pool").at("max_size").as_uint64(), 20u);
    EXPECT_EQ(rep.timeouts(), 1u);
    EXPECT_EQ(rep.requests_failed(), 1u);

    // Plain decimals, not Boost.JSON's exponent form.
    EXPECT_EQ(connmgr::bench::serialize(boost::json::value(0.2005)), "0.2005");
    EXPECT_EQ(connmgr::bench::serialize(boost::json::value(3990.0)), "3990.0");
    const std::string text = connmgr::bench::serialize(j);
    EXPECT_EQ(text.find("E-"), std::string::npos) << text;
    EXPECT_EQ(boost::json::parse(text), boost::json::value(j));

    rep.requests_per_client.reset();  // --duration mode
    EXPECT_TRUE(to_json(rep).at("requests_per_client").is_null());
    EXPECT_NE(to_text(rep).find("acquire_timeout 1"), std::string::npos);

    // The first message of each kind, in JSON and text (libpq's second line indented).
    rep.errors["connect_failed"] = 2;
    rep.error_messages["connect_failed"] =
        "could not connect to app (postgresql://app:***@db:5432/app): FATAL:  password "
        "authentication failed for user \"app\"\nDETAIL: more\n";
    EXPECT_EQ(to_json(rep).at("error_messages").at("connect_failed").as_string(),
              rep.error_messages["connect_failed"]);
    EXPECT_NE(to_text(rep).find("  errors          3 (acquire_timeout 1, connect_failed 2)\n"
                                "    first connect_failed: could not connect to app "
                                "(postgresql://app:***@db:5432/app): FATAL:  password "
                                "authentication failed for user \"app\"\n      DETAIL: more\n"
                                "  timeouts"),
              std::string::npos)
        << to_text(rep);
}

// The report's waits are the measured window's: the warm-up's waits count in neither the sum
// nor the max.
TEST(BenchReport, WaitsAreTheWindowsNotTheWarmUps) {
    const std::vector<double> bounds{0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30};
    // The warm-up: 8 waits for connects, the longest 6.214 ms.
    const wait_totals warm{.sum = 0.030,
                           .max = 0.006214,
                           .bounds = bounds,
                           .cumulative = {0, 2, 8, 8, 8, 8, 8, 8, 8, 8}};

    // A run of 1000 acquires served at once (40 us in all): not 6.214 ms.
    pool_figures f;
    set_window_waits(f, warm,
                     {.sum = 0.030040,
                      .max = 0.006214,
                      .bounds = bounds,
                      .cumulative = {1000, 1002, 1008, 1008, 1008, 1008, 1008, 1008, 1008, 1008}});
    EXPECT_NEAR(f.wait_seconds_sum, 0.000040, 1e-12);
    EXPECT_NEAR(f.wait_seconds_max, 0.000040, 1e-12);  // at most the window's sum
    EXPECT_FALSE(f.wait_max_exact);

    // A run whose longest wait is a new record: exact.
    set_window_waits(f, warm,
                     {.sum = 0.530,
                      .max = 0.2,
                      .bounds = bounds,
                      .cumulative = {10, 12, 18, 18, 18, 19, 20, 20, 20, 20}});
    EXPECT_NEAR(f.wait_seconds_sum, 0.5, 1e-12);
    EXPECT_DOUBLE_EQ(f.wait_seconds_max, 0.2);
    EXPECT_TRUE(f.wait_max_exact);

    // Waits below the warm-up's longest: bounded by the highest bucket they reached (5 ms),
    // below the warm-up's 6.214 ms and the window's sum.
    set_window_waits(f, warm,
                     {.sum = 0.040,
                      .max = 0.006214,
                      .bounds = bounds,
                      .cumulative = {0, 6, 12, 12, 12, 12, 12, 12, 12, 12}});
    EXPECT_DOUBLE_EQ(f.wait_seconds_max, 0.005);
    EXPECT_FALSE(f.wait_max_exact);

    // One wait in the window: it is the window's sum.
    set_window_waits(f, warm,
                     {.sum = 0.033,
                      .max = 0.006214,
                      .bounds = bounds,
                      .cumulative = {0, 3, 9, 9, 9, 9, 9, 9, 9, 9}});
    EXPECT_NEAR(f.wait_seconds_max, 0.003, 1e-12);
    EXPECT_TRUE(f.wait_max_exact);

    // No acquire in the window, and no warm-up at all.
    set_window_waits(f, warm, warm);
    EXPECT_EQ(f.wait_seconds_sum, 0.0);
    EXPECT_EQ(f.wait_seconds_max, 0.0);
    EXPECT_TRUE(f.wait_max_exact);
    set_window_waits(f, {}, warm);
    EXPECT_DOUBLE_EQ(f.wait_seconds_sum, 0.030);
    EXPECT_DOUBLE_EQ(f.wait_seconds_max, 0.006214);
    EXPECT_TRUE(f.wait_max_exact);

    // The text says when the max is a bound, and that the warm-up is not in it.
    bench_report rep;
    set_window_waits(rep.pool, warm,
                     {.sum = 0.040,
                      .max = 0.006214,
                      .bounds = bounds,
                      .cumulative = {0, 6, 12, 12, 12, 12, 12, 12, 12, 12}});
    EXPECT_NE(to_text(rep).find("acquire wait    sum 0.010 s, max at most 5.000 ms (the run's "
                                "waits, not the warm-up's)\n"),
              std::string::npos)
        << to_text(rep);
    EXPECT_FALSE(to_json(rep).at("pool").at("wait_seconds_max_exact").as_bool());
}

TEST(BenchProgress, RendersFractionOfRequestsOrTime) {
    progress_bar by_count{false, 200, 0s};
    EXPECT_NE(by_count.render(50, 1, 1s).find(" 25%  50/200  50/s  errors 1"), std::string::npos);
    progress_bar by_time{false, 0, 10s};
    EXPECT_NE(by_time.render(1000, 0, 5s).find(" 50%  1000  200/s"), std::string::npos);
    EXPECT_NE(by_time.render(1000, 0, 20s).find("100%"), std::string::npos);
}

}  // namespace
