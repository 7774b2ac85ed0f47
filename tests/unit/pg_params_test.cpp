// Socket-free pieces of the PostgreSQL drivers: parameter conversion and connection settings.
#include <gtest/gtest.h>

#include <connmgr/pg/params.hpp>
#include <connmgr/pg/result.hpp>

#include "../../lib/src/pg/conninfo.hpp"

#include <cmath>
#include <limits>

namespace connmgr::pg {
namespace {

using namespace std::chrono_literals;

std::string value_of(const conn_params& p, const std::string& key) {
    for (const auto& [k, v] : p)
        if (k == key) return v;
    return "<unset>";
}

TEST(PgParams, ConvertsScalarsToText) {
    auto ps =
        make_params(41, -7LL, 2.5, std::string("txt"), "lit", std::string_view("sv"), true, 7u);
    ASSERT_EQ(ps.size(), 8u);
    EXPECT_EQ(*ps[0].value, "41");
    EXPECT_EQ(*ps[1].value, "-7");
    EXPECT_EQ(*ps[2].value, "2.5");
    EXPECT_EQ(*ps[3].value, "txt");
    EXPECT_EQ(*ps[4].value, "lit");
    EXPECT_EQ(*ps[5].value, "sv");
    EXPECT_EQ(*ps[6].value, "t");
    EXPECT_EQ(*ps[7].value, "7");
    for (const auto& p : ps) EXPECT_FALSE(p.binary);
}

TEST(PgParams, DoublesRoundTripAndSpecialValues) {
    double third = 1.0 / 3.0;
    EXPECT_EQ(std::stod(*to_param(third).value), third);
    EXPECT_EQ(*to_param(std::numeric_limits<double>::quiet_NaN()).value, "NaN");
    EXPECT_EQ(*to_param(-std::numeric_limits<double>::infinity()).value, "-Infinity");
}

TEST(PgParams, NullsAndOptionals) {
    EXPECT_FALSE(to_param(std::nullopt).value);
    EXPECT_FALSE(to_param(std::optional<int>{}).value);
    EXPECT_EQ(*to_param(std::optional<int>{5}).value, "5");
}

TEST(PgParams, ByteaIsBinaryAndKeepsZeroBytes) {
    std::vector<std::byte> raw{std::byte{0}, std::byte{'a'}, std::byte{0xff}};
    auto p = to_param(bytea(raw));
    EXPECT_TRUE(p.binary);
    EXPECT_EQ(p.value->size(), 3u);
    EXPECT_EQ((*p.value)[0], '\0');
    EXPECT_EQ(bytea(raw).bytes().size(), 3u);
}

TEST(PgParams, QueryWithBindsArguments) {
    auto q = query::with("SELECT $1::int, $2::text", 1, "x");
    EXPECT_EQ(q.sql, "SELECT $1::int, $2::text");
    ASSERT_EQ(q.params.size(), 2u);
    EXPECT_EQ(*q.params[1].value, "x");
}

TEST(PgConninfo, QuotesValues) {
    EXPECT_EQ(detail::to_conninfo({{"host", "h"}, {"password", "it's a \\ secret"}}),
              R"(host='h' password='it\'s a \\ secret')");
}

TEST(PgConninfo, AddsConnmgrDefaults) {
    pool_options o;
    o.query_timeout = 1500ms;
    o.keepalive = {.idle = 30s, .interval = 1500ms, .count = 4};
    auto p = detail::effective_params({{"host", "h"}}, "app", o, 3, true);
    EXPECT_EQ(value_of(p, "fallback_application_name"), "connmgr:app");
    EXPECT_EQ(value_of(p, "keepalives"), "1");
    EXPECT_EQ(value_of(p, "keepalives_idle"), "30");
    EXPECT_EQ(value_of(p, "keepalives_interval"), "2");
    EXPECT_EQ(value_of(p, "keepalives_count"), "4");
    EXPECT_EQ(value_of(p, "connect_timeout"), "3");
    EXPECT_EQ(value_of(p, "options"), "-c statement_timeout=1500");
}

TEST(PgConninfo, UrlSettingsWinAndPgbouncerGetsNoOptions) {
    pool_options o;
    o.query_timeout = 1s;
    auto p = detail::effective_params(
        {{"application_name", "mine"}, {"connect_timeout", "9"}, {"options", "-c x=1"}}, "app", o,
        3, true);
    EXPECT_EQ(value_of(p, "fallback_application_name"), "<unset>");
    EXPECT_EQ(value_of(p, "connect_timeout"), "9");
    EXPECT_EQ(value_of(p, "options"), "-c x=1 -c statement_timeout=1000");
    auto b = detail::effective_params({}, "app", o, 0, false);
    EXPECT_EQ(value_of(b, "options"), "<unset>");
    EXPECT_EQ(value_of(b, "connect_timeout"), "<unset>");
}

// Defect: a single-host URL with load_balance_hosts (no host plan) handed libpq 15 a parameter
// it refuses ("invalid connection option"), so every connect failed.
TEST(PgConninfo, LoadBalanceHostsNeverReachesLibpq) {
    auto p = detail::effective_params({{"host", "h"}, {"load_balance_hosts", "random"}}, "app",
                                      pool_options{}, 3, false);
    EXPECT_EQ(value_of(p, "load_balance_hosts"), "<unset>");
    EXPECT_EQ(value_of(p, "host"), "h");
}

TEST(PgResult, EmptyResultIsOkAndHasNoRows) {
    result r;
    EXPECT_TRUE(r.ok());
    EXPECT_EQ(r.size(), 0u);
    EXPECT_THROW((void)r[0], std::out_of_range);
    EXPECT_NO_THROW(r.check());
}

}  // namespace
}  // namespace connmgr::pg
