// graph_client against a real FalkorDB (CONNMGR_TEST_FALKORDB_URL from scripts/services.sh;
// skipped, saying why, when the server could not be installed).
#include "manager_support.hpp"

#include <connmgr/falkordb/graph_client.hpp>
#include <connmgr/health.hpp>
#include <connmgr/manager.hpp>
#include <connmgr/manager_stats.hpp>
#include <connmgr/redis/redis_client.hpp>
#include <connmgr/redis/sync_driver.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <thread>

namespace asio = boost::asio;
namespace fdb = connmgr::falkordb;
using connmgr::errc;
using connmgr::graph_client;
using connmgr::test::database;
using connmgr::test::unique_name;
using namespace std::chrono_literals;
using namespace std::string_literals;

namespace {

std::string skip_reason() {
    const auto why = connmgr::test::env("CONNMGR_TEST_FALKORDB_UNAVAILABLE");
    return "CONNMGR_TEST_FALKORDB_URL is not set: " +
           why.value_or("start scripts/services.sh and eval \"$(scripts/services.sh env)\"");
}

#define FALKORDB_URL_OR_SKIP(var)                                           \
    const auto var##_opt = connmgr::test::env("CONNMGR_TEST_FALKORDB_URL"); \
    if (!var##_opt) GTEST_SKIP() << skip_reason();                          \
    const std::string var = *var##_opt

connmgr::manager_config config_of(std::initializer_list<connmgr::database_config> dbs) {
    connmgr::manager_config c;
    for (const auto& db : dbs) c.databases.emplace(db.name, db);
    return c;
}

/// A manager with one falkordb database `name` (pools of `max_size`) and a fresh graph name.
struct graph_fixture {
    explicit graph_fixture(const std::string& url, std::size_t max_size = 4)
        : name(unique_name("graph")), graph(unique_name("g")) {
        m.configure(config_of({database(name, url, max_size)}));
        client = m.get_client<graph_client>(name);
    }
    ~graph_fixture() {
        try {
            client.delete_graph(graph);
        } catch (const std::exception&) {  // a test that never created it
        }
        m.close_all();
    }
    connmgr::manager m;
    std::string name;
    std::string graph;
    graph_client client;
};

std::string error_of(const std::function<void()>& f) {
    try {
        f();
    } catch (const connmgr::query_error& e) {
        EXPECT_EQ(e.code(), errc::query_failed);
        return e.what();
    }
    return "(no query_error)";
}

/// A connection of our own, not from any pool: "another process".
std::unique_ptr<connmgr::redis::sync_connection> outsider(const std::string& url) {
    connmgr::redis::sync_driver d(connmgr::db_url::parse(url).redis(), "outsider", {});
    auto out = d.connect(std::chrono::steady_clock::now() + 5s);
    if (!out.connection) throw std::runtime_error(out.message);
    return std::move(out.connection);
}

std::size_t clients_named(connmgr::redis::sync_connection& c, const std::string& name) {
    const std::string list = c.command({"CLIENT", "LIST"}).str();
    const std::string needle = " name=" + name + " ";
    std::size_t n = 0;
    for (auto pos = list.find(needle); pos != std::string::npos; pos = list.find(needle, pos + 1))
        ++n;
    return n;
}

using std::chrono::sys_days;
using namespace std::chrono;

}  // namespace

TEST(GraphClient, SocialGraphRoundTripsEveryValueType) {
    FALKORDB_URL_OR_SKIP(url);
    graph_fixture f(url);
    const std::vector<std::string> names{"Ada \"the first\"", "B\\ob", "Chloé\nline two $x",
                                         "Dan' }) MATCH (n) DETACH DELETE n //"};
    // Four people in a chain: three hops.
    for (std::size_t i = 0; i < names.size(); ++i) {
        const fdb::params p{{"name", names[i]},
                            {"age", static_cast<int>(30 + i)},
                            {"score", 0.25 * static_cast<double>(i + 1)},
                            {"tags", fdb::array{"t" + std::to_string(i), "common"}},
                            {"lat", 51.5 + static_cast<double>(i)},
                            {"lon", -0.125},
                            {"emb", fdb::array{1.0, 2.5, -0.125}},
                            {"born", "1990-05-17"},
                            {"seen", "2024-01-02T03:04:05"},
                            {"wake", "07:30:15"},
                            {"tenure", "P1DT2H"}};
        const auto r = f.client.query(
            f.graph,
            "CREATE (p:Person:Admin {name: $name, age: $age, score: $score, tags: $tags, "
            "home: point({latitude: $lat, longitude: $lon}), emb: vecf32($emb), born: "
            "date($born), seen: localdatetime($seen), wake: localtime($wake), tenure: "
            "duration($tenure)})",
            p);
        EXPECT_EQ(r.stats().nodes_created, 1);
        EXPECT_EQ(r.stats().properties_set, 10);
    }
    for (std::size_t i = 0; i + 1 < names.size(); ++i) {
        const auto r = f.client.query(f.graph,
                                      "MATCH (a:Person {name: $a}), (b:Person {name: $b}) "
                                      "CREATE (a)-[:KNOWS {since: $since, weight: $w}]->(b)",
                                      {{"a", names[i]},
                                       {"b", names[i + 1]},
                                       {"since", 2020 + static_cast<int>(i)},
                                       {"w", 0.5}});
        EXPECT_EQ(r.stats().relationships_created, 1);
    }

    const auto r = f.client.ro_query(
        f.graph,
        "MATCH p = (a:Person {name: $first})-[:KNOWS*3]->(d:Person) "
        "RETURN p, a, d.name, {n: a.name, list: [1, 2.5, null, true]}, null, a.missing",
        {{"first", names[0]}});
    ASSERT_EQ(r.size(), 1U);
    ASSERT_EQ(r.columns().size(), 6U);
    EXPECT_EQ(r.columns()[2], "d.name");
    const fdb::path& p = r[0][0].as_path();
    ASSERT_EQ(p.nodes.size(), 4U);
    ASSERT_EQ(p.edges.size(), 3U);
    for (std::size_t i = 0; i < names.size(); ++i) {
        const fdb::node& n = p.nodes[i];
        SCOPED_TRACE(names[i]);
        EXPECT_EQ(n.labels, (std::vector<std::string>{"Person", "Admin"}));
        const auto& props = n.properties;
        EXPECT_EQ(props.size(), 10U);
        EXPECT_EQ(props.at("name").as_string(), names[i]);
        EXPECT_EQ(props.at("age").as_integer(), static_cast<std::int64_t>(30 + i));
        EXPECT_EQ(props.at("score").as_double(), 0.25 * static_cast<double>(i + 1));
        EXPECT_EQ(props.at("tags"), fdb::value(fdb::array{"t" + std::to_string(i), "common"}));
        EXPECT_EQ(props.at("home").as_point(), (fdb::point{51.5 + static_cast<double>(i), -0.125}));
        EXPECT_EQ(props.at("emb").as_vectorf32(), (fdb::vectorf32{1.0F, 2.5F, -0.125F}));
        EXPECT_EQ(props.at("born").as_date().value, sys_days(1990y / May / 17));
        EXPECT_EQ(props.at("seen").as_datetime().value,
                  sys_days(2024y / January / 2) + 3h + 4min + 5s);
        EXPECT_EQ(props.at("wake").as_time().since_midnight, 7h + 30min + 15s);
        EXPECT_EQ(props.at("tenure").as_duration().value, 26h);
    }
    for (std::size_t i = 0; i < p.edges.size(); ++i) {
        const fdb::edge& e = p.edges[i];
        EXPECT_EQ(e.type, "KNOWS");
        EXPECT_EQ(e.source, p.nodes[i].id);
        EXPECT_EQ(e.destination, p.nodes[i + 1].id);
        EXPECT_EQ(e.properties, (fdb::map{{"since", 2020 + static_cast<int>(i)}, {"weight", 0.5}}));
    }
    EXPECT_EQ(r[0][1].as_node(), p.nodes[0]);
    EXPECT_EQ(r[0][2].as_string(), names[3]);
    const fdb::map& m = r[0][3].as_map();
    EXPECT_EQ(m.at("n").as_string(), names[0]);
    EXPECT_EQ(m.at("list"), fdb::value(fdb::array{1, 2.5, nullptr, true}));
    EXPECT_TRUE(r[0][4].is_null());
    EXPECT_TRUE(r[0][5].is_null());
}

TEST(GraphClient, HostileParametersRoundTripAsData) {
    FALKORDB_URL_OR_SKIP(url);
    graph_fixture f(url);
    const std::vector<std::string> hostile{"quote \" inside",
                                           "back\\slash",
                                           "\\\"",
                                           "\\",
                                           "ends with \\",
                                           "new\nline\r\ttab",
                                           "$name $$",
                                           "ünïcödé ✓ 日本",
                                           "' OR 1=1 --",
                                           "\"}) MATCH (n) DETACH DELETE n RETURN 1 //",
                                           "",
                                           "CYPHER x=1"};
    for (const auto& s : hostile) {
        const auto r = f.client.query(f.graph, "RETURN $s, [$s], {k: $s}", {{"s", s}});
        ASSERT_EQ(r.size(), 1U) << s;
        EXPECT_EQ(r[0][0].as_string(), s);
        EXPECT_EQ(r[0][1], fdb::value(fdb::array{s}));
        EXPECT_EQ(r[0][2].as_map().at("k").as_string(), s);
    }
    const auto n = f.client.query(f.graph, "RETURN $big, $neg, $tiny, $e",
                                  {{"big", std::numeric_limits<std::int64_t>::max()},
                                   {"neg", -5},
                                   {"tiny", 1e-300},
                                   {"e", 1e300}});
    EXPECT_EQ(n[0][0].as_integer(), std::numeric_limits<std::int64_t>::max());
    EXPECT_EQ(n[0][1].as_integer(), -5);
    EXPECT_DOUBLE_EQ(n[0][2].as_double(), 1e-300);
    EXPECT_DOUBLE_EQ(n[0][3].as_double(), 1e300);
}

TEST(GraphClient, RefusedParametersAreNeverSent) {
    FALKORDB_URL_OR_SKIP(url);
    graph_fixture f(url);
    const auto refused = [](const std::function<void()>& fn) {
        try {
            fn();
        } catch (const connmgr::error& e) {
            return e.code() == errc::invalid_argument;
        }
        return false;
    };
    EXPECT_TRUE(refused([&] { f.client.query(f.graph, "CREATE ({s: $s})", {{"s", "a\0b"s}}); }));
    EXPECT_TRUE(refused([&] { f.client.query(f.graph, "CREATE ({s: $s})", {{"s s", 1}}); }));
    EXPECT_TRUE(refused([&] {
        auto op = f.client.async_query(f.graph, "CREATE ({s: $s})", {{"s", std::nan("")}});
    }));
    // Nothing reached the server: the graph was never created.
    const auto graphs = f.client.list_graphs();
    EXPECT_EQ(std::find(graphs.begin(), graphs.end(), f.graph), graphs.end());
}

TEST(GraphClient, SchemaCacheLearnsNamesAddedByAnotherConnection) {
    FALKORDB_URL_OR_SKIP(url);
    graph_fixture f(url, 2);
    f.client.query(f.graph, "CREATE (:First {a: 1})");
    EXPECT_EQ(f.client.query(f.graph, "MATCH (n:First) RETURN n")[0][0].as_node().labels,
              std::vector<std::string>{"First"});
    // Another connection adds labels, a relationship type and keys the cache has never seen.
    auto other = outsider(url);
    other->command({"GRAPH.QUERY", f.graph,
                    "CREATE (:Second:Third {b: 2, c: 'x'})-[:LINKS {d: 3}]->(:First {e: 4})"});
    const auto r = f.client.ro_query(f.graph, "MATCH (s:Second)-[l:LINKS]->(t) RETURN s, l, t");
    ASSERT_EQ(r.size(), 1U);
    EXPECT_EQ(r[0][0].as_node().labels, (std::vector<std::string>{"Second", "Third"}));
    EXPECT_EQ(r[0][0].as_node().properties, (fdb::map{{"b", 2}, {"c", "x"}}));
    EXPECT_EQ(r[0][1].as_edge().type, "LINKS");
    EXPECT_EQ(r[0][1].as_edge().properties, (fdb::map{{"d", 3}}));
    EXPECT_EQ(r[0][2].as_node().properties, (fdb::map{{"e", 4}}));

    // The async flavour shares the cache, and refreshes it too.
    other->command({"GRAPH.QUERY", f.graph, "CREATE (:Fourth {f: 5})"});
    auto fut =
        f.client.async_ro_query(f.graph, "MATCH (n:Fourth) RETURN n", {}, {}, asio::use_future);
    const auto a = fut.get();
    EXPECT_EQ(a[0][0].as_node().labels, std::vector<std::string>{"Fourth"});
    EXPECT_EQ(a[0][0].as_node().properties, (fdb::map{{"f", 5}}));

    // A second client of the same database resolves without having seen anything itself.
    auto second = f.m.get_client<graph_client>(f.name);
    EXPECT_EQ(second.ro_query(f.graph, "MATCH (n:Third) RETURN n")[0][0].as_node().labels,
              (std::vector<std::string>{"Second", "Third"}));

    // After GRAPH.DELETE the ids start over; the cache must not keep the old names.
    f.client.delete_graph(f.graph);
    f.client.query(f.graph, "CREATE (:Other {z: 1})");
    const auto fresh = f.client.ro_query(f.graph, "MATCH (n) RETURN n");
    EXPECT_EQ(fresh[0][0].as_node().labels, std::vector<std::string>{"Other"});
    EXPECT_EQ(fresh[0][0].as_node().properties, (fdb::map{{"z", 1}}));
}

TEST(GraphClient, ServerErrorsFailTheQueryAndKeepTheConnection) {
    FALKORDB_URL_OR_SKIP(url);
    graph_fixture f(url, 1);  // one connection per flavour: every query reuses it
    f.client.query(f.graph, "CREATE (:N {v: 1})");

    EXPECT_NE(error_of([&] {
                  f.client.ro_query(f.graph, "CREATE (:N)");
              }).find("is to be executed only on read-only queries"),
              std::string::npos);
    EXPECT_NE(error_of([&] { f.client.query(f.graph, "RETURN 1 +"); }).find("Invalid input"),
              std::string::npos);
    EXPECT_NE(error_of([&] {
                  f.client.query(f.graph, "MATCH (n:N) RETURN n.v / 0");
              }).find("Division by zero"),
              std::string::npos);
    // About 2 s without a limit here; a 1 ms limit stops it within milliseconds.
    const std::string slow =
        "UNWIND range(1, 3000) AS a UNWIND range(1, 3000) AS b WITH a, b "
        "WHERE (a * b) % 7 = 0 RETURN count(*)";
    EXPECT_NE(error_of([&] {
                  f.client.query(f.graph, slow, {}, {.timeout = 1ms});
              }).find("Query timed out"),
              std::string::npos);
    EXPECT_EQ(f.client.query(f.graph, "MATCH (n:N) RETURN n.v")[0][0].as_integer(), 1);

    // The same through the async pool.
    const auto async_fail = [&](const std::string& cypher, fdb::query_options o, bool ro) {
        std::promise<std::pair<boost::system::error_code, fdb::result>> done;
        auto handler = [&done](boost::system::error_code ec, fdb::result r) {
            done.set_value({ec, std::move(r)});
        };
        if (ro) {
            f.client.async_ro_query(f.graph, cypher, {}, o, handler);
        } else {
            f.client.async_query(f.graph, cypher, {}, o, handler);
        }
        auto [ec, r] = done.get_future().get();
        EXPECT_EQ(ec, errc::query_failed) << cypher;
        EXPECT_FALSE(r.ok());
        return r.error_message();
    };
    EXPECT_NE(async_fail("CREATE (:N)", {}, true).find("read-only"), std::string::npos);
    EXPECT_NE(async_fail("RETURN 1 +", {}, false).find("Invalid input"), std::string::npos);
    EXPECT_NE(async_fail("MATCH (n:N) RETURN n.v / 0", {}, false).find("Division by zero"),
              std::string::npos);
    EXPECT_NE(async_fail(slow, {.timeout = 1ms}, false).find("Query timed out"), std::string::npos);
    auto ok = f.client.async_ro_query(f.graph, "MATCH (n:N) RETURN n.v", {}, {}, asio::use_future);
    EXPECT_EQ(ok.get()[0][0].as_integer(), 1);

    // No connection was thrown away: each pool made exactly one.
    for (const auto& s : f.client.pools_ptr()->stats()) {
        EXPECT_EQ(s.created_total, 1U) << connmgr::to_string(s.flavour);
        EXPECT_EQ(s.closed_total, 0U) << connmgr::to_string(s.flavour);
    }
}

TEST(GraphClient, AsyncQueriesInACoroutine) {
    FALKORDB_URL_OR_SKIP(url);
    graph_fixture f(url);
    asio::io_context io;
    bool done = false;
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
            const fdb::params p{{"name", "Ada"}};
            auto create = f.client.async_query(f.graph, "CREATE (:Person {name: $name})", p);
            const fdb::result c = co_await std::move(create);
            EXPECT_EQ(c.stats().nodes_created, 1);
            auto read = f.client.async_ro_query(f.graph, "MATCH (p:Person) RETURN p", {}, {},
                                                asio::use_awaitable);
            const fdb::result r = co_await std::move(read);
            EXPECT_EQ(r[0][0].as_node().properties.at("name").as_string(), "Ada");
            auto bad = f.client.async_query(f.graph, "RETURN 1 +", {}, {}, asio::use_awaitable);
            try {
                co_await std::move(bad);
                ADD_FAILURE() << "no exception";
            } catch (const boost::system::system_error& e) {
                EXPECT_EQ(e.code(), errc::query_failed);
            }
            done = true;
        },
        asio::detached);
    io.run();
    EXPECT_TRUE(done);
}

