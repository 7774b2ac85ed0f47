#include "bench_requests.hpp"

#include <connmgr/error.hpp>
#include <connmgr/falkordb/graph_client.hpp>
#include <connmgr/pg/pg_client.hpp>
#include <connmgr/redis/redis_client.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <pqxx/except>
#include <pqxx/nontransaction>
#include <pqxx/pipeline>

#include <future>
#include <latch>
#include <thread>

namespace connmgr::bench {
namespace {

namespace asio = boost::asio;

void check(const redis::reply& r) {
    if (r.is_error()) throw query_error(std::string(r.error_code()), r.str());
}

// The client's database_pools, whichever accessor its type offers (nullptr if none).
template <class Client>
auto pools_of(const Client& db) {
    if constexpr (requires { db.pools_ptr()->stats(); })
        return db.pools_ptr();
    else if constexpr (requires { db.pools()->stats(); })
        return db.pools();
    else
        return nullptr;
}

template <class Client>
std::function<std::vector<asio::any_io_executor>()> executors_of(Client db) {
    if constexpr (requires { pools_of(db)->async()->executors(); }) {
        return [db]() -> std::vector<asio::any_io_executor> {
            return pools_of(db)->async()->executors();
        };
    } else {
        return {};
    }
}

template <class Client>
std::function<std::optional<pool_stats>(flavour)> stats_of(Client db) {
    if constexpr (requires { pools_of(db)->stats(); }) {
        return [db](flavour f) -> std::optional<pool_stats> {
            for (auto& p : pools_of(db)->stats())
                if (p.flavour == f) return std::move(p);
            return std::nullopt;
        };
    } else {
        return {};
    }
}

// Holds k leases at once so the pool opens k connections (a connection another client gave
// back would otherwise serve several warm-up requests). Failures are left for the run to
// report.
template <class Client>
void warm_sync(Client db, std::size_t k) {
    std::latch all_in{static_cast<std::ptrdiff_t>(k)};
    std::vector<std::jthread> threads;
    for (std::size_t i = 0; i < k; ++i) {
        threads.emplace_back([&] {
            try {
                auto lease = db.acquire();
                all_in.arrive_and_wait();
            } catch (...) {
                all_in.count_down();
            }
        });
    }
}

template <class Client>
void warm_async(Client db, std::size_t k, const asio::any_io_executor& ex) {
    // Every coroutine runs on `ex` (one thread), so the counters need no lock.
    struct state {
        explicit state(const asio::any_io_executor& e)
            : all_in(e, asio::steady_timer::time_point::max()) {}
        asio::steady_timer all_in;
        std::size_t arrived{0};
        bool released{false};
        std::size_t finished{0};
        std::promise<void> done;
    };
    auto s = std::make_shared<state>(ex);
    auto done = s->done.get_future();
    auto arrive = [s, k] {
        if (++s->arrived == k) {
            s->released = true;
            s->all_in.cancel();
        }
    };
    for (std::size_t i = 0; i < k; ++i) {
        asio::co_spawn(
            ex,
            [db, s, arrive]() mutable -> asio::awaitable<void> {
                try {
                    auto lease = co_await db.async_acquire(asio::use_awaitable);
                    arrive();
                    if (!s->released) {
                        boost::system::error_code ec;
                        co_await s->all_in.async_wait(
                            asio::redirect_error(asio::use_awaitable, ec));
                    }
                } catch (...) {
                    arrive();
                }
            },
            [s, k](std::exception_ptr) {
                if (++s->finished == k) s->done.set_value();
            });
    }
    done.wait();
}

template <class Client>
void expose_pools(request_factories& f, const Client& db) {
    f.pool_executors = executors_of(db);
    f.pool_stats_of = stats_of(db);
    f.warm_sync = [db](std::size_t k) { warm_sync(db, k); };
    f.warm_async = [db](std::size_t k, const asio::any_io_executor& ex) { warm_async(db, k, ex); };
}

}  // namespace

request_factories postgres_requests(manager& m, const std::string& database,
                                    const std::string& command) {
    auto db = m.get_client<pg_client>(database);
    request_factories f;
    expose_pools(f, db);
    f.sync = [db, command](std::size_t) -> sync_request {
        return [db, command](std::size_t n) mutable {
            auto conn = db.acquire();
            // A nontransaction sends the statement alone: one round trip, no BEGIN/COMMIT.
            pqxx::nontransaction tx{*conn};
            if (n == 1) {
                tx.exec(command);
                return;
            }
            // libpqxx's pipeline sends the n statements together, then reads every result.
            pqxx::pipeline p{tx};
            for (std::size_t i = 0; i < n; ++i) p.insert(command);
            while (!p.empty()) p.retrieve();
        };
    };
    f.async = [db, command](std::size_t) -> async_request {
        return [db, one = pg::query{command},
                batch = std::vector<pg::query>{}](std::size_t n) mutable -> asio::awaitable<void> {
            if (n == 1) {
                co_await db.async_execute(one, asio::use_awaitable);
                co_return;
            }
            // libpq pipeline mode: n statements, one round trip.
            if (batch.size() != n) batch.assign(n, one);
            co_await db.async_pipeline(batch, asio::use_awaitable);
        };
    };
    return f;
}

// The encoded requests of one client: one command, and n of them for pipelined round trips
// (rebuilt only when n changes, i.e. for a shorter last batch).
class redis_requests_cache {
public:
    explicit redis_requests_cache(std::vector<std::string> args) : args_(std::move(args)) {
        one_.push(args_);
    }
    const redis::request& get(std::size_t n) {
        if (n == 1) return one_;
        if (batch_.size() != n) {
            batch_.clear();
            for (std::size_t i = 0; i < n; ++i) batch_.push(args_);
        }
        return batch_;
    }

private:
    std::vector<std::string> args_;
    redis::request one_;
    redis::request batch_;
};

request_factories redis_requests(manager& m, const std::string& database,
                                 std::vector<std::string> args) {
    auto db = m.get_client<redis_client>(database);
    redis::request probe;
    probe.push(args);  // throws for an empty command before any client starts
    request_factories f;
    expose_pools(f, db);
    f.sync = [db, args](std::size_t) -> sync_request {
        return [db, cache = std::make_shared<redis_requests_cache>(args)](std::size_t n) mutable {
            if (n == 1) {
                db.command(cache->get(1));  // throws query_error on an error reply
                return;
            }
            for (const auto& r : db.pipeline(cache->get(n))) check(r);
        };
    };
    f.async = [db, args](std::size_t) -> async_request {
        return [db, cache = std::make_shared<redis_requests_cache>(args)](
                   std::size_t n) mutable -> asio::awaitable<void> {
            redis::request req = cache->get(n);
            if (n == 1) {
                co_await db.async_command(std::move(req), asio::use_awaitable);
                co_return;
            }
            for (const auto& r : co_await db.async_pipeline(std::move(req), asio::use_awaitable))
                check(r);
        };
    };
    return f;
}

request_factories graph_requests(manager& m, const std::string& database, const std::string& graph,
                                 const std::string& cypher) {
    auto db = m.get_client<graph_client>(database);
    request_factories f;
    expose_pools(f, db.redis());  // the same pools; warm-up borrows through them
    f.sync = [db, graph, cypher](std::size_t) -> sync_request {
        return [db, graph, cypher,
                batch = std::vector<falkordb::graph_query>{}](std::size_t n) mutable {
            if (n == 1) {
                db.query(graph, cypher);  // throws query_error on a server-side error
                return;
            }
            if (batch.size() != n) batch.assign(n, falkordb::graph_query{cypher});
            for (const auto& r : db.pipeline(graph, batch)) r.check();
        };
    };
    f.async = [db, graph, cypher](std::size_t) -> async_request {
        return [db, graph, cypher](std::size_t) mutable -> asio::awaitable<void> {
            co_await db.async_query(graph, cypher, {}, {}, asio::use_awaitable);
        };
    };
    return f;
}

std::string classify_failure(std::exception_ptr failure) {
    try {
        std::rethrow_exception(failure);
    } catch (const boost::system::system_error& e) {
        const auto code = e.code();
        if (code.category() == error_category())
            return std::string(to_string(static_cast<errc>(code.value())));
        return "connection_lost";  // a socket error outside connmgr's own codes
    } catch (const pqxx::broken_connection&) {
        return "connection_lost";
    } catch (const pqxx::sql_error&) {
        return "query_failed";
    } catch (const pqxx::failure&) {
        return "query_failed";
    } catch (...) {
        return "other";
    }
}

}  // namespace connmgr::bench
