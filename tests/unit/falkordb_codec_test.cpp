// The compact-reply decoder, the parameter encoder and the schema cache, without a server:
// replies are the bytes FalkorDB 4.16 sent for these queries (captured with --compact).
#include <connmgr/error.hpp>
#include <connmgr/falkordb/decoder.hpp>
#include <connmgr/falkordb/params.hpp>
#include <connmgr/falkordb/schema_cache.hpp>
#include <connmgr/redis/reply_parser.hpp>

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <thread>

namespace fdb = connmgr::falkordb;
using connmgr::errc;
using connmgr::redis::reply;
using namespace std::string_literals;
using namespace std::chrono_literals;

namespace {

// A reply written in a compact notation: the RESP text is spelled out in the test.
reply parse(const std::string& wire) {
    connmgr::redis::reply_parser p;
    p.feed(wire.data(), wire.size());
    auto r = p.next();
    if (!r) throw std::runtime_error("incomplete test reply: " + p.error());
    return *r;
}

std::string bulk(std::string_view s) {
    return "$" + std::to_string(s.size()) + "\r\n" + std::string(s) + "\r\n";
}
std::string arr(std::size_t n) { return "*" + std::to_string(n) + "\r\n"; }
std::string num(long long n) { return ":" + std::to_string(n) + "\r\n"; }
std::string val(int type, const std::string& payload) { return arr(2) + num(type) + payload; }
std::string stats(std::initializer_list<std::string_view> lines) {
    std::string out = arr(lines.size());
    for (auto l : lines) out += bulk(l);
    return out;
}
std::string header(std::initializer_list<std::string_view> names) {
    std::string out = arr(names.size());
    for (auto n : names) out += arr(2) + num(1) + bulk(n);
    return out;
}

const fdb::schema_names social{{"Person", "Admin"}, {"KNOWS"}, {"name", "age", "w"}};

int error_code_of(const std::function<void()>& f) {
    try {
        f();
    } catch (const connmgr::error& e) {
        return e.code().value();
    }
    return 0;
}

std::string message_of(const std::function<void()>& f) {
    try {
        f();
    } catch (const std::exception& e) {
        return e.what();
    }
    return {};
}

}  // namespace

TEST(FalkorDecoder, ScalarsOfEveryType) {
    // RETURN null, 'x', 7, true, 1.5, [1,'a'], {a:1}, point(...), vecf32(...), temporal...
    const std::string wire =
        arr(3) + header({"n", "s", "i", "b", "d", "l", "m", "p", "v", "dt", "da", "t", "du"}) +
        arr(1) + arr(13) + val(1, "$-1\r\n") + val(2, bulk("x")) + val(3, num(-7)) +
        val(4, bulk("true")) + val(5, bulk("1.5")) +
        val(6, arr(2) + val(3, num(1)) + val(2, bulk("a"))) +
        val(10, arr(2) + bulk("a") + val(3, num(1))) +
        val(11, arr(2) + bulk("1.5") + bulk("2.25")) + val(12, arr(2) + bulk("1") + bulk("2.5")) +
        val(13, num(1704164645)) + val(14, num(1704153600)) + val(15, num(-2208977755)) +
        val(16, num(36907506)) +
        stats({"Cached execution: 1", "Query internal execution time: 0.58 milliseconds"});
    const auto d = fdb::decode_compact(parse(wire), {});
    ASSERT_TRUE(d.value);
    const fdb::result& r = *d.value;
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r.columns().size(), 13U);
    EXPECT_EQ(r.column("dt"), 9U);
    ASSERT_EQ(r.size(), 1U);
    const auto& row = r[0];
    EXPECT_TRUE(row[0].is_null());
    EXPECT_EQ(row[1].as_string(), "x");
    EXPECT_EQ(row[2].as_integer(), -7);
    EXPECT_TRUE(row[3].as_bool());
    EXPECT_EQ(row[4].as_double(), 1.5);
    EXPECT_EQ(row[5], fdb::value(fdb::array{1, "a"}));
    EXPECT_EQ(row[6].as_map().at("a").as_integer(), 1);
    EXPECT_EQ(row[7].as_point(), (fdb::point{1.5, 2.25}));
    EXPECT_EQ(row[8].as_vectorf32(), (fdb::vectorf32{1.0F, 2.5F}));
    using namespace std::chrono;
    EXPECT_EQ(row[9].as_datetime().value, sys_days(2024y / January / 2) + 3h + 4min + 5s);
    EXPECT_EQ(row[10].as_date().value, sys_days(2024y / January / 2));
    EXPECT_EQ(row[11].as_time().since_midnight, 3h + 4min + 5s);
    EXPECT_EQ(row[12].as_duration().value.count(), 36907506);
    EXPECT_TRUE(r.stats().cached_execution);
    EXPECT_DOUBLE_EQ(r.stats().execution_time.count(), 0.58);
    EXPECT_EQ(row[9].describe(), "localdatetime('2024-01-02T03:04:05')");
    EXPECT_EQ(row[11].describe(), "localtime('03:04:05')");
}

