// The LRU bookkeeping of the async PostgreSQL statement cache, without a server.
#include <gtest/gtest.h>

#include "statement_cache.hpp"

#include <string>

namespace connmgr::pg::detail {
namespace {

TEST(StatementCache, ZeroCapacityIsDisabled) {
    statement_cache c(0);
    EXPECT_FALSE(c.enabled());
    EXPECT_EQ(c.find("SELECT 1"), nullptr);
}

TEST(StatementCache, FindsWhatWasInsertedUnderAUniqueName) {
    statement_cache c(4);
    const std::string a = c.insert("SELECT 1");
    const std::string b = c.insert("SELECT 2");
    EXPECT_NE(a, b);
    ASSERT_NE(c.find("SELECT 1"), nullptr);
    EXPECT_EQ(*c.find("SELECT 1"), a);
    EXPECT_EQ(c.size(), 2u);
    EXPECT_FALSE(c.has_stale());
}

TEST(StatementCache, EvictsTheLeastRecentlyUsedAndKeepsItsNameForDeallocation) {
    statement_cache c(2);
    const std::string a = c.insert("a");
    const std::string b = c.insert("b");
    ASSERT_NE(c.find("a"), nullptr);  // b is now the least recently used
    c.insert("c");
    EXPECT_EQ(c.size(), 2u);
    EXPECT_EQ(c.find("b"), nullptr);
    EXPECT_NE(c.find("a"), nullptr);
    const auto stale = c.take_stale();
    ASSERT_EQ(stale.size(), 1u);
    EXPECT_EQ(stale[0], b);
    EXPECT_FALSE(c.has_stale());
}

TEST(StatementCache, ForgetOnlyTheNameItWasAskedAbout) {
    statement_cache c(4);
    const std::string old_name = c.insert("q");
    c.forget("q", old_name, true);  // result type changed: the server still holds it
    EXPECT_EQ(c.find("q"), nullptr);
    ASSERT_EQ(c.take_stale(), std::vector<std::string>{old_name});
    const std::string fresh = c.insert("q");
    EXPECT_NE(fresh, old_name) << "a name is never reused";
    c.forget("q", old_name, true);  // a late word about the old name changes nothing
    ASSERT_NE(c.find("q"), nullptr);
    EXPECT_FALSE(c.has_stale());
    c.forget("q", fresh, false);  // gone on the server: nothing to deallocate
    EXPECT_EQ(c.size(), 0u);
    EXPECT_FALSE(c.has_stale());
}

TEST(StatementCache, ClearDropsEntriesAndPendingDeallocations) {
    statement_cache c(1);
    c.insert("a");
    c.insert("b");
    ASSERT_TRUE(c.has_stale());
    c.clear();
    EXPECT_EQ(c.size(), 0u);
    EXPECT_FALSE(c.has_stale());
}

}  // namespace
}  // namespace connmgr::pg::detail
