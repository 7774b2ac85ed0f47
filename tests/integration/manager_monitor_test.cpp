// The manager's background monitor against real servers: opened databases are probed without
// anyone calling health(), and utilization crossings are logged without anyone calling stats().
#include "manager_support.hpp"

#include <connmgr/connmgr.hpp>
#include <connmgr/detail/log.hpp>

#include <gtest/gtest.h>

#include <mutex>
#include <optional>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using connmgr::test::database;
using connmgr::test::eventually;
using connmgr::test::unique_name;

namespace {

/// Collects the log lines that mention `needle` for the lifetime of the object.
class log_capture {
public:
    explicit log_capture(std::string needle) : needle_(std::move(needle)) {
        previous_ = connmgr::detail::set_log_sink(
            [this](connmgr::detail::log_level level, std::string_view message) {
                if (message.find(needle_) == std::string_view::npos) return;
                std::lock_guard lock(mutex_);
                lines_.emplace_back(std::string(connmgr::detail::to_string(level)) + ": " +
                                    std::string(message));
            });
    }
    ~log_capture() { connmgr::detail::set_log_sink(std::move(previous_)); }
    log_capture(const log_capture&) = delete;
    log_capture& operator=(const log_capture&) = delete;

    std::vector<std::string> lines() const {
        std::lock_guard lock(mutex_);
        return lines_;
    }
    std::optional<std::string> find(std::string_view part) const {
        for (auto& line : lines())
            if (line.find(part) != std::string::npos) return line;
        return std::nullopt;
    }

private:
    std::string needle_;
    connmgr::detail::log_sink previous_;
    mutable std::mutex mutex_;
    std::vector<std::string> lines_;
};

std::optional<bool> healthy_of(connmgr::manager& m, const std::string& name) {
    for (const auto& d : m.stats().databases)
        if (d.name == name) return d.healthy;
    ADD_FAILURE() << "no database " << name << " in stats()";
    return std::nullopt;
}

connmgr::database_config probed_every_second(connmgr::database_config db) {
    for (auto* p : {&db.sync_pool, &db.async_pool}) {
        p->health_check_interval = 1s;
        p->connect_timeout = 1s;
    }
    return db;
}

}  // namespace

TEST(ManagerMonitor, ProbesOpenedDatabasesWithoutAHealthCall) {
    CONNMGR_REQUIRE_ENV(pg_url, "CONNMGR_TEST_PG_URL");
    const auto prefix = unique_name("mgr_monitor");
    const auto up = prefix + "_up", alias = prefix + "_alias", down = prefix + "_down",
               unused = prefix + "_unused";
    connmgr::manager_config config = connmgr::test::base_config();
    config.databases[up] = probed_every_second(database(up, pg_url));
    config.databases[down] =
        probed_every_second(database(down, "redis://probe:connmgr-secret@127.0.0.1:1/0"));
    config.databases[alias] = probed_every_second(database(alias, pg_url));
    config.databases[unused] = probed_every_second(database(unused, "redis://127.0.0.1:2/0"));
    log_capture log(prefix);
    connmgr::manager m;
    m.configure(config);

    { auto lease = m.get_client<connmgr::pg_client>(up).acquire(); }
    EXPECT_THROW(m.get_client<connmgr::redis_client>(down).command({"PING"}), connmgr::error);

    EXPECT_TRUE(eventually([&] { return healthy_of(m, up) == true; }));
    EXPECT_TRUE(eventually([&] { return healthy_of(m, down) == false; }));
    EXPECT_EQ(healthy_of(m, alias), true) << "one URL, one probe, one verdict for every name";
    EXPECT_EQ(healthy_of(m, unused), std::nullopt) << "a database never opened is never probed";

    const auto warning = log.find("warn: database " + down);
    ASSERT_TRUE(warning) << "no warning for the unreachable database";
    EXPECT_NE(warning->find("unhealthy"), std::string::npos) << *warning;
    for (const auto& line : log.lines())
        EXPECT_EQ(line.find("connmgr-secret"), std::string::npos) << line;
    EXPECT_FALSE(log.find("database " + up)) << "a healthy database is not logged";
}

TEST(ManagerMonitor, LogsUtilizationCrossingWithoutAStatsCall) {
    CONNMGR_REQUIRE_ENV(pg_url, "CONNMGR_TEST_PG_URL");
    const auto name = unique_name("mgr_monitor_util");
    connmgr::manager_config config = connmgr::test::base_config();
    config.databases[name] = database(name, pg_url, 2);
    log_capture log(name);
    connmgr::manager m;
    m.configure(config);
    auto client = m.get_client<connmgr::pg_client>(name);
    auto first = client.acquire();
    auto second = client.acquire();
    EXPECT_TRUE(eventually([&] { return log.find("utilization 100%").has_value(); }));
    EXPECT_EQ(log.lines().size(), 1u) << "one warning per crossing";
}
