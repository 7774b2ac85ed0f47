#pragma once
/// `connmgr::graph_client`: Cypher on a `falkordb://` database (DESIGN §11) through the same
/// sync and async Redis-protocol pools a `redis_client` of that database uses, so pool sizes,
/// stats, breaker and health are the database's, whatever client borrows.
///
/// `query` sends `GRAPH.QUERY <graph> <cypher> --compact [timeout <ms>]`, `ro_query`
/// `GRAPH.RO_QUERY`; parameters become the `CYPHER name=value ...` prefix (params.hpp). The
/// compact reply is decoded (decoder.hpp) with names from a per-graph schema cache shared by
/// every graph_client of the database and both flavours; a reply naming an id the cache does
/// not hold refreshes it (`CALL db.labels()` etc.) before the result is returned.
///
/// Errors: a server-side error (syntax, runtime, "Query timed out", a write in ro_query)
/// throws `query_error` (sync) or completes with `errc::query_failed` and a result whose
/// `error_message()` is the server's words (async); the connection stays pooled. Any other
/// async failure completes with its code and a failed result naming it. Parameters
/// that cannot be encoded throw `errc::invalid_argument` before anything is sent (async too:
/// the operation is refused at initiation). Otherwise as redis_client (acquire_timeout,
/// circuit_open, connection_lost, ...).
///
/// GCC 12 cannot compile a braced list inside a `co_await` expression: build the operation
/// first (`auto op = g.async_query("social", q, {{"name", "Ada"}}); co_await std::move(op);`)
/// or pass a `falkordb::params` variable.
///
/// \par Thread safety
/// Cheap to copy; every member is safe to call from any thread at once.

#include <connmgr/error.hpp>
#include <connmgr/falkordb/decoder.hpp>
#include <connmgr/falkordb/params.hpp>
#include <connmgr/falkordb/result.hpp>
#include <connmgr/falkordb/schema_cache.hpp>
#include <connmgr/redis/redis_client.hpp>
#include <connmgr/url.hpp>

#include <boost/asio/compose.hpp>
#include <boost/asio/deferred.hpp>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace connmgr {

namespace falkordb {

/// Options of one query.
struct query_options {
    /// Server-side limit (`timeout <ms>`); 0 = the server's default. The server answers
    /// "Query timed out" when it is reached.
    std::chrono::milliseconds timeout{0};
};

/// One query of a pipeline.
struct graph_query {
    std::string cypher;
    params parameters{};
    query_options options{};
    bool read_only{false};  ///< GRAPH.RO_QUERY
};

namespace detail {

/// Appends the command of one query; throws error(invalid_argument) for parameters it refuses.
void push_query(redis::request& req, std::string_view graph, const graph_query& q);
inline redis::request make_query_request(std::string_view graph, const graph_query& q) {
    redis::request req;
    push_query(req, graph, q);
    return req;
}

/// Where a query stands after a reply: done (a result, ok or failed) or in need of a schema
/// refresh of `missing` parts before the kept reply can be decoded.
struct query_step {
    boost::system::error_code ec;
    std::optional<result> done;
    unsigned missing{0};
};

/// Decodes `reply` with the cached names; never throws (a malformed reply is a failure).
query_step on_reply(schema_cache& cache, std::string_view graph, const redis::reply& reply);
/// The procedure calls that list the `missing` parts, in schema_part order.
redis::request schema_request(std::string_view graph, unsigned missing);
/// Stores the refreshed names, then decodes `reply` again; never throws.
query_step on_schema(schema_cache& cache, std::string_view graph, unsigned missing,
                     const std::vector<redis::reply>& names, const redis::reply& reply);

/// query -> (schema refresh ->) result, over a redis_client's async pool.
struct graph_query_op {
    redis_client redis;
    std::shared_ptr<schema_cache> cache;
    std::string graph;
    redis::request request;
    std::optional<redis::reply> kept{};
    unsigned missing{0};

    template <class Self>
    void operator()(Self& self) {
        auto r = std::move(request);
        auto client = redis;
        client.async_command(std::move(r), std::move(self));
    }

    template <class Self>
    void operator()(Self& self, boost::system::error_code ec, redis::reply reply) {
        // query_failed carries the server's error reply, which decodes to a failure.
        if (ec && ec != errc::query_failed) return self.complete(ec, result::failure(ec.message()));
        query_step step = on_reply(*cache, graph, reply);
        if (step.done) return self.complete(step.ec, std::move(*step.done));
        kept = std::move(reply);
        missing = step.missing;
        auto client = redis;
        client.async_pipeline(schema_request(graph, missing), std::move(self));
    }

