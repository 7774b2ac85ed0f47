#pragma once
// Shared by the fault and load scenarios (issue 16): one database behind a manager, for
// PostgreSQL direct, through PgBouncer, and Redis, used sync (threads) or async (coroutines),
// with the server-side connection count sampled every 100 ms and every request's outcome and
// duration recorded.

#include "server_connections.hpp"

#include <connmgr/connmgr.hpp>
#include <connmgr/error.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>

#include <pqxx/pqxx>

#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <ostream>
#include <string>
#include <thread>
#include <vector>

namespace connmgr::scenario {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

enum class backend_kind { pg, pgbouncer, redis };
enum class flavour { sync, async };

struct target {
    const char* label;
    const char* url_env;
    backend_kind kind;
    const char* service;  ///< scripts/services.sh name of the server a fault test hits
};

inline const target targets[] = {
    {"pg", "CONNMGR_TEST_PG_URL", backend_kind::pg, "postgres"},
    {"pgbouncer", "CONNMGR_TEST_PGBOUNCER_URL", backend_kind::pgbouncer, "pgbouncer"},
    {"redis", "CONNMGR_TEST_REDIS_URL", backend_kind::redis, "redis"},
};

struct param {
    target where;
    flavour how;
};

inline void PrintTo(const param& p, std::ostream* os) {
    *os << p.where.label << (p.how == flavour::sync ? " sync" : " async");
}

inline std::vector<param> every_param() {
    std::vector<param> out;
    for (const auto& t : targets)
        for (auto f : {flavour::sync, flavour::async}) out.push_back({t, f});
    return out;
}

/// The pool and bounds of the restart and kill scenarios (pgbouncer_restart_test,
/// server_fault_test).
namespace restart {
inline constexpr auto acquire_timeout = 2s;
inline constexpr auto query_timeout = 2s;
/// DESIGN §5: a request fails within acquire_timeout + query_timeout + 1 s at the latest.
inline constexpr auto deadline = acquire_timeout + query_timeout + 1s;
/// How long each request holds its connection on the server.
inline constexpr auto hold = 20ms;

/// 8 connections, both waits bounded by 2 s, connects by 1 s.
inline pool_options pool() {
    pool_options p;
    p.max_size = 8;
    p.acquire_timeout = acquire_timeout;
    p.query_timeout = query_timeout;
    p.connect_timeout = 1s;
    return p;
}
}  // namespace restart

inline std::string param_name(const testing::TestParamInfo<param>& info) {
    return std::string(info.param.where.label) +
           (info.param.how == flavour::sync ? "_sync" : "_async");
}

inline std::optional<std::string> env(const char* name) {
    const char* v = std::getenv(name);
    if (v == nullptr || *v == '\0') return std::nullopt;
    return std::string(v);
}

/// A name no other test (or earlier run) uses; also the application_name / client name.
inline std::string unique_name(const std::string& what) {
    static std::atomic<int> n{0};
    return "rel-" + what + "-" + std::to_string(::getpid()) + "-" + std::to_string(++n);
}

/// What one request ended with: "ok" or the error's name (errc, or the pqxx exception class
/// for the sync PostgreSQL API, where the user talks to libpqxx directly).
using outcome = std::string;

inline outcome name_of(const boost::system::error_code& ec) {
    if (!ec) return "ok";
    if (ec.category() == connmgr::error_category())
        return std::string(connmgr::to_string(static_cast<errc>(ec.value())));
    if (ec == asio::error::operation_aborted) return "operation_aborted";  // a cancelled acquire
    // One token in the SCENARIO line's `outcome=count` list.
    std::string out = ec.category().name() + std::string(":") + ec.message();
    std::replace(out.begin(), out.end(), ' ', '_');
    return out;
}

/// Runs `f`, turning what it throws into an outcome.
template <class F>
outcome outcome_of(F&& f) {
    try {
        f();
        return "ok";
    } catch (const connmgr::error& e) {
        return name_of(e.code());
    } catch (const pqxx::broken_connection&) {
        return "connection_lost";
    } catch (const pqxx::sql_error&) {
        return "query_failed";
    } catch (const std::exception& e) {
        return std::string("unexpected: ") + e.what();
    }
}

/// Polls `pred` every 5 ms (the load runs on other threads) until it holds or `limit` passes;
/// true if it held.
inline bool await(const std::function<bool()>& pred, milliseconds limit) {
    const auto until = clock::now() + limit;
    while (!pred()) {
        if (clock::now() >= until) return false;
        std::this_thread::sleep_for(5ms);
    }
    return true;
}

/// One request as recorded: when it started, got its connection (== end when it got none)
/// and ended, and how.
struct request_span {
    clock::time_point start;
    clock::time_point acquired;
    clock::time_point end;
    outcome how;
};

/// Outcomes by name, the longest request, and every request's wait for its connection.
class tally {
public:
    void add(const outcome& o, clock::duration took, std::optional<clock::duration> waited = {}) {
        const auto now = clock::now();
        std::lock_guard lock(mutex_);
        ++by_outcome_[o];
        longest_ = std::max(longest_, took);
        if (waited) {
            waits_.push_back(*waited);
            auto& m = max_wait_[o];
            m = std::max(m, *waited);
        }
        events_.emplace_back(now, o == "ok");
        spans_.push_back({now - took, waited ? now - took + *waited : now, now, o});
        if (o == "ok") {
            oks_.push_back(now);
        } else {
            last_failure_ = now;
        }
    }
    /// When the last failed request ended (nullopt: none failed).
    std::optional<clock::time_point> last_failure() const {
        std::lock_guard lock(mutex_);
        return last_failure_;
    }
    /// Every request recorded so far, in the order they ended.
    std::vector<request_span> spans() const {
        std::lock_guard lock(mutex_);
        return spans_;
    }
    /// When the first request that succeeded ended at or after `t` (a waiter served right then
    /// counts: after a failover every success is on the new server).
    std::optional<clock::time_point> first_ok_after(clock::time_point t) const {
        std::lock_guard lock(mutex_);
        std::optional<clock::time_point> first;
        for (const auto& s : spans_)
            if (s.how == "ok" && s.end >= t && (!first || s.end < *first)) first = s.end;
        return first;
    }
    /// Requests that succeeded after `t`.
    long ok_after(clock::time_point t) const {
        std::lock_guard lock(mutex_);
        return static_cast<long>(
            std::count_if(oks_.begin(), oks_.end(), [&](auto e) { return e > t; }));
    }
    std::map<outcome, long> by_outcome() const {
        std::lock_guard lock(mutex_);
        return by_outcome_;
    }
    long count(const outcome& o) const {
        std::lock_guard lock(mutex_);
        auto it = by_outcome_.find(o);
        return it == by_outcome_.end() ? 0 : it->second;
    }
    long total() const {
        std::lock_guard lock(mutex_);
        long n = 0;
        for (const auto& [o, c] : by_outcome_) n += c;
        return n;
    }
    clock::duration longest() const {
        std::lock_guard lock(mutex_);
        return longest_;
    }
    /// The q-quantile (0..1) of the recorded waits.
    clock::duration wait_quantile(double q) const {
        std::lock_guard lock(mutex_);
        if (waits_.empty()) return {};
        auto w = waits_;
        const auto k = static_cast<std::size_t>(q * static_cast<double>(w.size() - 1));
        std::nth_element(w.begin(), w.begin() + static_cast<std::ptrdiff_t>(k), w.end());
        return w[k];
    }
    /// "ok/failed" per `bucket` since `start`, e.g. "[0.0s 812/0] [0.5s 3/120] ...".
    std::string timeline(clock::time_point start, milliseconds bucket = 500ms) const {
        std::lock_guard lock(mutex_);
        std::map<long, std::pair<long, long>> by_bucket;
        for (const auto& [when, ok] : events_) {
            auto& b = by_bucket[static_cast<long>((when - start) / bucket)];
            (ok ? b.first : b.second)++;
        }
        std::string out;
        char buf[64];
        for (const auto& [i, b] : by_bucket) {
            std::snprintf(buf, sizeof buf, "[%.1fs %ld/%ld] ",
                          std::chrono::duration<double>(i * bucket).count(), b.first, b.second);
            out += buf;
        }
        return out;
    }
    std::string describe() const {
        std::lock_guard lock(mutex_);
        std::string out;
        for (const auto& [o, c] : by_outcome_) out += o + "=" + std::to_string(c) + " ";
        for (const auto& [o, w] : max_wait_)
            out += "max_wait[" + o +
                   "]=" + std::to_string(std::chrono::duration_cast<milliseconds>(w).count()) +
                   "ms ";
        out += "longest=" +
               std::to_string(std::chrono::duration_cast<milliseconds>(longest_).count()) + "ms";
        return out;
    }

private:
    mutable std::mutex mutex_;
    std::map<outcome, long> by_outcome_;
    clock::duration longest_{};
    std::vector<clock::duration> waits_;
    std::map<outcome, clock::duration> max_wait_;
    std::vector<clock::time_point> oks_;
    std::vector<std::pair<clock::time_point, bool>> events_;
    std::vector<request_span> spans_;
    std::optional<clock::time_point> last_failure_;
};

/// One scenario's database: a manager with one configured database named after the test, the
/// server-side sampler for its connections, and the requests the scenarios issue.
class Scenario : public testing::TestWithParam<param> {
protected:
    static constexpr milliseconds failure_pause{10};

