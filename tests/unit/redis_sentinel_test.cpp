// The sentinel reply parser (DESIGN §12, Redis Sentinel): replies as valkey 8 sends them,
// written in RESP and read through the drivers' own reply_parser.
#include "sentinel_protocol.hpp"

#include <connmgr/redis/reply_parser.hpp>

#include <gtest/gtest.h>

namespace connmgr::redis::detail {
namespace {

reply resp(std::string_view bytes) {
    reply_parser p;
    p.feed(bytes.data(), bytes.size());
    auto r = p.next();
    EXPECT_TRUE(r.has_value()) << p.error();
    return r ? *r : reply{};
}

TEST(SentinelReply, MasterAddr) {
    auto a = parse_master_addr(resp("*2\r\n$9\r\n127.0.0.1\r\n$4\r\n6380\r\n"), "mymaster");
    ASSERT_TRUE(a) << a.error;
    EXPECT_EQ(*a.value, (server_address{"127.0.0.1", 6380}));
    EXPECT_EQ(a.value->name(), "127.0.0.1:6380");
    EXPECT_EQ((server_address{"::1", 7}).name(), "[::1]:7");
}

TEST(SentinelReply, MasterAddrUnknownServiceAndErrors) {
    auto nil = parse_master_addr(resp("*-1\r\n"), "nosuch");
    EXPECT_FALSE(nil);
    EXPECT_EQ(nil.error, "does not know the service 'nosuch'");
    auto err = parse_master_addr(resp("-NOAUTH Authentication required.\r\n"), "m");
    EXPECT_EQ(err.error, "NOAUTH Authentication required.");
    EXPECT_NE(parse_master_addr(resp("*1\r\n$1\r\nh\r\n"), "m").error.find("expected [host, port]"),
              std::string::npos);
    EXPECT_NE(parse_master_addr(resp("*2\r\n$1\r\nh\r\n$5\r\n70000\r\n"), "m").error.find("port"),
              std::string::npos);
    EXPECT_NE(parse_master_addr(resp("*2\r\n$0\r\n\r\n$2\r\n10\r\n"), "m").error.find("host"),
              std::string::npos);
    EXPECT_FALSE(parse_master_addr(resp(":5\r\n"), "m"));
}

// Found by the sentinel_reply fuzz target: an error reply without words ("-\r\n") made a
// refusal that said nothing.
TEST(SentinelReply, AnEmptyErrorReplyStillSaysWhy) {
    const auto empty = resp("-\r\n");
    EXPECT_EQ(parse_master_addr(empty, "m").error, "an empty error reply");
    EXPECT_EQ(parse_replicas(empty, "m").error, "an empty error reply");
    EXPECT_EQ(parse_role(empty).error, "an empty error reply");
    const auto event = parse_pubsub(empty);
    ASSERT_TRUE(std::holds_alternative<malformed>(event));
    EXPECT_EQ(std::get<malformed>(event).error, "an empty error reply");
}

// Two replicas as SENTINEL REPLICAS lists them (fields trimmed), the second one s_down.
constexpr std::string_view replicas_reply =
    "*3\r\n"
    "*8\r\n$4\r\nname\r\n$14\r\n127.0.0.1:6381\r\n$2\r\nip\r\n$9\r\n127.0.0.1\r\n"
    "$4\r\nport\r\n$4\r\n6381\r\n$5\r\nflags\r\n$5\r\nslave\r\n"
    "*8\r\n$4\r\nname\r\n$14\r\n127.0.0.1:6382\r\n$2\r\nip\r\n$9\r\n127.0.0.1\r\n"
    "$4\r\nport\r\n$4\r\n6382\r\n$5\r\nflags\r\n$23\r\ns_down,slave,disconnect\r\n"
    "*4\r\n$2\r\nip\r\n$1\r\nh\r\n$4\r\nport\r\n$1\r\nx\r\n";  // no valid port: skipped

TEST(SentinelReply, ReplicasWithFlags) {
    auto r = parse_replicas(resp(replicas_reply), "m");
    ASSERT_TRUE(r) << r.error;
    ASSERT_EQ(r.value->size(), 2u);
    const auto& a = (*r.value)[0];
    const auto& b = (*r.value)[1];
    EXPECT_EQ(a.address, (server_address{"127.0.0.1", 6381}));
    EXPECT_EQ(a.flags, std::vector<std::string>{"slave"});
    EXPECT_TRUE(a.usable());
    EXPECT_EQ(b.flags, (std::vector<std::string>{"s_down", "slave", "disconnect"}));
    EXPECT_FALSE(b.usable());
    EXPECT_FALSE((replica_info{{"h", 1}, {"slave", "disconnected"}}).usable());
    EXPECT_FALSE((replica_info{{"h", 1}, {"o_down"}}).usable());
    EXPECT_TRUE(parse_replicas(resp("*0\r\n"), "m").value->empty());
    EXPECT_EQ(parse_replicas(resp("-ERR No such master with that name\r\n"), "x").error,
              "ERR No such master with that name");
    EXPECT_FALSE(parse_replicas(resp("*1\r\n:1\r\n"), "m"));
}

TEST(SentinelReply, RoleOfMasterReplicaAndSentinel) {
    auto m =
        parse_role(resp("*3\r\n$6\r\nmaster\r\n:3129\r\n*1\r\n*3\r\n$9\r\n127.0.0.1\r\n"
                        "$4\r\n6381\r\n$4\r\n3129\r\n"));
    ASSERT_TRUE(m) << m.error;
    EXPECT_EQ(m.value->role, role_info::kind::master);
    auto s =
        parse_role(resp("*5\r\n$5\r\nslave\r\n$9\r\n127.0.0.1\r\n:6380\r\n"
                        "$9\r\nconnected\r\n:3129\r\n"));
    ASSERT_TRUE(s) << s.error;
    EXPECT_EQ(s.value->role, role_info::kind::replica);
    EXPECT_EQ(s.value->master, (server_address{"127.0.0.1", 6380}));
    EXPECT_EQ(s.value->link, "connected");
    auto t = parse_role(resp("*2\r\n$8\r\nsentinel\r\n*1\r\n$8\r\nmymaster\r\n"));
    EXPECT_EQ(t.value->role, role_info::kind::sentinel);
    EXPECT_EQ(parse_role(resp("*1\r\n$6\r\nleader\r\n")).error, "unknown role 'leader'");
    EXPECT_EQ(parse_role(resp("-LOADING loading the dataset\r\n")).error,
              "LOADING loading the dataset");
    EXPECT_FALSE(parse_role(resp("*0\r\n")));
    EXPECT_FALSE(parse_role(resp("*1\r\n:1\r\n")));
}

TEST(SentinelReply, SwitchMasterMessage) {
    auto e =
        parse_pubsub(resp("*3\r\n$7\r\nmessage\r\n$14\r\n+switch-master\r\n"
                          "$38\r\nmymaster 127.0.0.1 6380 127.0.0.1 6381\r\n"));
    ASSERT_TRUE(std::holds_alternative<switch_master>(e));
    EXPECT_EQ(std::get<switch_master>(e),
              (switch_master{"mymaster", {"127.0.0.1", 6380}, {"127.0.0.1", 6381}}));
    EXPECT_EQ(parse_pubsub(resp("*3\r\n$9\r\nsubscribe\r\n$14\r\n+switch-master\r\n:1\r\n")),
              pubsub_event(subscribed{"+switch-master", 1}));
    EXPECT_EQ(parse_pubsub(resp("*3\r\n$7\r\nmessage\r\n$6\r\n+sdown\r\n$3\r\nabc\r\n")),
              pubsub_event(other_message{"+sdown"}));
    EXPECT_TRUE(std::holds_alternative<malformed>(parse_pubsub(
        resp("*3\r\n$7\r\nmessage\r\n$14\r\n+switch-master\r\n$10\r\nmymaster 1\r\n"))));
    EXPECT_TRUE(std::holds_alternative<malformed>(parse_pubsub(resp("+OK\r\n"))));
    // The failover leader's +promoted-slave names the same switch, earlier.
    EXPECT_EQ(parse_pubsub(resp("*3\r\n$7\r\nmessage\r\n$15\r\n+promoted-slave\r\n"
                                "$61\r\nslave 127.0.0.1:6381 127.0.0.1 6381 @ mymaster 127.0.0.1 "
                                "6380\r\n")),
              pubsub_event(switch_master{"mymaster", {"127.0.0.1", 6380}, {"127.0.0.1", 6381}}));
    EXPECT_FALSE(parse_promoted("slave a 127.0.0.1 6381 mymaster 127.0.0.1 6380"));
    EXPECT_FALSE(parse_switch_master("m h 0 h2 1"));
    EXPECT_TRUE(parse_switch_master("  m h 1   h2 2 "));
}

}  // namespace
}  // namespace connmgr::redis::detail