TEST(GraphClient, FiftyConcurrentAsyncQueriesOnAPoolOfTwenty) {
    FALKORDB_URL_OR_SKIP(url);
    constexpr std::size_t max_size = 20;
    graph_fixture f(url, max_size);
    f.client.query(f.graph, "UNWIND range(1, 100) AS i CREATE (:P {i: i})");
    auto watch = outsider(url);
    const std::string client_name = "connmgr:" + f.name;

    std::atomic<bool> sampling{true};
    std::atomic<std::size_t> peak_clients{0}, peak_in_use{0};
    std::thread sampler([&] {
        while (sampling) {
            peak_clients = std::max(peak_clients.load(), clients_named(*watch, client_name));
            for (const auto& s : f.client.pools_ptr()->stats())
                if (s.flavour == connmgr::flavour::async)
                    peak_in_use = std::max(peak_in_use.load(), s.in_use);
        }
    });
    for (int round = 0; round < 3; ++round) {
        std::vector<std::future<fdb::result>> futures;
        for (int i = 0; i < 50; ++i)
            futures.push_back(f.client.async_ro_query(f.graph,
                                                      "MATCH (p:P) WHERE p.i <= $n RETURN count(p)",
                                                      {{"n", i + 1}}, {}, asio::use_future));
        for (int i = 0; i < 50; ++i)
            EXPECT_EQ(futures[static_cast<std::size_t>(i)].get()[0][0].as_integer(), i + 1);
    }
    sampling = false;
    sampler.join();
    EXPECT_LE(peak_in_use.load(), max_size);
    EXPECT_GE(peak_in_use.load(), 1U);
    // Only the async pool served these, plus the one sync connection of the setup query.
    EXPECT_LE(peak_clients.load(), max_size + 1);
    for (const auto& s : f.client.pools_ptr()->stats()) EXPECT_LE(s.open, max_size);
}

