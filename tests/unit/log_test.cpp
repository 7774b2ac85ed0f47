// The public log hook: a library program's handler receives the pools' warnings with their
// level (the leak warning of a sync pool over the fake driver, on a manual clock); the level
// drops what is below it; manager::configure() applies runtime.log_level; the handler may
// replace itself, and what it logs itself goes to stderr instead of recursing.
#include <connmgr/detail/log.hpp>
#include <connmgr/log.hpp>
#include <connmgr/manager.hpp>
#include <connmgr/sync_pool.hpp>

#include <gtest/gtest.h>

#include "fake_driver.hpp"
#include "manual_clock.hpp"

#include <memory>
#include <string>
#include <vector>

namespace {

using namespace std::chrono_literals;
using connmgr::log_level;
using connmgr::test::fake_backend;
using connmgr::test::fake_sync_driver;
using connmgr::test::manual_clock;
using manual_pool = connmgr::sync_pool<fake_sync_driver, manual_clock>;

struct line {
    log_level level;
    std::string message;
};

class LogHandler : public ::testing::Test {
protected:
    void SetUp() override {
        level_before_ = connmgr::current_log_level();
        connmgr::set_log_level(log_level::info);
        // Calls are serialized (connmgr/log.hpp): the vector needs no lock.
        previous_ = connmgr::set_log_handler([this](log_level level, std::string_view message) {
            lines_.push_back({level, std::string(message)});
        });
    }
    void TearDown() override {
        connmgr::set_log_handler(std::move(previous_));
        connmgr::set_log_level(level_before_);
    }

    // A lease held past leak_threshold: the pool's sweep logs a warning, synchronously.
    void hold_a_lease_too_long() {
        auto b = std::make_shared<fake_backend>();
        connmgr::pool_params p;
        p.database = "app";
        p.url = "postgresql://app:***@db/app";
        p.backend = "postgres";
        p.pool.max_size = 1;
        p.pool.leak_threshold = 1min;
        manual_clock::reset();
        manual_pool pool(fake_sync_driver(b), p);
        auto lease = pool.acquire({.timeout = {}, .holder = "memory-store#42"});
        manual_clock::advance(61s);
        pool.run_timers();
    }

    std::vector<line> lines_;

private:
    connmgr::log_handler previous_;
    log_level level_before_{log_level::info};
};

TEST_F(LogHandler, ReceivesThePoolsLeakWarningWithItsLevel) {
    hold_a_lease_too_long();
    ASSERT_EQ(lines_.size(), 1u);
    EXPECT_EQ(lines_[0].level, log_level::warn);
    EXPECT_NE(lines_[0].message.find("possible connection leak"), std::string::npos)
        << lines_[0].message;
    EXPECT_NE(lines_[0].message.find("'memory-store#42'"), std::string::npos) << lines_[0].message;
}

TEST_F(LogHandler, LevelDropsWhatIsBelowIt) {
    connmgr::set_log_level(log_level::error);
    hold_a_lease_too_long();
    EXPECT_TRUE(lines_.empty());
    connmgr::detail::log(log_level::error, "kept");
    ASSERT_EQ(lines_.size(), 1u);
    EXPECT_EQ(lines_[0].level, log_level::error);
    EXPECT_EQ(lines_[0].message, "kept");

    connmgr::set_log_level(log_level::debug);
    connmgr::detail::log(log_level::debug, "debug passes at debug");
    connmgr::detail::log(log_level::trace, "trace does not");
    ASSERT_EQ(lines_.size(), 2u);
    EXPECT_EQ(lines_[1].message, "debug passes at debug");
}

TEST_F(LogHandler, ConfigureAppliesRuntimeLogLevel) {
    connmgr::manager m;
    connmgr::manager_config c;
    c.runtime.log_level = log_level::error;
    m.configure(c);
    EXPECT_EQ(connmgr::current_log_level(), log_level::error);
    hold_a_lease_too_long();
    EXPECT_TRUE(lines_.empty());
    c.runtime.log_level = log_level::warn;
    m.configure(c);
    EXPECT_EQ(connmgr::current_log_level(), log_level::warn);
    hold_a_lease_too_long();
    EXPECT_EQ(lines_.size(), 1u);
}

TEST_F(LogHandler, ReplacingReturnsThePreviousAndStopsIt) {
    std::vector<std::string> second;
    auto mine =
        connmgr::set_log_handler([&](log_level, std::string_view m) { second.emplace_back(m); });
    ASSERT_TRUE(mine);  // the fixture's
    connmgr::detail::log(log_level::warn, "to the second");
    EXPECT_TRUE(lines_.empty());
    EXPECT_EQ(second, std::vector<std::string>{"to the second"});
    // Restoring the returned handler brings the first back.
    connmgr::set_log_handler(std::move(mine));
    connmgr::detail::log(log_level::warn, "to the first");
    ASSERT_EQ(lines_.size(), 1u);
    EXPECT_EQ(second.size(), 1u);
    // An empty handler is the default, stderr.
    auto fixture = connmgr::set_log_handler({});
    testing::internal::CaptureStderr();
    connmgr::detail::log(log_level::warn, "to stderr");
    EXPECT_EQ(testing::internal::GetCapturedStderr(), "connmgr warn: to stderr\n");
    EXPECT_FALSE(connmgr::set_log_handler(std::move(fixture)));  // the default was empty
    EXPECT_EQ(lines_.size(), 1u);
}

// From inside the handler: a message goes to stderr (no deadlock, no recursion), and
// set_log_handler() takes effect for the next message.
TEST_F(LogHandler, HandlerMayLogAndReplaceItself) {
    std::vector<std::string> next;
    int calls = 0;
    auto fixture = connmgr::set_log_handler([&](log_level, std::string_view m) {
        ++calls;
        connmgr::detail::log(log_level::warn, "logged by the handler");
        connmgr::set_log_handler([&](log_level, std::string_view n) { next.emplace_back(n); });
        EXPECT_EQ(m, "first");  // still valid after replacing itself
    });
    testing::internal::CaptureStderr();
    connmgr::detail::log(log_level::info, "first");
    EXPECT_EQ(testing::internal::GetCapturedStderr(), "connmgr warn: logged by the handler\n");
    connmgr::detail::log(log_level::info, "second");
    EXPECT_EQ(calls, 1);
    EXPECT_EQ(next, std::vector<std::string>{"second"});
    connmgr::set_log_handler(std::move(fixture));
}

TEST(LogLevel, NamesRoundTrip) {
    for (const log_level l :
         {log_level::trace, log_level::debug, log_level::info, log_level::warn, log_level::error})
        EXPECT_EQ(connmgr::parse_log_level(connmgr::to_string(l)), l);
    EXPECT_FALSE(connmgr::parse_log_level("WARN"));
    EXPECT_FALSE(connmgr::parse_log_level("warning"));
    EXPECT_FALSE(connmgr::parse_log_level(""));
}

}  // namespace
