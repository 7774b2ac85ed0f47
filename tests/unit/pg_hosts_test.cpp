// The multi-host decisions of the PostgreSQL drivers (DESIGN §12), without a server: what a
// session's parameter statuses say of its server, which servers fit which target_session_attrs
// (libpq 15's rules), and the order hosts are tried in.
#include "hosts.hpp"

#include <gtest/gtest.h>

namespace connmgr::pg::detail {
namespace {

using s = server_state;

TEST(PgHosts, StateFromTheReportedParameterStatuses) {
    EXPECT_EQ(state_of("off", "off"), s::primary);
    EXPECT_EQ(state_of("on", "off"), s::standby);
    EXPECT_EQ(state_of("on", "on"), s::standby);  // a standby is read-only too: standby wins
    EXPECT_EQ(state_of("off", "on"), s::read_only);
    EXPECT_EQ(state_of(nullptr, nullptr), s::primary);  // a server before 14 reports neither
}

TEST(PgHosts, WhichServersFitEachTargetAsLibpq15Decides) {
    struct row {
        target t;
        bool primary, standby, read_only;
    };
    for (const auto& r :
         {row{target::any, true, true, true}, row{target::read_write, true, false, false},
          row{target::read_only, false, true, true},
          row{target::primary, true, false, true},  // libpq: not in hot standby
          row{target::standby, false, true, false},
          row{target::prefer_standby, true, true, true}}) {
        EXPECT_EQ(fits(r.t, s::primary), r.primary) << to_string(r.t);
        EXPECT_EQ(fits(r.t, s::standby), r.standby) << to_string(r.t);
        EXPECT_EQ(fits(r.t, s::read_only), r.read_only) << to_string(r.t);
        EXPECT_FALSE(fits(r.t, s::down));
        EXPECT_FALSE(fits(r.t, s::unknown));
    }
    // prefer-standby's first pass takes only a standby; the second takes any server.
    EXPECT_TRUE(fits(target::prefer_standby, s::standby, true));
    EXPECT_FALSE(fits(target::prefer_standby, s::primary, true));
}

TEST(PgHosts, TargetNamesRoundTrip) {
    for (auto t : {target::any, target::read_write, target::read_only, target::primary,
                   target::standby, target::prefer_standby})
        EXPECT_EQ(parse_target(to_string(t)), t);
    EXPECT_FALSE(parse_target("master").has_value());
}

TEST(PgHosts, RecentlyDownOrWrongKindGoLastOthersKeepTheirOrder) {
    const std::vector<host_view> hosts{{s::down, true},
                                       {s::standby, true},
                                       {s::unknown, false},
                                       {s::primary, true},
                                       {s::down, false}};
    // read-write: the down and the standby go last (in their order); a down learned longer
    // than hosts_recheck_interval ago is tried again in its place.
    EXPECT_EQ(order_hosts(hosts, target::read_write), (std::vector<std::size_t>{2, 3, 4, 0, 1}));
    EXPECT_EQ(order_hosts(hosts, target::standby), (std::vector<std::size_t>{1, 2, 4, 0, 3}));
    EXPECT_EQ(order_hosts(hosts, target::any), (std::vector<std::size_t>{1, 2, 3, 4, 0}));
}

TEST(PgHosts, APlanOnlyForSeveralHostsOrATarget) {
    const conn_params one{{"host", "h1"}, {"port", "5432"}};
    EXPECT_EQ(host_plan::of(one, std::chrono::seconds(10)), nullptr);
    const conn_params targeted{
        {"host", "h1"}, {"port", "5432"}, {"target_session_attrs", "read-write"}};
    ASSERT_NE(host_plan::of(targeted, std::chrono::seconds(10)), nullptr);
    const conn_params two{{"host", "h1,h2"},
                          {"port", "5432,5433"},
                          {"dbname", "db"},
                          {"target_session_attrs", "primary"},
                          {"load_balance_hosts", "disable"}};
    auto plan = host_plan::of(two, std::chrono::seconds(10));
    ASSERT_NE(plan, nullptr);
    EXPECT_EQ(plan->goal(), target::primary);
    ASSERT_EQ(plan->hosts().size(), 2u);
    EXPECT_EQ(plan->hosts()[1].name, "h2:5433");
    EXPECT_NE(plan->hosts()[0].id, plan->hosts()[1].id);
    // The same host:port is one server for every database naming it.
    EXPECT_EQ(plan->id_of("h2:5433"), host_plan::of(two, std::chrono::seconds(1))->hosts()[1].id);
    // Each host alone, without what connmgr handles itself.
    const auto p = plan->params_for(two, 1);
    EXPECT_EQ(p, (conn_params{{"host", "h2"}, {"port", "5433"}, {"dbname", "db"}}));
}

// Probing every host (connmgr check, GET /health): what a failed connect says of a server, and
// the database's verdict.
TEST(PgHosts, AProbedHostThatDidNotAnswerIsDownOneThatRefusedIsUnknown) {
    auto& table = connmgr::detail::server_table::instance();
    pg_host h;
    h.name = "probe-unit-host:5432";
    h.id = table.intern(h.name);
    server_health refused;
    probe_refused(h, refused,
                  "PostgreSQL connect to 'ha' failed: connection to server at \"x\", port 5432 "
                  "failed: FATAL:  password authentication failed for user \"u\"",
                  false);
    EXPECT_EQ(refused.server, h.name);
    EXPECT_EQ(refused.state, "unknown");
    EXPECT_FALSE(refused.healthy);
    // The database's name is the row's, not the server's: the prefix goes.
    EXPECT_EQ(refused.error.rfind("connection to server at", 0), 0u) << refused.error;
    EXPECT_EQ(table.get(h.id).state, s::unknown);  // a refusal says nothing of the server

    server_health down;
    probe_refused(h, down, "PostgreSQL connect to 'ha' failed: Connection refused", true);
    EXPECT_EQ(down.state, "down");
    EXPECT_EQ(down.error, "Connection refused");
    EXPECT_EQ(table.get(h.id).state, s::down);  // learned for every database naming it
}

TEST(PgHosts, AProbeFitsWhenOneServerFitsElseItSaysWhatEachIs) {
    hosts_probe p;
    p.servers = {{"h1:5432", "primary", true, ""},
                 {"h2:5432", "down", false, "Connection refused"},
                 {"h3:5432", "unknown", false, "FATAL:  password authentication failed\n"}};
    probe_verdict(target::read_write, "ha", {1, 0, 0}, p);
    EXPECT_TRUE(p.fits);
    EXPECT_TRUE(p.message.empty());

    probe_verdict(target::standby, "ha", {0, 0, 0}, p);
    EXPECT_FALSE(p.fits);
    EXPECT_EQ(p.message,
              "PostgreSQL 'ha': no server fits target_session_attrs=standby (h1:5432 is primary; "
              "h2:5432 is down; h3:5432: FATAL:  password authentication failed)");
}

// The rule the pools follow: retire a server of this database whose new state does not fit.
TEST(PgHosts, RetireRuleRefusesStatesThatDoNotFitAndOtherDatabasesServers) {
    EXPECT_FALSE(host_plan::retire_rule(nullptr));
    EXPECT_TRUE(host_plan::server_ids(nullptr).empty());
    const conn_params rw{
        {"host", "rr1,rr2"}, {"port", "1,2"}, {"target_session_attrs", "read-write"}};
    auto plan = host_plan::of(rw, std::chrono::seconds(10));
    const auto rule = host_plan::retire_rule(plan);
    ASSERT_TRUE(rule);
    const auto id = plan->id_of("rr2:2");
    EXPECT_EQ(host_plan::server_ids(plan), (std::vector<server_id>{plan->id_of("rr1:1"), id}));
    EXPECT_TRUE(rule(id, s::read_only));
    EXPECT_TRUE(rule(id, s::down));
    EXPECT_FALSE(rule(id, s::primary));
    const auto other = connmgr::detail::server_table::instance().intern("elsewhere:5432");
    EXPECT_FALSE(rule(other, s::down));  // not one of this database's servers
}

}  // namespace
}  // namespace connmgr::pg::detail