TEST(GraphClient, SharesOnePoolPairWithARedisClientOfTheSameUrl) {
    FALKORDB_URL_OR_SKIP(url);
    connmgr::manager m;
    const std::string a = unique_name("fa");
    const std::string b = unique_name("fb");  // another name, the same URL
    m.configure(config_of({database(a, url, 3), database(b, url, 3)}));
    auto graph = m.get_client<graph_client>(a);
    auto redis = m.get_client<connmgr::redis_client>(b);
    EXPECT_EQ(graph.pools_ptr(), redis.pools_ptr());
    EXPECT_EQ(m.get_client<graph_client>(b).pools_ptr(), redis.pools_ptr());

    // Both clients' traffic lands in the same two pools.
    const std::string g = unique_name("g");
    graph.query(g, "RETURN 1");
    redis.command({"PING"});
    EXPECT_EQ(redis.async_command({"PING"}, asio::use_future).get().str(), "PONG");
    EXPECT_EQ(graph.async_query(g, "RETURN 2", {}, {}, asio::use_future).get()[0][0].as_integer(),
              2);
    std::uint64_t acquired = 0;
    for (const auto& s : redis.pools_ptr()->stats()) acquired += s.acquired_total;
    EXPECT_EQ(acquired, 4U);
    graph.delete_graph(g);
    m.close_all();
}