TEST(FalkorDecoder, NodesEdgesAndPathsResolveNames) {
    // (a:Person:Admin {name:'x', age:3})-[:KNOWS {w:2}]->(b:Person)
    const std::string node_a = arr(3) + num(0) + arr(2) + num(0) + num(1) + arr(2) + arr(3) +
                               num(0) + num(2) + bulk("x") + arr(3) + num(1) + num(3) + num(3);
    const std::string node_b = arr(3) + num(1) + arr(1) + num(0) + arr(0);
    const std::string rel =
        arr(5) + num(0) + num(0) + num(0) + num(1) + arr(1) + arr(3) + num(2) + num(3) + num(2);
    const std::string path =
        arr(2) + val(6, arr(2) + val(8, node_a) + val(8, node_b)) + val(6, arr(1) + val(7, rel));
    const std::string wire = arr(3) + header({"a", "r", "p"}) + arr(1) + arr(3) + val(8, node_a) +
                             val(7, rel) + val(9, path) +
                             stats({"Nodes created: 2", "Relationships created: 1",
                                    "Properties set: 3", "Labels added: 2"});
    const auto d = fdb::decode_compact(parse(wire), social);
    ASSERT_TRUE(d.value);
    EXPECT_EQ(d.missing, 0U);
    const auto& row = (*d.value)[0];
    const fdb::node& a = row[0].as_node();
    EXPECT_EQ(a.id, 0);
    EXPECT_EQ(a.labels, (std::vector<std::string>{"Person", "Admin"}));
    EXPECT_EQ(a.properties, (fdb::map{{"name", "x"}, {"age", 3}}));
    const fdb::edge& e = row[1].as_edge();
    EXPECT_EQ(e.type, "KNOWS");
    EXPECT_EQ(e.source, 0);
    EXPECT_EQ(e.destination, 1);
    EXPECT_EQ(e.properties.at("w").as_integer(), 2);
    const fdb::path& p = row[2].as_path();
    ASSERT_EQ(p.nodes.size(), 2U);
    ASSERT_EQ(p.edges.size(), 1U);
    EXPECT_EQ(p.nodes[0], a);
    EXPECT_EQ(p.edges[0], e);
    EXPECT_EQ(row[2].describe(), "(:Person:Admin {name: \"x\", age: 3})-[:KNOWS {w: 2}]-(:Person)");
    const auto& s = d.value->stats();
    EXPECT_EQ(s.nodes_created, 2);
    EXPECT_EQ(s.relationships_created, 1);
    EXPECT_EQ(s.properties_set, 3);
    EXPECT_EQ(s.labels_added, 2);
}

TEST(FalkorDecoder, UnknownIdsAskForARefreshOfThatPartOnly) {
    const std::string node =
        arr(3) + num(0) + arr(1) + num(5) + arr(1) + arr(3) + num(9) + num(3) + num(1);
    const std::string wire = arr(3) + header({"n"}) + arr(1) + arr(1) + val(8, node) + stats({});
    const auto d = fdb::decode_compact(parse(wire), social);
    EXPECT_FALSE(d.value);
    EXPECT_EQ(d.missing, fdb::schema_labels | fdb::schema_property_keys);
}

TEST(FalkorDecoder, ErrorsBecomeFailedResults) {
    const auto top = fdb::decode_compact(parse("-Query timed out\r\n"), {});
    ASSERT_TRUE(top.value);
    EXPECT_FALSE(top.value->ok());
    EXPECT_EQ(top.value->error_message(), "Query timed out");
    EXPECT_EQ(error_code_of([&] { top.value->check(); }), static_cast<int>(errc::query_failed));
    EXPECT_NE(message_of([&] { top.value->check(); }).find("Query timed out"), std::string::npos);
    // A runtime error after some rows arrives in place of the statistics.
    const auto late = fdb::decode_compact(
        parse(arr(3) + header({"x"}) + arr(1) + arr(1) + val(3, num(1)) + "-Division by zero\r\n"),
        {});
    ASSERT_TRUE(late.value);
    EXPECT_EQ(late.value->error_message(), "Division by zero");
}

