// SELECT 1 throughput through connmgr's PostgreSQL pools next to pgbench, in one run.
//
//   pg_bench [seconds=10] [only]   (reads CONNMGR_TEST_PG_URL; needs pgbench on PATH)
//
// `only` runs one part: pgbench, sync, async, pipeline.
//
// Prints one table: requests per second and the ratio to the matching pgbench figure.
#include <connmgr/config.hpp>
#include <connmgr/pg/pg_client.hpp>
#include <connmgr/url.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>

#include <libpq-fe.h>
#include <pqxx/pqxx>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <future>
#include <map>
#include <string>
#include <thread>
#include <vector>

namespace asio = boost::asio;
using namespace connmgr;
using namespace std::chrono_literals;
using bench_clock = std::chrono::steady_clock;

namespace {

pg::conn_params parse(const std::string& url) {
    char* err = nullptr;
    PQconninfoOption* opts = PQconninfoParse(url.c_str(), &err);
    if (opts == nullptr) {
        std::fprintf(stderr, "bad URL\n");
        std::exit(2);
    }
    pg::conn_params out;
    for (auto* o = opts; o->keyword != nullptr; ++o)
        if (o->val != nullptr && *o->val != '\0') out.emplace_back(o->keyword, o->val);
    PQconninfoFree(opts);
    return out;
}

std::string param(const pg::conn_params& p, const std::string& key,
                  const std::string& fallback = "") {
    for (const auto& [k, v] : p)
        if (k == key) return v;
    return fallback;
}

std::shared_ptr<pg_client::pools_type> make_pools(const std::string& url, const std::string& name,
                                                  std::size_t size, asio::any_io_executor ex) {
    database_config db;
    db.name = name;
    db.url = db_url::parse(url);
    db.sync_pool.max_size = size;
    db.async_pool.max_size = size;
    return std::make_shared<pg_client::pools_type>(db, std::move(ex), name);
}

// Like pgbench's "without initial connection time": one warm-up second (the pool connects,
// SCRAM costs ~7 ms of CPU per connection), then requests completed during `d`.
double measure(const std::atomic<long>& count, std::chrono::seconds d) {
    std::this_thread::sleep_for(1s);
    long start = count.load();
    std::this_thread::sleep_for(d);
    return static_cast<double>(count.load() - start) / static_cast<double>(d.count());
}

double sync_pool_rate(const std::string& url, int threads, std::chrono::seconds d) {
    asio::io_context unused;
    auto pools =
        make_pools(url, "bench-sync", static_cast<std::size_t>(threads), unused.get_executor());
    pg_client pool(pools);
    std::atomic<bool> stop{false};
    std::atomic<long> count{0};
    std::vector<std::thread> ts;
    for (int i = 0; i < threads; ++i)
        ts.emplace_back([&] {
            while (!stop) {
                auto conn = pool.acquire();
                pqxx::nontransaction tx{*conn};
                tx.exec("SELECT 1");
                count.fetch_add(1, std::memory_order_relaxed);
            }
        });
    double rate = measure(count, d);
    stop = true;
    for (auto& t : ts) t.join();
    pools->close(5s);
    return rate;
}

double async_pool_rate(const std::string& url, int coroutines, std::chrono::seconds d,
                       int pipeline) {
    asio::io_context ioc(1);
    auto work = asio::make_work_guard(ioc);
    std::thread io([&] { ioc.run(); });
    auto size = static_cast<std::size_t>(coroutines);
    double rate = 0;
    {
        auto pools = make_pools(url, "bench-async", size, ioc.get_executor());
        pg_client db(pools);
        std::atomic<bool> stop{false};
        std::atomic<long> count{0};
        std::vector<pg::query> batch(static_cast<std::size_t>(std::max(pipeline, 1)),
                                     pg::query("SELECT 1"));
        auto client = [&]() -> asio::awaitable<void> {
            while (!stop) {
                if (pipeline > 0) {
                    auto rs = co_await db.async_pipeline(batch);
                    count.fetch_add(static_cast<long>(rs.size()), std::memory_order_relaxed);
                } else {
                    co_await db.async_query("SELECT 1");
                    count.fetch_add(1, std::memory_order_relaxed);
                }
            }
        };
        std::vector<std::future<void>> done;
        for (int i = 0; i < coroutines; ++i)
            done.push_back(asio::co_spawn(ioc, client(), asio::use_future));
        rate = measure(count, d);
        stop = true;
        for (auto& f : done) f.get();
        pools->close(5s);
    }
    work.reset();
    io.join();
    return rate;
}

double pgbench(const pg::conn_params& p, const std::string& flags, int clients,
               std::chrono::seconds d, std::string& command) {
    command = "PGPASSWORD=*** pgbench -n -f /tmp/connmgr_select1.sql -h " +
              param(p, "host", "127.0.0.1") + " -p " + param(p, "port", "5432") + " -U " +
              param(p, "user") + " " + param(p, "dbname") + " -c " + std::to_string(clients) +
              " -j 2 -T " + std::to_string(d.count()) + (flags.empty() ? "" : " " + flags);
    std::string real = command;
    real.replace(0, std::string("PGPASSWORD=***").size(),
                 "PGPASSWORD='" + param(p, "password") + "'");
    FILE* f = ::popen((real + " 2>&1").c_str(), "r");
    if (f == nullptr) return 0;
    char line[512];
    double tps = 0;
    while (std::fgets(line, sizeof line, f) != nullptr) {
        std::string s = line;
        if (s.rfind("tps = ", 0) == 0) tps = std::atof(s.c_str() + 6);
    }
    ::pclose(f);
    return tps;
}

}  // namespace