TEST(GraphClient, GetClientOnANonFalkorDatabaseNamesBoth) {
    const auto redis_url = connmgr::test::env("CONNMGR_TEST_REDIS_URL");
    connmgr::manager m;
    const std::string name = unique_name("plainredis");
    m.configure(config_of({database(name, redis_url.value_or("redis://127.0.0.1:1/0"))}));
    try {
        (void)m.get_client<graph_client>(name);
        FAIL() << "no config_error";
    } catch (const connmgr::config_error& e) {
        const std::string what = e.what();
        EXPECT_NE(what.find(name), std::string::npos) << what;
        EXPECT_NE(what.find("redis"), std::string::npos) << what;
        EXPECT_NE(what.find("falkordb"), std::string::npos) << what;
    }
}

TEST(GraphClient, PipelineListDeleteExplainProfile) {
    FALKORDB_URL_OR_SKIP(url);
    graph_fixture f(url);
    const auto results = f.client.pipeline(f.graph, {{"CREATE (:Q {k: $k})", {{"k", 1}}},
                                                     {"RETURN 1 +"},
                                                     {"MATCH (q:Q) RETURN q.k, q", {}, {}, true},
                                                     {"CREATE (:Q)", {}, {}, true}});
    ASSERT_EQ(results.size(), 4U);
    EXPECT_TRUE(results[0].ok());
    EXPECT_EQ(results[0].stats().nodes_created, 1);
    EXPECT_FALSE(results[1].ok());
    EXPECT_NE(results[1].error_message().find("Invalid input"), std::string::npos);
    ASSERT_TRUE(results[2].ok()) << results[2].error_message();
    EXPECT_EQ(results[2][0][0].as_integer(), 1);
    EXPECT_EQ(results[2][0][1].as_node().labels, std::vector<std::string>{"Q"});
    EXPECT_FALSE(results[3].ok());

    const auto graphs = f.client.list_graphs();
    EXPECT_NE(std::find(graphs.begin(), graphs.end(), f.graph), graphs.end());
    const auto plan = f.client.explain(f.graph, "MATCH (q:Q {k: $k}) RETURN q", {{"k", 1}});
    ASSERT_FALSE(plan.empty());
    EXPECT_EQ(plan.front(), "Results");
    const auto profile = f.client.profile(f.graph, "MATCH (q:Q) RETURN q");
    ASSERT_FALSE(profile.empty());
    EXPECT_NE(profile.front().find("Records produced: 1"), std::string::npos) << profile.front();

    f.client.delete_graph(f.graph);
    // GRAPH.LIST drops the name once the server's last reference to the graph goes, which
    // can trail the reply to a query just before by a moment.
    EXPECT_TRUE(connmgr::test::eventually([&] {
        const auto after = f.client.list_graphs();
        return std::find(after.begin(), after.end(), f.graph) == after.end();
    }));
    EXPECT_NE(error_of([&] { f.client.delete_graph(f.graph); }).find(f.graph), std::string::npos);
}