    void SetUp() override {
        auto url = env(GetParam().where.url_env);
        if (!url) GTEST_SKIP() << GetParam().where.url_env << " is not set (no servers)";
        url_ = *url;
        name_ = unique_name(GetParam().where.label);
        io_thread_ = std::thread([this] { io_.run(); });
    }

    void TearDown() override {
        if (configured_) {
            const auto summary = manager_.close_all();
            EXPECT_EQ(summary.leases_outstanding, 0u);
        }
        if (sampler_) {
            const auto zero = sampler_->await(0, 10s);
            EXPECT_EQ(zero.value_or(-1), 0) << "server-side connections left after close_all()";
            sampler_->stop();
        }
        work_.reset();
        if (io_thread_.joinable()) io_thread_.join();
        if (!table_.empty()) {
            pqxx::connection c{*env("CONNMGR_TEST_PG_URL")};
            pqxx::nontransaction{c}.exec("DROP TABLE IF EXISTS " + table_);
        }
    }

    bool is_redis() const { return GetParam().where.kind == backend_kind::redis; }
    bool is_sync() const { return GetParam().how == flavour::sync; }

    /// Configures the database (both flavours get `pool`; the breaker its defaults unless
    /// given) and starts the sampler.
    void open(pool_options pool, std::optional<breaker_options> breaker = {}) {
        database_config db;
        db.name = name_;
        db.url = db_url::parse(url_);
        db.sync_pool = pool;
        db.async_pool = pool;
        db.pgbouncer = GetParam().where.kind == backend_kind::pgbouncer;
        db.drain_timeout = 5s;
        if (breaker) db.circuit_breaker = *breaker;
        manager_config config;
        config.databases[name_] = db;
        manager_.configure(config);
        configured_ = true;
        max_size_ = pool.max_size;
        switch (GetParam().where.kind) {
            case backend_kind::pg:
                sampler_.emplace(test::pg_server_connections(
                    observer_url_.empty() ? url_ : observer_url_, name_));
                break;
            case backend_kind::pgbouncer:
                sampler_.emplace(test::pgbouncer_client_connections(url_, name_));
                break;
            case backend_kind::redis:
                sampler_.emplace(test::redis_server_connections(url_, name_));
                break;
        }
        if (is_redis()) {
            redis_ = manager_.get_client<redis_client>(name_);
            key_ = "connmgr-test:" + name_;
        } else {
            pg_ = manager_.get_client<pg_client>(name_);
        }
    }

