// The follow-the-master machines (DESIGN §12, Redis Sentinel) as scripts: each input, then the
// exact action expected.
#include "sentinel_fsm.hpp"

#include <gtest/gtest.h>

namespace connmgr::redis::detail {
namespace {

const std::vector<sentinel_address> sentinels{
    {"127.0.0.1", 26379}, {"127.0.0.1", 26380}, {"127.0.0.1", 26381}};
const server_address m1{"127.0.0.1", 6380};
const server_address m2{"127.0.0.1", 6381};
const server_address r3{"127.0.0.1", 6382};

parsed<server_address> says(server_address a) { return {a, {}}; }
parsed<server_address> fails(std::string e) { return {std::nullopt, std::move(e)}; }
parsed<role_info> role_master() { return {role_info{role_info::kind::master, {}, {}}, {}}; }
parsed<role_info> role_replica_of(server_address m) {
    return {role_info{role_info::kind::replica, m, "connected"}, {}};
}
parsed<std::vector<replica_info>> replicas(std::vector<replica_info> list) {
    return {std::move(list), {}};
}

TEST(SentinelDiscovery, AsksTheFirstSentinelThenChecksRole) {
    discovery d(sentinels, "mymaster", false, std::nullopt, 0);
    EXPECT_EQ(d.start(), discovery_action(ask_sentinel{0, sentinel_query::master_addr}));
    EXPECT_EQ(d.on_master_addr(says(m1)), discovery_action(connect_to{m1}));
    EXPECT_EQ(d.named_master(), m1);
    EXPECT_EQ(d.on_role(role_master()),
              discovery_action(use_connection{m1, server_state::primary}));
    EXPECT_EQ(d.facts(), (std::vector<learned>{{m1, server_state::primary}}));
}

TEST(SentinelDiscovery, KnownMasterSkipsTheSentinels) {
    discovery d(sentinels, "mymaster", false, m1, 0);
    EXPECT_EQ(d.start(), discovery_action(connect_to{m1}));
    EXPECT_EQ(d.on_role(role_master()),
              discovery_action(use_connection{m1, server_state::primary}));
}

TEST(SentinelDiscovery, NextSentinelOnFailureAndEveryOneNamedWhenAllFail) {
    discovery d(sentinels, "mymaster", false, std::nullopt, 0);
    EXPECT_EQ(d.start(), discovery_action(ask_sentinel{0, sentinel_query::master_addr}));
    EXPECT_EQ(d.on_sentinel_failed("Connection refused"),
              discovery_action(ask_sentinel{1, sentinel_query::master_addr}));
    EXPECT_EQ(d.on_master_addr(fails("NOAUTH Authentication required.")),
              discovery_action(ask_sentinel{2, sentinel_query::master_addr}));
    EXPECT_EQ(d.on_sentinel_failed("timed out after 1000 ms"),
              discovery_action(give_up{
                  "no sentinel gave the master of service 'mymaster' (tried 127.0.0.1:26379: "
                  "Connection refused; 127.0.0.1:26380: NOAUTH Authentication required.; "
                  "127.0.0.1:26381: timed out after 1000 ms)"}));
}

TEST(SentinelDiscovery, UnknownServiceIsTheSentinelsAnswer) {
    discovery d({sentinels[0]}, "nosuch", false, std::nullopt, 0);
    d.start();
    EXPECT_EQ(d.on_master_addr(fails("does not know the service 'nosuch'")),
              discovery_action(give_up{"no sentinel gave the master of service 'nosuch' (tried "
                                       "127.0.0.1:26379: does not know the service 'nosuch')"}));
}

TEST(SentinelDiscovery, KnownMasterUnreachableAsksTheSentinels) {
    discovery d(sentinels, "mymaster", false, m1, 0);
    EXPECT_EQ(d.start(), discovery_action(connect_to{m1}));
    EXPECT_EQ(d.on_connect_failed("Connection refused"),
              discovery_action(ask_sentinel{0, sentinel_query::master_addr}));
    EXPECT_EQ(d.on_master_addr(says(m2)), discovery_action(connect_to{m2}));
    EXPECT_EQ(d.on_role(role_master()),
              discovery_action(use_connection{m2, server_state::primary}));
    EXPECT_EQ(d.facts(),
              (std::vector<learned>{{m1, server_state::down}, {m2, server_state::primary}}));
}

TEST(SentinelDiscovery, NamedMasterUnreachableGivesUpNamingIt) {
    discovery d(sentinels, "mymaster", false, std::nullopt, 0);
    d.start();
    d.on_sentinel_failed("Connection refused");
    d.on_master_addr(says(m1));
    EXPECT_EQ(d.on_connect_failed("Connection refused"),
              discovery_action(give_up{"127.0.0.1:6380 (named by sentinel 127.0.0.1:26380 for "
                                       "service 'mymaster'): Connection refused"}));
}

TEST(SentinelDiscovery, RoleReplicaAsksAgainOnceThenGivesUp) {
    discovery d(sentinels, "mymaster", false, m1, 0);
    EXPECT_EQ(d.start(), discovery_action(connect_to{m1}));
    // The old master came back as a replica: ask who the master is now.
    EXPECT_EQ(d.on_role(role_replica_of(m2)),
              discovery_action(ask_sentinel{0, sentinel_query::master_addr}));
    // The sentinel has not seen the switch yet and names it again.
    EXPECT_EQ(d.on_master_addr(says(m1)), discovery_action(connect_to{m1}));
    EXPECT_EQ(d.on_role(role_replica_of(m2)),
              discovery_action(give_up{"127.0.0.1:6380 is a replica (ROLE), although sentinel "
                                       "127.0.0.1:26379 names it the master of 'mymaster': a "
                                       "failover is in progress"}));
    EXPECT_EQ(d.facts(),
              (std::vector<learned>{{m1, server_state::standby}, {m1, server_state::standby}}));
}

TEST(SentinelDiscovery, RoleErrorGivesUp) {
    discovery d(sentinels, "mymaster", false, m1, 0);
    d.start();
    EXPECT_EQ(d.on_role({std::nullopt, "LOADING Valkey is loading the dataset in memory"}),
              discovery_action(give_up{
                  "127.0.0.1:6380: ROLE: LOADING Valkey is loading the dataset in memory"}));
}

TEST(SentinelDiscovery, ReplicasRoundRobinOverUsableOnes) {
    const std::vector<replica_info> list{
        {m2, {"slave"}}, {r3, {"slave"}}, {{"127.0.0.1", 6383}, {"slave", "s_down"}}};
    for (std::size_t spread : {0u, 1u, 2u}) {
        discovery d(sentinels, "mymaster", true, m1, spread);
        EXPECT_EQ(d.start(), discovery_action(ask_sentinel{0, sentinel_query::replicas}));
        const auto want = spread % 2 == 0 ? m2 : r3;
        EXPECT_EQ(d.on_replicas(replicas(list)), discovery_action(connect_to{want}));
        EXPECT_EQ(d.on_role(role_replica_of(m1)),
                  discovery_action(use_connection{want, server_state::standby}));
        EXPECT_EQ(d.facts().front(), (learned{{"127.0.0.1", 6383}, server_state::down}));
    }
}

TEST(SentinelDiscovery, ReplicasNoneUsableFallsBackToTheMaster) {
    discovery d(sentinels, "mymaster", true, std::nullopt, 0);
    d.start();
    EXPECT_EQ(d.on_replicas(replicas({{m2, {"slave", "disconnected"}}})),
              discovery_action(ask_sentinel{0, sentinel_query::master_addr}));
    EXPECT_EQ(d.on_master_addr(says(m1)), discovery_action(connect_to{m1}));
    EXPECT_EQ(d.on_role(role_master()),
              discovery_action(use_connection{m1, server_state::primary}));
}

TEST(SentinelDiscovery, NoSentinels) {
    discovery d({}, "m", false, std::nullopt, 0);
    EXPECT_TRUE(std::holds_alternative<give_up>(d.start()));
}

TEST(SentinelServiceView, SwitchMasterRetiresTheOldOne) {
    service_view v("mymaster");
    v.on_master(m1);
    EXPECT_EQ(v.on_switch_master({"other", m1, m2}), std::vector<learned>{});
    EXPECT_EQ(v.master(), m1);
    EXPECT_EQ(v.on_switch_master({"mymaster", m1, m2}),
              (std::vector<learned>{{m1, server_state::standby}, {m2, server_state::primary}}));
    EXPECT_EQ(v.master(), m2);
    EXPECT_EQ(v.failovers(), 1u);
    v.on_switch_master({"mymaster", m1, m2});  // heard twice: counted once
    EXPECT_EQ(v.failovers(), 1u);
}

TEST(SentinelServiceView, ReadOnlyReplyForgetsTheMaster) {
    service_view v("mymaster");
    v.on_master(m1);
    EXPECT_EQ(v.on_not_master(m2), (std::vector<learned>{{m2, server_state::standby}}));
    EXPECT_EQ(v.master(), m1);
    EXPECT_EQ(v.on_not_master(m1), (std::vector<learned>{{m1, server_state::standby}}));
    EXPECT_EQ(v.master(), std::nullopt);
    v.on_master(m2);
    v.forget(m2);
    EXPECT_EQ(v.master(), std::nullopt);
    EXPECT_EQ(v.next_spread(), 0u);
    EXPECT_EQ(v.next_spread(), 1u);
}

}  // namespace
}  // namespace connmgr::redis::detail