int main(int argc, char** argv) {
    const char* url = std::getenv("CONNMGR_TEST_PG_URL");
    if (url == nullptr) {
        std::fprintf(stderr, "CONNMGR_TEST_PG_URL is not set\n");
        return 2;
    }
    std::chrono::seconds d{argc > 1 ? std::atoi(argv[1]) : 10};
    std::string only = argc > 2 ? argv[2] : "";
    auto wanted = [&](const char* part) { return only.empty() || only == part; };
    auto p = parse(url);
    std::ofstream("/tmp/connmgr_select1.sql") << "SELECT 1;\n";

    struct row {
        std::string what;
        double rate;
        std::string baseline_key;
        double target;
    };
    std::map<std::string, double> base;
    std::map<std::string, std::string> cmd;
    auto run_pgbench = [&](const std::string& key, const std::string& flags, int c) {
        base[key] = pgbench(p, flags, c, d, cmd[key]);
        std::printf("%-28s %10.0f /s   %s\n", key.c_str(), base[key], cmd[key].c_str());
        std::fflush(stdout);
    };
    if (wanted("pgbench")) {
        run_pgbench("pgbench c=16", "", 16);
        run_pgbench("pgbench c=16 -M prepared", "-M prepared", 16);
        run_pgbench("pgbench c=64", "", 64);
        run_pgbench("pgbench c=64 -M prepared", "-M prepared", 64);
        run_pgbench("pgbench c=16 -C", "-C", 16);
    }

    std::vector<row> rows;
    auto add = [&](std::string what, double rate, std::string key, double target) {
        rows.push_back({std::move(what), rate, std::move(key), target});
        std::printf("%-28s %10.0f /s\n", rows.back().what.c_str(), rate);
        std::fflush(stdout);
    };
    if (wanted("sync"))
        add("sync pool, 16 threads", sync_pool_rate(url, 16, d), "pgbench c=16", 0.9);
    if (wanted("async")) {
        add("async pool, 16 coroutines", async_pool_rate(url, 16, d, 0), "pgbench c=16", 1.0);
        add("async pool, 64 coroutines", async_pool_rate(url, 64, d, 0), "pgbench c=64", 1.0);
    }
    if (wanted("pipeline"))
        add("async pipelined 16x16", async_pool_rate(url, 16, d, 16), "pgbench c=16", 2.0);

    std::printf("\n| connmgr | req/s | vs | baseline req/s | ratio | target | vs -C (c=16) |\n");
    std::printf("|---|---:|---|---:|---:|---:|---:|\n");
    for (const auto& r : rows) {
        double b = base[r.baseline_key];
        double c = base["pgbench c=16 -C"];
        std::printf("| %s | %.0f | %s | %.0f | %.2f | >= %.1f | %.0fx |\n", r.what.c_str(), r.rate,
                    r.baseline_key.c_str(), b, b > 0 ? r.rate / b : 0.0, r.target,
                    c > 0 ? r.rate / c : 0.0);
    }
    std::printf("\nprepared baselines: c=16 %.0f /s, c=64 %.0f /s\n",
                base["pgbench c=16 -M prepared"], base["pgbench c=64 -M prepared"]);
    return 0;
}