    /// A table (PostgreSQL) or list (Redis) each recorded request appends its id to.
    void create_record() {
        if (is_redis()) return;
        table_ = "rel_" + std::to_string(::getpid()) + "_" + std::to_string(table_counter()++);
        pqxx::connection c{*env("CONNMGR_TEST_PG_URL")};
        pqxx::nontransaction{c}.exec("CREATE TABLE " + table_ + " (id bigint NOT NULL)");
    }

    /// The recorded ids: how many, and how many more than distinct (a replayed request).
    struct recorded {
        long rows{0};
        long duplicates{0};
    };
    recorded read_record() {
        recorded out;
        if (is_redis()) {
            redis::sync_driver d(db_url::parse(url_).redis(), "test-reader", {});
            auto c = d.connect(clock::now() + 5s);
            if (!c.connection) throw std::runtime_error(c.message);
            auto list = c.connection->command({"LRANGE", key_, "0", "-1"});
            std::vector<std::string> ids;
            for (const auto& e : list.elements()) ids.push_back(e.str());
            out.rows = static_cast<long>(ids.size());
            std::sort(ids.begin(), ids.end());
            out.duplicates = out.rows - (std::unique(ids.begin(), ids.end()) - ids.begin());
            c.connection->command({"DEL", key_});
        } else {
            pqxx::connection c{*env("CONNMGR_TEST_PG_URL")};
            auto r = pqxx::nontransaction{c}.exec(
                "SELECT count(*), count(*) - count(DISTINCT id) FROM " + table_);
            out.rows = r[0][0].as<long>();
            out.duplicates = r[0][1].as<long>();
        }
        return out;
    }

