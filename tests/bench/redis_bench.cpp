// PING / SET / GET through redis_client's pools, to set beside redis-benchmark
// at the same client count. Not a Google Benchmark: each row is one fixed-size
// run (like redis-benchmark's -n), reported as requests per second.
//
//   redis_bench [URL] [requests per row]      (URL defaults to
//   $CONNMGR_TEST_REDIS_URL)
#include <connmgr/redis/redis_client.hpp>
#include <connmgr/url.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

namespace asio = boost::asio;
using connmgr::redis::request;
using clock_type = std::chrono::steady_clock;

namespace {

request make(const std::string& op, int client) {
    const std::string key = "connmgr-bench:key:" + std::to_string(client);
    if (op == "PING") return request{"PING"};
    if (op == "SET") return request{"SET", key, "xxx"};
    return request{"GET", key};
}

request batch(const std::string& op, int client, int n) {
    request r;
    const std::string key = "connmgr-bench:key:" + std::to_string(client);
    for (int i = 0; i < n; ++i) {
        if (op == "PING") {
            r.push({"PING"});
        } else if (op == "SET") {
            r.push({"SET", key, "xxx"});
        } else {
            r.push({"GET", key});
        }
    }
    return r;
}

void row(const char* flavour, int clients, int pipeline, const std::string& op, long requests,
         double seconds, long errors) {
    std::printf(
        "%-6s clients=%-3d pipeline=%-3d %-5s requests=%-8ld %8.3fs "
        "%12.0f req/s%s\n",
        flavour, clients, pipeline, op.c_str(), requests, seconds,
        static_cast<double>(requests) / seconds,
        errors != 0 ? (" errors=" + std::to_string(errors)).c_str() : "");
    std::fflush(stdout);
}

void run_sync(connmgr::redis_client& client, int clients, int pipeline, const std::string& op,
              long total) {
    const long per = total / clients;
    std::atomic<long> errors{0};
    std::vector<std::thread> threads;
    const auto start = clock_type::now();
    for (int c = 0; c < clients; ++c) {
        threads.emplace_back([&, c] {
            const request req = pipeline > 1 ? batch(op, c, pipeline) : make(op, c);
            for (long i = 0; i < per; i += pipeline) {
                try {
                    if (pipeline > 1) {
                        client.pipeline(req);
                    } else {
                        client.command(req);
                    }
                } catch (const std::exception&) {
                    ++errors;
                }
            }
        });
    }
    for (auto& t : threads) t.join();
    const double s = std::chrono::duration<double>(clock_type::now() - start).count();
    row("sync", clients, pipeline, op, per * clients, s, errors);
}

void run_async(asio::io_context& io, connmgr::redis_client& client, int clients, int pipeline,
               const std::string& op, long total) {
    const long per = total / clients;
    std::atomic<long> errors{0};
    std::atomic<int> running{clients};
    const auto start = clock_type::now();
    for (int c = 0; c < clients; ++c) {
        asio::co_spawn(
            io,
            [&, c]() -> asio::awaitable<void> {
                const request req = pipeline > 1 ? batch(op, c, pipeline) : make(op, c);
                for (long i = 0; i < per; i += pipeline) {
                    if (pipeline > 1) {
                        auto [ec, r] = co_await client.async_pipeline(
                            req, asio::as_tuple(asio::use_awaitable));
                        if (ec) ++errors;
                    } else {
                        auto [ec, r] =
                            co_await client.async_command(req, asio::as_tuple(asio::use_awaitable));
                        if (ec) ++errors;
                    }
                }
                --running;
            },
            asio::detached);
    }
    while (running > 0) std::this_thread::sleep_for(std::chrono::microseconds(200));
    const double s = std::chrono::duration<double>(clock_type::now() - start).count();
    row("async", clients, pipeline, op, per * clients, s, errors);
}

}  // namespace

int main(int argc, char** argv) {
    const char* env = std::getenv("CONNMGR_TEST_REDIS_URL");
    const std::string url =
        argc > 1 ? argv[1] : (env != nullptr ? env : "redis://127.0.0.1:56379/0");
    const long total = argc > 2 ? std::atol(argv[2]) : 200'000;

    asio::io_context io{1};
    auto work = asio::make_work_guard(io);
    std::thread io_thread([&] { io.run(); });

    connmgr::database_config db;
    db.name = "bench";
    db.url = connmgr::db_url::parse(url);
    db.sync_pool.max_size = 64;
    db.async_pool.max_size = 64;
    auto pools =
        std::make_shared<connmgr::redis_client::pools_type>(db, io.get_executor(), "bench");
    connmgr::redis_client client(pools);

    for (const std::string op : {"PING", "SET", "GET"}) {
        run_sync(client, 16, 1, op, total);
        for (int n : {1, 16, 64}) run_async(io, client, n, 1, op, total);
        run_sync(client, 16, 16, op, total * 4);
        run_async(io, client, 16, 16, op, total * 4);
    }
    pools->close(std::chrono::seconds(5));
    work.reset();
    io_thread.join();
}
