// The pg-ha helpers of scripts/services.sh end to end (tests/support/pg_ha.hpp): the primary
// killed, a standby promoted, the old primary rejoined as a standby, then `reset`. Skips unless
// `scripts/services.sh start pg-ha` ran and `scripts/services.sh env` was evaluated.
#include "pg_ha.hpp"

#include <gtest/gtest.h>

namespace connmgr::test {
namespace {

::testing::AssertionResult done(const command_result& r) {
    if (r.ok) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << r.output;
}

TEST(PgHaTopology, KillPromoteRejoinReset) {
    if (!pg_ha_available())
        GTEST_SKIP() << "pg-ha is not running (scripts/services.sh start pg-ha)";
    EXPECT_NE(pg_ha_port(0), 0);
    EXPECT_NE(pg_ha_port(0), pg_ha_port(1));
    EXPECT_NE(pg_ha_port(1), pg_ha_port(2));

    ASSERT_TRUE(done(pg_ha("reset")));
    EXPECT_EQ(pg_ha_role(0), "primary");
    EXPECT_EQ(pg_ha_role(1), "standby");
    EXPECT_EQ(pg_ha_role(2), "standby");

    ASSERT_TRUE(done(pg_ha("kill", {"0"})));
    EXPECT_EQ(pg_ha_role(0), "down");
    ASSERT_TRUE(done(pg_ha("promote", {"1"})));
    EXPECT_EQ(pg_ha_role(1), "primary");
    EXPECT_EQ(pg_ha_role(2), "standby");
    const auto again = pg_ha("promote", {"1"});
    EXPECT_FALSE(again.ok);
    EXPECT_NE(again.output.find("not a standby"), std::string::npos) << again.output;

    ASSERT_TRUE(done(pg_ha("rejoin", {"0"})));
    EXPECT_EQ(pg_ha_role(0), "standby");
    ASSERT_TRUE(done(pg_ha("read-only", {"1", "on"})));

    ASSERT_TRUE(done(pg_ha("reset")));
    EXPECT_EQ(pg_ha_role(0), "primary");
    EXPECT_EQ(pg_ha_role(1), "standby");
    EXPECT_EQ(pg_ha_role(2), "standby");
}

}  // namespace
}  // namespace connmgr::test