    template <class Self>
    void operator()(Self& self, boost::system::error_code ec, std::vector<redis::reply> names) {
        if (ec) return self.complete(ec, result::failure(ec.message()));
        query_step step = on_schema(*cache, graph, missing, names, *kept);
        self.complete(step.ec, std::move(*step.done));
    }
};

}  // namespace detail
}  // namespace falkordb

class graph_client {
public:
    using pools_type = redis_client::pools_type;
    using query_signature = void(boost::system::error_code, falkordb::result);
    /// get_client<graph_client> accepts falkordb:// databases only.
    static constexpr backend backend_kind = backend::falkordb;

    /// An empty client; every call throws until one is assigned.
    graph_client() = default;
    /// A client of `pools`, sharing its schema cache with every other graph_client of them.
    explicit graph_client(std::shared_ptr<pools_type> pools);

    /// GRAPH.QUERY. Throws query_error with the server's message on a server-side error.
    falkordb::result query(std::string_view graph, std::string_view cypher,
                           const falkordb::params& parameters = {},
                           const falkordb::query_options& options = {});
    /// GRAPH.RO_QUERY: the server refuses writes.
    falkordb::result ro_query(std::string_view graph, std::string_view cypher,
                              const falkordb::params& parameters = {},
                              const falkordb::query_options& options = {});

    /// Completes with `(error_code, result)`; see the class comment for errors.
    template <boost::asio::completion_token_for<query_signature> Token = boost::asio::deferred_t>
    auto async_query(std::string_view graph, std::string_view cypher,
                     const falkordb::params& parameters = {},
                     const falkordb::query_options& options = {}, Token&& token = {}) {
        return async_run(graph, {std::string(cypher), parameters, options, false},
                         std::forward<Token>(token));
    }
    template <boost::asio::completion_token_for<query_signature> Token = boost::asio::deferred_t>
    auto async_ro_query(std::string_view graph, std::string_view cypher,
                        const falkordb::params& parameters = {},
                        const falkordb::query_options& options = {}, Token&& token = {}) {
        return async_run(graph, {std::string(cypher), parameters, options, true},
                         std::forward<Token>(token));
    }

    /// Every query in one round trip on one connection; results in order. A query the
    /// server refuses comes back in place as a failed result (`ok()` false) and does not
    /// disturb the others.
    std::vector<falkordb::result> pipeline(std::string_view graph,
                                           const std::vector<falkordb::graph_query>& queries);

    /// GRAPH.DELETE, and forgets the graph's cached schema. Throws query_error when the
    /// server refuses (no such graph).
    void delete_graph(std::string_view graph);
    /// GRAPH.LIST.
    std::vector<std::string> list_graphs();
    /// GRAPH.EXPLAIN: the execution plan, one line per operation.
    std::vector<std::string> explain(std::string_view graph, std::string_view cypher,
                                     const falkordb::params& parameters = {});
    /// GRAPH.PROFILE: runs the query and returns the plan with records and time per operation.
    std::vector<std::string> profile(std::string_view graph, std::string_view cypher,
                                     const falkordb::params& parameters = {});

    /// The Redis-protocol client over the same pools (same connections, same stats).
    const redis_client& redis() const noexcept { return redis_; }
    const std::shared_ptr<pools_type>& pools_ptr() const noexcept { return redis_.pools_ptr(); }

private:
    template <class Token>
    auto async_run(std::string_view graph, const falkordb::graph_query& q, Token&& token) {
        auto req = falkordb::detail::make_query_request(graph, q);  // refuses bad params now
        const redis_client& r = checked();
        auto ex = r.pools_ptr()->async()->get_executor();
        return boost::asio::async_compose<Token, query_signature>(
            falkordb::detail::graph_query_op{r, cache_, std::string(graph), std::move(req)}, token,
            ex);
    }
    falkordb::result run(std::string_view graph, const falkordb::graph_query& q);
    std::vector<std::string> lines(std::string_view command, std::string_view graph,
                                   std::string_view cypher, const falkordb::params& parameters);
    const redis_client& checked() const;

    redis_client redis_;
    std::shared_ptr<falkordb::schema_cache> cache_;
};

}  // namespace connmgr