    /// One request, sync: borrow, hold the connection `hold` on the server (or append `id` to
    /// the record when id >= 0), give back. Records the outcome, duration and the wait.
    void sync_request(tally& t, long id, milliseconds hold) {
        const auto start = clock::now();
        std::optional<clock::duration> waited;
        const outcome o = outcome_of([&] {
            if (is_redis()) {
                auto lease = redis_.acquire();
                waited = clock::now() - start;
                if (id >= 0)
                    lease->command({"RPUSH", key_, std::to_string(id)});
                else
                    lease->command({"BLPOP", key_ + ":never", seconds_text(hold)});
            } else {
                auto lease = pg_.acquire();
                waited = clock::now() - start;
                // pg::run: a request our query_timeout cut short is errc::query_timeout.
                pg::run(lease, [&](pqxx::connection& c) {
                    pqxx::nontransaction tx{c};
                    if (id >= 0)
                        tx.exec_params(insert_sql(), id, seconds(hold));
                    else
                        tx.exec_params("SELECT pg_sleep($1::float8)", seconds(hold));
                });
            }
        });
        const auto took = clock::now() - start;
        t.add(o, took, waited ? waited : std::optional<clock::duration>(took));  // acquire threw
        // Load shaping, as a real client backs off: a request failing at once (circuit_open,
        // pool_exhausted, a refused connect) must not turn the worker into a busy loop.
        if (o != "ok") std::this_thread::sleep_for(failure_pause);
    }

    /// The same, async.
    asio::awaitable<void> async_request(tally& t, long id, milliseconds hold) {
        const auto start = clock::now();
        std::optional<clock::duration> waited;
        outcome o;
        if (is_redis()) {
            auto [ec, lease] = co_await redis_.async_acquire(asio::as_tuple(asio::use_awaitable));
            waited = clock::now() - start;
            if (ec) {
                o = name_of(ec);
            } else {
                redis::request req =
                    id >= 0 ? redis::request{"RPUSH", key_, std::to_string(id)}
                            : redis::request{"BLPOP", key_ + ":never", seconds_text(hold)};
                auto [ec2, reply] = co_await lease->async_command(
                    std::move(req), asio::as_tuple(asio::use_awaitable));
                if (ec2 == errc::connection_lost) lease.mark_broken();
                o = name_of(ec2);
            }
        } else {
            auto [ec, lease] = co_await pg_.async_acquire(asio::as_tuple(asio::use_awaitable));
            waited = clock::now() - start;
            if (ec) {
                o = name_of(ec);
            } else {
                pg::query q = id >= 0
                                  ? pg::query::with(insert_sql(), id, seconds(hold))
                                  : pg::query::with("SELECT pg_sleep($1::float8)", seconds(hold));
                auto [ec2, result] = co_await lease->async_execute(
                    std::move(q), asio::as_tuple(asio::use_awaitable));
                if (ec2 == errc::connection_lost) lease.mark_broken();
                o = name_of(ec2);
            }
        }
        t.add(o, clock::now() - start, waited);
        if (o != "ok") {
            asio::steady_timer pause(co_await asio::this_coro::executor, failure_pause);
            co_await pause.async_wait(asio::as_tuple(asio::use_awaitable));
        }
    }

