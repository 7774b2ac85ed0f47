#include <connmgr/falkordb/graph_client.hpp>

#include "text.hpp"

#include <array>
#include <map>
#include <mutex>

namespace connmgr {

namespace falkordb::detail {

namespace {

constexpr std::array<std::pair<unsigned, const char*>, 3> procedures{{
    {schema_labels, "CALL db.labels()"},
    {schema_relationship_types, "CALL db.relationshipTypes()"},
    {schema_property_keys, "CALL db.propertyKeys()"},
}};

query_step finished(result r) {
    query_step s;
    if (!r.ok()) s.ec = make_error_code(errc::query_failed);
    s.done = std::move(r);
    return s;
}

query_step failed(const std::exception& e) { return finished(result::failure(e.what())); }

}  // namespace

void push_query(redis::request& req, std::string_view graph, const graph_query& q) {
    if (graph.empty() || graph.find('\0') != std::string_view::npos)
        throw error(errc::invalid_argument, "falkordb graph name must be non-empty, without NUL");
    const std::string text = encode_query(q.cypher, q.parameters);
    const std::string_view command = q.read_only ? "GRAPH.RO_QUERY" : "GRAPH.QUERY";
    if (q.options.timeout.count() > 0) {
        const std::string ms = std::to_string(q.options.timeout.count());
        const std::string_view args[] = {command, graph, text, "--compact", "timeout", ms};
        req.push(std::span<const std::string_view>(args));
    } else {
        const std::string_view args[] = {command, graph, text, "--compact"};
        req.push(std::span<const std::string_view>(args));
    }
}

query_step on_reply(schema_cache& cache, std::string_view graph, const redis::reply& reply) {
    try {
        decoded d = decode_compact(reply, *cache.get(graph));
        if (d.value) return finished(std::move(*d.value));
        query_step s;
        s.missing = d.missing;
        return s;
    } catch (const std::exception& e) {
        return failed(e);
    }
}

redis::request schema_request(std::string_view graph, unsigned missing) {
    redis::request req;
    for (const auto& [part, call] : procedures) {
        if ((missing & part) == 0) continue;
        const std::string_view args[] = {"GRAPH.RO_QUERY", graph, call, "--compact"};
        req.push(std::span<const std::string_view>(args));
    }
    return req;
}

query_step on_schema(schema_cache& cache, std::string_view graph, unsigned missing,
                     const std::vector<redis::reply>& names, const redis::reply& reply) {
    try {
        schema_names fresh;
        std::size_t at = 0;
        for (const auto& [part, call] : procedures) {
            if ((missing & part) == 0) continue;
            if (at >= names.size())
                throw error(errc::query_failed, "falkordb schema refresh: too few replies");
            auto listed = decode_procedure_names(names[at++]);
            if (part == schema_labels) fresh.labels = std::move(listed);
            if (part == schema_relationship_types) fresh.relationship_types = std::move(listed);
            if (part == schema_property_keys) fresh.property_keys = std::move(listed);
        }
        cache.update(graph, missing, fresh);
        decoded d = decode_compact(reply, *cache.get(graph));
        if (d.value) return finished(std::move(*d.value));
        return finished(result::failure(
            cat("falkordb reply of graph '", graph,
                "' names a label, relationship type or property key id that the server's "
                "db.labels() / db.relationshipTypes() / db.propertyKeys() do not list")));
    } catch (const std::exception& e) {
        return failed(e);
    }
}

}  // namespace falkordb::detail

namespace {

// One schema cache per database pools, shared by every graph_client of them: the manager
// creates one pools object per URL, so this is one cache per database. A cache lives while a
// client holds it; each client also holds the pools, so an address is not reused meanwhile.
std::shared_ptr<falkordb::schema_cache> cache_for(const void* pools) {
    static std::mutex mutex;
    static std::map<const void*, std::weak_ptr<falkordb::schema_cache>> caches;
    std::lock_guard lock(mutex);
    std::erase_if(caches, [](const auto& entry) { return entry.second.expired(); });
    auto& slot = caches[pools];
    if (auto c = slot.lock()) return c;
    auto c = std::make_shared<falkordb::schema_cache>();
    slot = c;
    return c;
}

}  // namespace

graph_client::graph_client(std::shared_ptr<pools_type> pools)
    : redis_(pools), cache_(cache_for(pools.get())) {}

const redis_client& graph_client::checked() const {
    if (!redis_.pools_ptr())
        throw error(errc::invalid_config, "graph_client is empty (not from a manager)");
    return redis_;
}

falkordb::result graph_client::run(std::string_view graph, const falkordb::graph_query& q) {
    auto results = pipeline(graph, {q});
    results.front().check();
    return std::move(results.front());
}

falkordb::result graph_client::query(std::string_view graph, std::string_view cypher,
                                     const falkordb::params& parameters,
                                     const falkordb::query_options& options) {
    return run(graph, {std::string(cypher), parameters, options, false});
}

falkordb::result graph_client::ro_query(std::string_view graph, std::string_view cypher,
                                        const falkordb::params& parameters,
                                        const falkordb::query_options& options) {
    return run(graph, {std::string(cypher), parameters, options, true});
}

std::vector<falkordb::result> graph_client::pipeline(
    std::string_view graph, const std::vector<falkordb::graph_query>& queries) {
    redis::request req;
    for (const auto& q : queries) falkordb::detail::push_query(req, graph, q);
    if (queries.empty()) return {};
    auto client = checked();
    // Error replies come back in place: a refused query is a failed result, not a throw.
    const std::vector<redis::reply> replies = client.pipeline(req);
    std::vector<falkordb::result> out(replies.size());
    std::vector<std::size_t> waiting;
    unsigned missing = 0;
    for (std::size_t i = 0; i < replies.size(); ++i) {
        auto step = falkordb::detail::on_reply(*cache_, graph, replies[i]);
        if (step.done) {
            out[i] = std::move(*step.done);
        } else {
            waiting.push_back(i);
            missing |= step.missing;
        }
    }
    if (!waiting.empty()) {
        const auto names = client.pipeline(falkordb::detail::schema_request(graph, missing));
        for (const std::size_t i : waiting)
            out[i] = std::move(
                *falkordb::detail::on_schema(*cache_, graph, missing, names, replies[i]).done);
    }
    return out;
}

void graph_client::delete_graph(std::string_view graph) {
    auto client = checked();
    cache_->clear(graph);
    try {
        client.command({"GRAPH.DELETE", graph});
    } catch (const query_error& e) {
        throw query_error(e.server_code(),
                          falkordb::detail::cat("falkordb GRAPH.DELETE ", graph, ": ", e.what()));
    }
    cache_->clear(graph);  // also what a query racing the delete may have cached
}

std::vector<std::string> graph_client::list_graphs() {
    auto client = checked();
    const redis::reply r = client.command({"GRAPH.LIST"});
    std::vector<std::string> out;
    for (const auto& e : r.elements()) out.push_back(e.str());
    return out;
}

std::vector<std::string> graph_client::lines(std::string_view command, std::string_view graph,
                                             std::string_view cypher,
                                             const falkordb::params& parameters) {
    auto client = checked();
    const std::string text = falkordb::encode_query(cypher, parameters);
    const redis::reply r = client.command({command, graph, text});
    std::vector<std::string> out;
    for (const auto& e : r.elements()) out.push_back(e.str());
    return out;
}

std::vector<std::string> graph_client::explain(std::string_view graph, std::string_view cypher,
                                               const falkordb::params& parameters) {
    return lines("GRAPH.EXPLAIN", graph, cypher, parameters);
}

std::vector<std::string> graph_client::profile(std::string_view graph, std::string_view cypher,
                                               const falkordb::params& parameters) {
    return lines("GRAPH.PROFILE", graph, cypher, parameters);
}

}  // namespace connmgr