TEST(FalkorDecoder, StatisticsOnlyReply) {
    const auto d = fdb::decode_compact(
        parse(arr(1) + stats({"Nodes deleted: 2", "Relationships deleted: 1", "Indices created: 1",
                              "Properties removed: 4", "Labels removed: 1", "Indices deleted: 3",
                              "Constraints created: 1", "Cached execution: 0",
                              "Query internal execution time: 0.25 milliseconds"})),
        {});
    ASSERT_TRUE(d.value);
    const auto& s = d.value->stats();
    EXPECT_EQ(s.nodes_deleted, 2);
    EXPECT_EQ(s.relationships_deleted, 1);
    EXPECT_EQ(s.indices_created, 1);
    EXPECT_EQ(s.indices_deleted, 3);
    EXPECT_EQ(s.properties_removed, 4);
    EXPECT_EQ(s.labels_removed, 1);
    EXPECT_FALSE(s.cached_execution);
    EXPECT_DOUBLE_EQ(s.execution_time.count(), 0.25);
    ASSERT_EQ(s.other.size(), 1U);
    EXPECT_EQ(s.other[0], (std::pair<std::string, std::string>{"Constraints created", "1"}));
    EXPECT_TRUE(d.value->empty());
}

TEST(FalkorDecoder, MalformedRepliesNameTheProblem) {
    const std::vector<std::pair<std::string, std::string>> cases{
        {num(3), "a reply as [header, rows, statistics]"},
        {arr(2) + arr(0) + arr(0), "a reply as [header, rows, statistics]"},
        {arr(3) + header({"x"}) + arr(1) + arr(1) + val(99, num(1)) + stats({}),
         "unknown value type code 99"},
        {arr(3) + header({"x"}) + arr(1) + arr(2) + val(3, num(1)) + val(3, num(1)) + stats({}),
         "a row of 1 values"},
        {arr(3) + header({"x"}) + arr(1) + arr(1) + val(3, bulk("1")) + stats({}), "an integer"},
        {arr(3) + header({"x"}) + arr(1) + arr(1) + val(5, bulk("1.5x")) + stats({}), "a double"},
        {arr(3) + header({"x"}) + arr(1) + arr(1) + val(4, bulk("yes")) + stats({}), "a boolean"},
        {arr(3) + header({"x"}) + arr(1) + arr(1) + val(8, arr(2) + num(1) + arr(0)) + stats({}),
         "a node as [id, labels, properties]"},
        {arr(3) + header({"x"}) + arr(1) + arr(1) + val(10, arr(1) + bulk("k")) + stats({}),
         "a map as [key, value, ...]"},
        {arr(1) + stats({"Nodes created: many"}), "statistics line 'Nodes created: many'"},
    };
    for (const auto& [wire, message] : cases) {
        const std::string what =
            message_of([&] { (void)fdb::decode_compact(parse(wire), social); });
        EXPECT_NE(what.find(message), std::string::npos)
            << testing::PrintToString(wire) << " gave: " << what;
    }
}

// Found by the falkordb_reply fuzz target: a reply naming a label the schema lacks was
// answered "refresh the schema" before its malformed statistics were seen, so the caller paid
// a refresh round trip to learn that the reply was malformed.
TEST(FalkorDecoder, MalformedStatisticsRefusedBeforeASchemaRefresh) {
    const std::string wire = arr(3) + header({"n"}) + arr(1) + arr(1) +
                             val(8, arr(3) + num(0) + arr(1) + num(7) + arr(0)) +
                             stats({"Nodes created: many"});
    EXPECT_EQ(error_code_of([&] { (void)fdb::decode_compact(parse(wire), {}); }),
              static_cast<int>(errc::query_failed));
}

TEST(FalkorDecoder, ProcedureNames) {
    const std::string wire = arr(3) + header({"label"}) + arr(2) + arr(1) + val(2, bulk("P")) +
                             arr(1) + val(2, bulk("Q")) + stats({});
    EXPECT_EQ(fdb::decode_procedure_names(parse(wire)), (std::vector<std::string>{"P", "Q"}));
}