TEST(GraphClient, StatsAndPrometheusShowTheGraphDatabase) {
    FALKORDB_URL_OR_SKIP(url);
    graph_fixture f(url, 5);
    f.client.query(f.graph, "RETURN 1");
    f.client.async_query(f.graph, "RETURN 1", {}, {}, asio::use_future).get();
    const connmgr::manager_stats s = f.m.stats();
    std::size_t pools = 0;
    for (const auto& p : s.pools) {
        if (p.databases != std::vector<std::string>{f.name}) continue;
        ++pools;
        EXPECT_EQ(p.backend, "falkordb");
        EXPECT_EQ(p.max_size, 5U);
        EXPECT_EQ(p.acquired_total, 1U) << connmgr::to_string(p.flavour);
    }
    EXPECT_EQ(pools, 2U);
    // What `connmgr check graph` reports.
    const connmgr::health h = f.m.health(std::vector<std::string>{f.name});
    EXPECT_TRUE(h.overall_healthy);
    ASSERT_EQ(h.databases.size(), 1U);
    const std::string metrics = connmgr::to_prometheus(s);
    for (const char* flavour : {"sync", "async"}) {
        const std::string labels = "database=\"" + f.name + "\",backend=\"falkordb\",flavour=\"" +
                                   flavour + "\",role=\"write\"";
        EXPECT_NE(metrics.find("connmgr_pool_max_size{" + labels + "} 5"), std::string::npos)
            << metrics;
        EXPECT_NE(metrics.find("connmgr_pool_acquire_total{" + labels + "} 1"), std::string::npos);
    }
}

TEST(GraphClient, AsyncFailureWithoutAServerCarriesItsCode) {
    connmgr::manager m;
    const std::string name = unique_name("nograph");
    auto db = database(name, "falkordb://127.0.0.1:1");  // nothing listens on port 1
    db.async_pool.connect_timeout = 1s;
    m.configure(config_of({db}));
    auto g = m.get_client<graph_client>(name);
    std::promise<std::pair<boost::system::error_code, fdb::result>> done;
    g.async_query("g", "RETURN 1", {}, {}, [&done](boost::system::error_code ec, fdb::result r) {
        done.set_value({ec, std::move(r)});
    });
    auto [ec, r] = done.get_future().get();
    EXPECT_TRUE(ec == errc::connect_failed || ec == errc::circuit_open) << ec.message();
    EXPECT_FALSE(r.ok());
    EXPECT_FALSE(r.error_message().empty());
    EXPECT_THROW(g.query("g", "RETURN 1"), connmgr::error);
}
