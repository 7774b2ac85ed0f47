#pragma once
// The requests `connmgr bench` sends, per backend: callables for the runner that do one round
// trip through a connmgr client (one command, or `pipeline` commands at once).
//
// \par Thread safety
// The factories may be called from any thread; each returned request belongs to one client.

#include "bench_async_runner.hpp"

#include <connmgr/manager.hpp>
#include <connmgr/pool_stats.hpp>

#include <cstddef>
#include <exception>
#include <optional>
#include <string>
#include <vector>

namespace connmgr::bench {

struct request_factories {
    std::function<sync_request(std::size_t client)> sync;
    std::function<async_request(std::size_t client)> async;
    /// The executors of the database's async pool (the manager's I/O threads), when the
    /// client exposes them: async clients are spread over them, so a client's queries mostly
    /// run on a connection of its own thread and complete without a thread hop.
    std::function<std::vector<boost::asio::any_io_executor>()> pool_executors;
    /// The statistics of the database's pool of one flavour, straight from the client's pools
    /// when it exposes them (cheap, and without the manager's utilization warnings, which a
    /// 200 Hz sampler at full load would keep triggering); empty otherwise.
    std::function<std::optional<pool_stats>(flavour)> pool_stats_of;
    /// Opens `k` connections of the sync pool by holding k leases at once, then returns them.
    std::function<void(std::size_t k)> warm_sync;
    /// The same for the async pool, with k coroutines on `executor`.
    std::function<void(std::size_t k, const boost::asio::any_io_executor& executor)> warm_async;
};

/// SQL `command` through pg_client: sync on a lease with pqxx (a pqxx::pipeline when
/// pipelining), async through async_query / async_pipeline.
request_factories postgres_requests(manager& m, const std::string& database,
                                    const std::string& command);

/// `args` (the command split on spaces) through redis_client: command() / pipeline() and their
/// async_ forms. An error reply counts as a failed request.
request_factories redis_requests(manager& m, const std::string& database,
                                 std::vector<std::string> args);

/// Cypher `cypher` on graph `graph` through graph_client: query() (pipeline() when pipelining)
/// sync, async_query() async (one query per round trip). A server-side error counts as a
/// failed request.
request_factories graph_requests(manager& m, const std::string& database, const std::string& graph,
                                 const std::string& cypher);

/// The errc name of a failed request ("acquire_timeout", "connection_lost", ...).
std::string classify_failure(std::exception_ptr failure);

}  // namespace connmgr::bench