    /// `workers` threads (sync) or coroutines (async) issuing requests until `until`; ids
    /// come from `next_id` when `record` is set.
    void run_load(tally& t, int workers, clock::time_point until, milliseconds hold, bool record) {
        run_load(
            t, workers, [until] { return clock::now() < until; }, hold, record);
    }

    /// The same, while `keep_going()` holds (called from every worker).
    template <class KeepGoing>
    void run_load(tally& t, int workers, KeepGoing keep_going, milliseconds hold, bool record) {
        std::atomic<long> next_id{0};
        auto take_id = [&] { return record ? next_id++ : -1L; };
        if (is_sync()) {
            std::vector<std::thread> threads;
            for (int w = 0; w < workers; ++w)
                threads.emplace_back([&] {
                    while (keep_going()) sync_request(t, take_id(), hold);
                });
            for (auto& th : threads) th.join();
            return;
        }
        std::vector<std::future<void>> done;
        for (int w = 0; w < workers; ++w)
            done.push_back(asio::co_spawn(
                io_,
                [&]() -> asio::awaitable<void> {
                    while (keep_going()) co_await async_request(t, take_id(), hold);
                },
                asio::use_future));
        for (auto& f : done) f.get();
    }

    /// Requests completed per second by `workers` workers in `span` (no faults).
    double throughput(int workers, milliseconds span, milliseconds hold) {
        tally t;
        const auto start = clock::now();
        run_load(t, workers, start + span, hold, false);
        const double secs = std::chrono::duration<double>(clock::now() - start).count();
        return static_cast<double>(t.count("ok")) / secs;
    }

    /// The server-side peak must stay within the pool's max_size.
    void expect_peak_within_max_size() {
        ASSERT_TRUE(sampler_);
        EXPECT_GT(sampler_->samples(), 0u);
        EXPECT_LE(sampler_->peak(), static_cast<long>(max_size_))
            << "server-side peak above max_size";
    }

    /// The server-side peak must stay within max_size plus `probes`: the manager's health
    /// probe opens its own connection, named like the pool's.
    void expect_peak_within(long probes) {
        ASSERT_TRUE(sampler_);
        EXPECT_GT(sampler_->samples(), 0u);
        EXPECT_LE(sampler_->peak(), static_cast<long>(max_size_) + probes)
            << "server-side peak above max_size (+" << probes << " probe)";
    }

    /// Prints one line of the scenario table (issue 16's closing note).
    void report(const std::string& scenario, const tally& t, const std::string& extra = {}) {
        std::printf("SCENARIO %s %s %s: requests=%ld %s peak=%ld max_size=%zu %s\n",
                    scenario.c_str(), GetParam().where.label, is_sync() ? "sync" : "async",
                    t.total(), t.describe().c_str(), sampler_ ? sampler_->peak() : -1L, max_size_,
                    extra.c_str());
        std::fflush(stdout);
    }

    std::string insert_sql() const {
        return "INSERT INTO " + table_ + " (id) SELECT $1::bigint FROM pg_sleep($2::float8)";
    }

    static double seconds(milliseconds d) { return std::chrono::duration<double>(d).count(); }
    static std::string seconds_text(milliseconds d) {
        char buf[32];
        std::snprintf(buf, sizeof buf, "%.3f", seconds(d));
        return buf;
    }
    static int& table_counter() {
        static int n = 0;
        return n;
    }

    std::string url_;
    /// PostgreSQL: the URL the sampler counts with when url_'s role must not spend a
    /// connection on it (e.g. a role with a CONNECTION LIMIT); "" = url_.
    std::string observer_url_;
    std::string name_;
    std::string key_;
    std::string table_;
    std::size_t max_size_{0};
    manager manager_;
    bool configured_{false};
    pg_client pg_{nullptr};
    redis_client redis_;
    std::optional<test::connection_sampler> sampler_;
    asio::io_context io_;
    asio::executor_work_guard<asio::io_context::executor_type> work_ = asio::make_work_guard(io_);
    std::thread io_thread_;
};

}  // namespace connmgr::scenario