TEST(FalkorParams, EncodesEveryLiteralKind) {
    const fdb::params p{{"n", nullptr},
                        {"t", true},
                        {"f", false},
                        {"i", -42},
                        {"big", std::numeric_limits<std::int64_t>::max()},
                        {"d", 0.1},
                        {"whole", 3.0},
                        {"tiny", 1e-300},
                        {"huge", 1e300},
                        {"s", "plain"},
                        {"l", fdb::array{1, "a", fdb::array{}}},
                        {"m", fdb::map{{"k", 1}, {"_x2", "v"}}}};
    EXPECT_EQ(fdb::encode_query("RETURN $n", p),
              "CYPHER n=null t=true f=false i=-42 big=9223372036854775807 d=0.1 whole=3.0 "
              "tiny=1e-300 huge=1e300 s=\"plain\" l=[1, \"a\", []] m={k: 1, _x2: \"v\"} RETURN $n");
    EXPECT_EQ(fdb::encode_query("RETURN 1", {}), "RETURN 1");
}

TEST(FalkorParams, HostileStringsAreQuotedAsData) {
    EXPECT_EQ(fdb::encode_literal("a\"b"), R"("a\"b")");
    EXPECT_EQ(fdb::encode_literal("back\\slash"), R"("back\\slash")");
    EXPECT_EQ(fdb::encode_literal("\\\""), R"("\\\"")");
    EXPECT_EQ(fdb::encode_literal("line\nbreak $x 'q' ü"), "\"line\nbreak $x 'q' ü\"");
    EXPECT_EQ(fdb::encode_literal("\" RETURN 1 //"), R"("\" RETURN 1 //")");
}

TEST(FalkorParams, RefusesWhatCannotBeSentSafely) {
    const auto code = static_cast<int>(errc::invalid_argument);
    const std::vector<std::pair<fdb::params, std::string>> cases{
        {{{"s", "a\0b"s}}, "NUL byte"},
        {{{"bad name", 1}}, "name 'bad name' is not an identifier"},
        {{{"1x", 1}}, "is not an identifier"},
        {{{"", 1}}, "is not an identifier"},
        {{{"n\0"s, 1}}, "<with NUL>"},
        {{{"d", std::nan("")}}, "is not a finite double"},
        {{{"d", std::numeric_limits<double>::infinity()}}, "is not a finite double"},
        {{{"l", fdb::array{1, -std::numeric_limits<double>::infinity()}}}, "not a finite double"},
        {{{"m", fdb::map{{"a b", 1}}}}, "map key 'a b' is not an identifier"},
        {{{"n", fdb::node{}}}, "a node cannot be sent as a parameter"},
        {{{"p", fdb::point{1, 2}}}, "a point cannot be sent"},
    };
    for (const auto& [p, message] : cases) {
        EXPECT_EQ(error_code_of([&] { (void)fdb::encode_query("RETURN 1", p); }), code) << message;
        const std::string what = message_of([&] { (void)fdb::encode_query("RETURN 1", p); });
        EXPECT_NE(what.find(message), std::string::npos) << what;
    }
    EXPECT_EQ(error_code_of([] { (void)fdb::encode_query("RETURN '\0'"s, {}); }), code);
}

TEST(FalkorSchemaCache, UpdatesPartsAndNeverShrinks) {
    fdb::schema_cache c;
    EXPECT_TRUE(c.get("g")->labels.empty());
    c.update("g", fdb::schema_labels, {{"A", "B"}, {"R"}, {"k"}});
    auto s = c.get("g");
    EXPECT_EQ(s->labels, (std::vector<std::string>{"A", "B"}));
    EXPECT_TRUE(s->relationship_types.empty());  // not a part that was refreshed
    c.update("g", fdb::schema_labels | fdb::schema_property_keys, {{"A"}, {}, {"k", "j"}});
    s = c.get("g");
    EXPECT_EQ(s->labels, (std::vector<std::string>{"A", "B"}));  // a stale, shorter list lost
    EXPECT_EQ(s->property_keys, (std::vector<std::string>{"k", "j"}));
    EXPECT_TRUE(c.get("other")->labels.empty());
    c.clear("g");
    EXPECT_TRUE(c.get("g")->labels.empty());
}

TEST(FalkorSchemaCache, ConcurrentReadersAndWriters) {
    fdb::schema_cache c;
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t)
        threads.emplace_back([&c, t] {
            for (int i = 0; i < 2000; ++i) {
                fdb::schema_names n;
                n.labels.assign(static_cast<std::size_t>(i % 50), "L");
                c.update("g", fdb::schema_labels, n);
                const auto s = c.get("g");
                ASSERT_TRUE(s);
                if (t == 0 && i % 100 == 0) c.clear("g");
            }
        });
    for (auto& th : threads) th.join();
    EXPECT_LE(c.get("g")->labels.size(), 49U);
}
