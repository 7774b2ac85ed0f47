#include "config_detail.hpp"
#include "config_test_files.hpp"

#include <connmgr/config_loader.hpp>
#include <connmgr/error.hpp>

#include <gtest/gtest.h>

namespace connmgr {
namespace {

using namespace std::chrono_literals;
using test::temp_dir;

// The message of the config_error `f` throws; fails the test if it throws none.
template <class F>
std::string error_of(F&& f) {
    try {
        f();
    } catch (const config_error& e) {
        return e.what();
    }
    ADD_FAILURE() << "no config_error";
    return {};
}

#define EXPECT_CONTAINS(text, part) \
    EXPECT_NE(std::string(text).find(part), std::string::npos) << (text)

constexpr const char* pg_db = "databases:\n  app:\n    url: postgresql://u@h/db\n";

class ConfigLayers : public ::testing::Test {
protected:
    temp_dir dir;
    loaded_config load(const std::string& yaml, const env_map& env = {}) {
        return load_config_with_origins({dir.write("c.yaml", yaml)}, env);
    }
};

TEST_F(ConfigLayers, BuiltInDefaultsWhenNothingIsSet) {
    const auto l = load(pg_db);
    const auto& db = l.config.databases.at("app");
    EXPECT_EQ(db.sync_pool, pool_options{});
    EXPECT_EQ(db.async_pool, pool_options{});
    EXPECT_EQ(db.retry, retry_options{});
    EXPECT_EQ(db.circuit_breaker, breaker_options{});
    EXPECT_EQ(db.drain_timeout, 30s);
    EXPECT_FALSE(db.pgbouncer);
    EXPECT_FALSE(db.close_when_unreferenced);
    EXPECT_EQ(l.origins.at("databases.app.pool.sync.max_size"), "default");
    EXPECT_EQ(l.origins.at("defaults.drain_timeout"), "default");
}

TEST_F(ConfigLayers, DefaultsBeatBuiltIn) {
    const auto l = load(std::string("defaults:\n  pool:\n    max_size: 7\n  retry: {attempts: 2}\n"
                                    "  drain_timeout: 250ms\n") +
                        pg_db);
    const auto& db = l.config.databases.at("app");
    EXPECT_EQ(db.sync_pool.max_size, 7u);
    EXPECT_EQ(db.async_pool.max_size, 7u);
    EXPECT_EQ(db.retry.attempts, 2u);
    EXPECT_EQ(db.drain_timeout, 250ms);
    EXPECT_EQ(l.config.drain_timeout, 250ms);
    EXPECT_EQ(l.defaults.pool.max_size, 7u);
    EXPECT_EQ(l.origins.at("databases.app.pool.sync.max_size"),
              (dir.path() / "c.yaml").string() + ":3");
    EXPECT_EQ(l.origins.at("defaults.pool.max_size"), (dir.path() / "c.yaml").string() + ":3");
}

TEST_F(ConfigLayers, BackendBeatsDefaults) {
    const auto l = load(std::string("defaults: {pool: {max_size: 7}}\n"
                                    "backends:\n  postgres: {pool: {max_size: 9}}\n"
                                    "  redis: {pool: {max_size: 11}}\n") +
                        pg_db + "  cache:\n    url: redis://h/0\n");
    EXPECT_EQ(l.config.databases.at("app").sync_pool.max_size, 9u);
    EXPECT_EQ(l.config.databases.at("cache").sync_pool.max_size, 11u);
    EXPECT_EQ(l.defaults.pool.max_size, 7u);
}

TEST_F(ConfigLayers, BackendAppliesToItsKindOnly) {
    const auto l = load(
        "backends:\n  falkordb: {pool: {max_size: 3}, circuit_breaker: {open_for: 5s}}\n"
        "databases:\n  graph: {url: 'falkordb://g'}\n  cache: {url: 'redis://c'}\n");
    EXPECT_EQ(l.config.databases.at("graph").sync_pool.max_size, 3u);
    EXPECT_EQ(l.config.databases.at("graph").circuit_breaker.open_for, 5s);
    EXPECT_EQ(l.config.databases.at("cache").sync_pool.max_size, 20u);
    EXPECT_EQ(l.origins.at("databases.cache.pool.sync.max_size"), "default");
}

TEST_F(ConfigLayers, DatabaseBeatsBackend) {
    const auto l = load(
        "backends: {postgres: {pool: {max_size: 9}, retry: {attempts: 3}}}\n"
        "databases:\n  app:\n    url: postgresql://u@h/db\n    pool: {max_size: 4}\n"
        "    retry: {attempts: 8}\n");
    const auto& db = l.config.databases.at("app");
    EXPECT_EQ(db.sync_pool.max_size, 4u);
    EXPECT_EQ(db.async_pool.max_size, 4u);
    EXPECT_EQ(db.retry.attempts, 8u);
}

TEST_F(ConfigLayers, FlavourBeatsDatabaseForThatFlavourOnly) {
    const auto l = load(
        "databases:\n  app:\n    url: postgresql://u@h/db\n    pool:\n      max_size: 4\n"
        "      async: {max_size: 60, keepalive: {count: 9}}\n");
    const auto& db = l.config.databases.at("app");
    EXPECT_EQ(db.sync_pool.max_size, 4u);
    EXPECT_EQ(db.async_pool.max_size, 60u);
    EXPECT_EQ(db.async_pool.keepalive.count, 9u);
    EXPECT_EQ(db.sync_pool.keepalive.count, 5u);
    const std::string file = (dir.path() / "c.yaml").string();
    EXPECT_EQ(l.origins.at("databases.app.pool.sync.max_size"), file + ":5");
    EXPECT_EQ(l.origins.at("databases.app.pool.async.max_size"), file + ":6");
}

TEST_F(ConfigLayers, EnvBeatsEveryFile) {
    const std::string a = dir.write("a.yaml", std::string(pg_db) + "    pool: {max_size: 4}\n");
    const std::string b = dir.write("b.yaml", "databases: {app: {pool: {max_size: 5}}}\n");
    const auto l =
        load_config_with_origins({a, b}, {{"CONNMGR_DATABASES__APP__POOL__MAX_SIZE", "50"},
                                          {"CONNMGR_BACKENDS__POSTGRES__POOL__MIN_IDLE", "3"},
                                          {"CONNMGR_DEFAULTS__POOL__ACQUIRE_TIMEOUT", "5s"}});
    const auto& db = l.config.databases.at("app");
    EXPECT_EQ(db.sync_pool.max_size, 50u);
    EXPECT_EQ(db.sync_pool.min_idle, 3u);
    EXPECT_EQ(db.sync_pool.acquire_timeout, 5s);
    EXPECT_EQ(l.origins.at("databases.app.pool.sync.max_size"),
              "env:CONNMGR_DATABASES__APP__POOL__MAX_SIZE");
}

TEST_F(ConfigLayers, EnvSegmentsAreCaseInsensitive) {
    const auto l = load("databases:\n  Main:\n    url: redis://h/0\n",
                        {{"CONNMGR_databases__MAIN__Pool__max_size", "12"}});
    EXPECT_EQ(l.config.databases.at("Main").sync_pool.max_size, 12u);
}

TEST_F(ConfigLayers, EnvCanAddADatabase) {
    const auto l = load("", {{"CONNMGR_DATABASES__EXTRA__URL", "redis://h/5"}});
    EXPECT_EQ(l.config.databases.at("extra").url.redis().db, 5);
}

TEST_F(ConfigLayers, UnrelatedConnmgrVariablesAreNotOverrides) {
    const auto l = load(pg_db, {{"CONNMGR_TEST_PG_URL", "postgresql://x"},
                                {"CONNMGR_SOURCE_DIR", "/src"},
                                {"CONNMGR_CONFIG", ""}});
    EXPECT_EQ(l.config.databases.size(), 1u);
}

TEST_F(ConfigLayers, EnvOverrideWithUnknownKeyIsAnError) {
    const auto message = error_of([&] {
        load(pg_db, {{"CONNMGR_DATABASES__APP__POOL__MAX_SIZ", "1"}});
    });
    EXPECT_CONTAINS(message, "env:CONNMGR_DATABASES__APP__POOL__MAX_SIZ");
    EXPECT_CONTAINS(message, "did you mean 'max_size'?");
}

TEST(ConfigFiles, ThreeFilesMergeInOrder) {
    temp_dir dir;
    const auto a = dir.write("a.yaml", std::string(pg_db) +
                                           "    pool: {max_size: 4, min_idle: 1, "
                                           "acquire_timeout: 1s}\n");
    const auto b = dir.write("b.yaml", "databases: {app: {pool: {max_size: 6, min_idle: 2}}}\n");
    const auto c = dir.write("c.yaml", "databases: {app: {pool: {max_size: 8}}}\n");
    const auto l = load_config_with_origins({a, b, c}, {});
    const auto& p = l.config.databases.at("app").sync_pool;
    EXPECT_EQ(p.max_size, 8u);
    EXPECT_EQ(p.min_idle, 2u);
    EXPECT_EQ(p.acquire_timeout, 1s);  // maps merge: a's key survives b and c
    EXPECT_EQ(l.origins.at("databases.app.pool.sync.max_size"), c + ":1");
    EXPECT_EQ(l.origins.at("databases.app.pool.sync.min_idle"), b + ":1");
    EXPECT_EQ(l.origins.at("databases.app.pool.sync.acquire_timeout"), a + ":4");
}

TEST(ConfigFiles, ListsReplaceMapsMerge) {
    temp_dir dir;
    const auto a = dir.write("a.yaml", "x:\n  list: [1, 2, 3]\n  map: {a: 1, b: 2}\n");
    const auto b = dir.write("b.yaml", "x:\n  list: [9]\n  map: {b: 3, c: 4}\n");
    const auto tree = detail::load_tree({a, b}, {});
    const auto* x = tree.child("x");
    ASSERT_NE(x, nullptr);
    const auto* list = x->child("list");
    ASSERT_NE(list, nullptr);
    ASSERT_EQ(list->items.size(), 1u);
    EXPECT_EQ(list->items[0].value, "9");
    const auto* map = x->child("map");
    ASSERT_NE(map, nullptr);
    ASSERT_EQ(map->entries.size(), 3u);
    EXPECT_EQ(map->child("a")->value, "1");
    EXPECT_EQ(map->child("b")->value, "3");
    EXPECT_EQ(map->child("c")->value, "4");
}

TEST(ConfigFiles, EmptyKeyDoesNotWipeAnEarlierMap) {
    temp_dir dir;
    const auto a = dir.write("a.yaml", pg_db);
    const auto b = dir.write("b.yaml", "databases:\n");
    EXPECT_EQ(load_config({a, b}, {}).databases.size(), 1u);
}

TEST(ConfigFiles, ConnmgrConfigListsFiles) {
    temp_dir dir;
    const auto a = dir.write("a.yaml", std::string(pg_db) + "    pool: {max_size: 4}\n");
    const auto b = dir.write("b.yaml", "databases: {app: {pool: {min_idle: 2}}}\n");
    const auto l = load_config_with_origins({}, {{"CONNMGR_CONFIG", a + ":" + b}});
    EXPECT_EQ(l.files, (std::vector<std::string>{a, b}));
    EXPECT_EQ(l.config.databases.at("app").sync_pool.max_size, 4u);
    EXPECT_EQ(l.config.databases.at("app").sync_pool.min_idle, 2u);
}

TEST(ConfigFiles, ExplicitFilesBeatConnmgrConfig) {
    temp_dir dir;
    const auto a = dir.write("a.yaml", pg_db);
    const auto l = load_config_with_origins({a}, {{"CONNMGR_CONFIG", "/nonexistent.yaml"}});
    EXPECT_EQ(l.config.databases.size(), 1u);
}

TEST(ConfigFiles, MissingFileNamed) {
    EXPECT_CONTAINS(error_of([] { load_config({"/nonexistent/x.yaml"}, {}); }),
                    "/nonexistent/x.yaml: cannot open config file");
}

TEST(ConfigText, LoadsLikeAFileUnderItsDisplayName) {
    const env_map env{{"CONNMGR_DATABASES__APP__POOL__MAX_SIZE", "9"}};
    const auto l = load_config_from_string(pg_db, "inline.yaml", env);
    EXPECT_EQ(l.files, std::vector<std::string>{"inline.yaml"});
    EXPECT_EQ(l.config.databases.at("app").sync_pool.max_size, 9u);
    EXPECT_EQ(l.origins.at("databases.app.url"), "inline.yaml:3");
    EXPECT_CONTAINS(error_of([] { load_config_from_string("databases: [1", "inline.yaml", {}); }),
                    "inline.yaml:");
}

// Found by tests/fuzz/config_fuzz.cpp: an alias inside its own anchor recursed until the
// stack overflowed.
TEST(ConfigText, AliasInsideItsOwnAnchorIsAnError) {
    const std::string yaml = "defaults: &d\n  s:\n  postgres: *d\n";
    EXPECT_CONTAINS(error_of([&] { load_config_from_string(yaml, "loop.yaml", {}); }),
                    "nested deeper than");
}

// Ten aliases of ten aliases ... eight levels deep: 10^8 values once expanded, which hung.
TEST(ConfigText, ExponentialAliasesAreAnError) {
    std::string yaml = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n";
    for (int i = 1; i < 8; ++i) {
        const std::string prev = "*a" + std::to_string(i - 1);
        yaml += "a" + std::to_string(i) + ": &a" + std::to_string(i) + " [";
        for (int k = 0; k < 10; ++k) yaml += (k ? ", " : "") + prev;
        yaml += "]\n";
    }
    EXPECT_CONTAINS(error_of([&] { load_config_from_string(yaml, "laughs.yaml", {}); }),
                    "more than 100000 values");
}

TEST(ConfigInterpolation, UnsetVariableNamesVariableAndLine) {
    temp_dir dir;
    const auto f =
        dir.write("c.yaml", "databases:\n  app:\n    url: \"postgresql://u:${PW}@h/db\"\n");
    const auto message = error_of([&] { load_config({f}, {}); });
    EXPECT_CONTAINS(message, f + ":3:");
    EXPECT_CONTAINS(message, "'PW'");
    EXPECT_CONTAINS(message, "databases.app.url");
}

TEST(ConfigInterpolation, DefaultUsedWhenUnsetOrEmpty) {
    temp_dir dir;
    const auto f =
        dir.write("c.yaml", "databases:\n  main:\n    url: \"redis://${H:-x}:${P:-7000}/1\"\n");
    EXPECT_EQ(load_config({f}, {}).databases.at("main").url.redis().host, "x");
    EXPECT_EQ(load_config({f}, {{"H", ""}}).databases.at("main").url.redis().host, "x");
    const auto set = load_config({f}, {{"H", "y"}, {"P", "7001"}}).databases.at("main").url;
    EXPECT_EQ(set.redis().host, "y");
    EXPECT_EQ(set.redis().port, 7001);
    EXPECT_EQ(set.redis().db, 1);
}

TEST(ConfigInterpolation, PlainValuesAndNoVariables) {
    const env_map env{{"A", "1"}};
    EXPECT_EQ(detail::interpolate("x${A}y${B:-2}z", env, "f:1:1", "p"), "x1y2z");
    EXPECT_EQ(detail::interpolate("no vars $ here", env, "f:1:1", "p"), "no vars $ here");
    EXPECT_CONTAINS(error_of([&] { detail::interpolate("${A", env, "f:1:1", "p"); }),
                    "unterminated");
}

TEST(Durations, ParseEveryUnit) {
    EXPECT_EQ(parse_duration("250ms"), 250ms);
    EXPECT_EQ(parse_duration("30s"), 30s);
    EXPECT_EQ(parse_duration("5m"), 5min);
    EXPECT_EQ(parse_duration("1h"), 1h);
    EXPECT_EQ(parse_duration("30"), 30s);
    EXPECT_EQ(parse_duration("2.5"), 2500ms);
    EXPECT_EQ(parse_duration("0"), 0ms);
    for (const char* bad : {"", "abc", "5 s", "-1s", "5d", "1.2.3s", "ms"})
        EXPECT_THROW(parse_duration(bad), config_error) << bad;
}

TEST(Durations, FormatLargestExactUnit) {
    EXPECT_EQ(format_duration(250ms), "250ms");
    EXPECT_EQ(format_duration(30s), "30s");
    EXPECT_EQ(format_duration(90s), "90s");
    EXPECT_EQ(format_duration(5min), "5m");
    EXPECT_EQ(format_duration(1h), "1h");
    EXPECT_EQ(format_duration(0ms), "0s");
    EXPECT_EQ(format_duration(1500ms), "1500ms");
}

TEST(PoolValidation, MinIdleAboveMaxSizeNamesPath) {
    const pool_options p{.min_idle = 8, .max_size = 4};
    EXPECT_EQ(error_of([&] {
                  validate(p, "databases.app.pool");
              }).rfind("databases.app.pool.min_idle: 8 > max_size 4", 0),
              0u);
    EXPECT_THROW(validate(pool_options{.max_size = 0}, "x"), config_error);
    EXPECT_NO_THROW(validate(pool_options{}, "x"));
}

// Defect: durations up to 1e15 ms overflowed the pools' clock arithmetic, and a zero
// connect_timeout was accepted though nothing could then connect.
TEST(PoolValidation, DurationsAreBoundedAndConnectTimeoutPositive) {
    EXPECT_CONTAINS(error_of([] { validate(pool_options{.connect_timeout = 0ms}, "p"); }),
                    "p.connect_timeout: must be greater than 0");
    EXPECT_CONTAINS(
        error_of([] { validate(pool_options{.max_lifetime = max_duration + 1ms}, "p"); }),
        "p.max_lifetime: ");
    EXPECT_NO_THROW(validate(pool_options{.max_lifetime = max_duration}, "p"));
}

TEST(ConfigErrors, DurationPastTheMaximumNamesFileLineAndKey) {
    temp_dir dir;
    const auto f = dir.write("c.yaml",
                             "databases:\n  app:\n    url: postgresql://u@h/db\n    pool:\n"
                             "      idle_timeout: 1000000000000s\n");
    EXPECT_CONTAINS(error_of([&] { load_config({f}, {}); }),
                    f + ":5:7: databases.app.pool.idle_timeout: '1000000000000s' is longer than "
                        "the maximum of");
    const auto g = dir.write("d.yaml",
                             "databases:\n  app:\n    url: postgresql://u@h/db\n    pool:\n"
                             "      connect_timeout: 0\n");
    EXPECT_CONTAINS(error_of([&] { load_config({g}, {}); }),
                    "databases.app.pool.connect_timeout: must be greater than 0");
}

TEST(ConfigErrors, LoaderMessagesNameFileLineColumnAndPath) {
    temp_dir dir;
    const auto f = dir.write("c.yaml",
                             "databases:\n  app:\n    url: postgresql://u@h/db\n    pool:\n"
                             "      max_size: 4\n      min_idle: 8\n");
    EXPECT_CONTAINS(error_of([&] { load_config({f}, {}); }),
                    f + ":6:7: databases.app.pool.min_idle: 8 > max_size 4");
}

TEST(ConfigErrors, SameUrlSameOptionsShareOnePool) {
    temp_dir dir;
    const auto f = dir.write(
        "c.yaml", "databases:\n  a: {url: 'redis://H:6379/0'}\n  b: {url: 'redis://h'}\n");
    const auto c = load_config({f}, {});
    EXPECT_EQ(c.databases.at("a").url, c.databases.at("b").url);
}

TEST(ConfigErrors, MissingUrl) {
    temp_dir dir;
    const auto f = dir.write("c.yaml", "databases:\n  app:\n    pool: {max_size: 3}\n");
    EXPECT_CONTAINS(error_of([&] { load_config({f}, {}); }),
                    "databases.app: missing required key 'url'");
}

TEST(ConfigErrors, PgbouncerOnRedisRejected) {
    temp_dir dir;
    const auto f =
        dir.write("c.yaml", "databases:\n  m:\n    url: redis://h\n    pgbouncer: true\n");
    EXPECT_CONTAINS(error_of([&] { load_config({f}, {}); }), "databases.m.pgbouncer");
}

// DESIGN §12: a multi-host database's keys, and bad input naming file, line and key.
TEST(ConfigMultiHost, ReadUrlAndHostsRecheckIntervalWithTheirOrigins) {
    temp_dir dir;
    const auto f =
        dir.write("c.yaml",
                  "defaults:\n  hosts_recheck_interval: 3s\ndatabases:\n  ha:\n"
                  "    url: postgresql://u:pw@h1:5432,h2:5433/db?target_session_attrs=read-write\n"
                  "    read_url: postgresql://u:pw@r1:5432/db\n");
    const auto loaded = load_config_with_origins({f}, {});
    const auto& db = loaded.config.databases.at("ha");
    EXPECT_EQ(db.hosts_recheck_interval, std::chrono::seconds(3));
    ASSERT_TRUE(db.read_url.has_value());
    EXPECT_EQ(connmgr::read_url_of(db).redacted(), "postgresql://u:***@r1:5432/db");
    EXPECT_CONTAINS(loaded.origins.at("databases.ha.read_url"), "c.yaml:6");
    EXPECT_CONTAINS(loaded.origins.at("databases.ha.hosts_recheck_interval"), "c.yaml:2");
    // Without read_url: the same hosts, prefer-standby, balanced.
    auto plain = db;
    plain.read_url.reset();
    EXPECT_EQ(connmgr::read_url_of(plain).redacted(),
              "postgresql://u:***@h1:5432,h2:5433/db?load_balance_hosts=random&"
              "target_session_attrs=prefer-standby");
}

TEST(ConfigMultiHost, ReadUrlOfAnotherBackendNamesFileLineAndKey) {
    temp_dir dir;
    const auto f = dir.write("c.yaml",
                             "databases:\n  ha:\n    url: postgresql://u@h1,h2/db\n"
                             "    read_url: redis://:s3cret@r1:6379/0\n");
    const auto message = error_of([&] { load_config({f}, {}); });
    EXPECT_CONTAINS(message, "c.yaml:4");
    EXPECT_CONTAINS(message, "databases.ha.read_url");
    EXPECT_CONTAINS(message, "read_url applies to PostgreSQL");
    EXPECT_EQ(message.find("s3cret"), std::string::npos) << message;
}

TEST(ConfigMultiHost, BadTargetSessionAttrsNamesFileLineAndKey) {
    temp_dir dir;
    const auto f =
        dir.write("c.yaml",
                  "databases:\n  ha:\n"
                  "    url: postgresql://u:s3cret@h1,h2/db?target_session_attrs=master\n");
    const auto message = error_of([&] { load_config({f}, {}); });
    EXPECT_CONTAINS(message, "c.yaml:3");
    EXPECT_CONTAINS(message, "databases.ha.url");
    EXPECT_CONTAINS(message, "target_session_attrs must be one of");
    EXPECT_EQ(message.find("s3cret"), std::string::npos) << message;
}

TEST(ConfigRuntime, BuiltInDefaults) {
    temp_dir dir;
    const auto l = load_config_with_origins({dir.write("c.yaml", pg_db)}, {});
    EXPECT_EQ(l.config.runtime, runtime_options{});
    EXPECT_EQ(l.config.runtime.io_threads, 0u);
    EXPECT_EQ(l.config.runtime.telemetry.listen, "");
    EXPECT_EQ(l.origins.at("runtime.io_threads"), "default");
    EXPECT_EQ(l.origins.at("runtime.telemetry.listen"), "default");
}

TEST(ConfigRuntime, FileAndEnvironmentSetIt) {
    temp_dir dir;
    const auto f =
        dir.write("c.yaml", "runtime:\n  io_threads: 3\n  telemetry: {listen: '127.0.0.1:0'}\n");
    const auto l = load_config_with_origins({f}, {});
    EXPECT_EQ(l.config.runtime.io_threads, 3u);
    EXPECT_EQ(l.config.runtime.telemetry.listen, "127.0.0.1:0");
    EXPECT_EQ(l.origins.at("runtime.io_threads"), f + ":2");
    const auto e = load_config_with_origins(
        {f}, {{"CONNMGR_RUNTIME__IO_THREADS", "4"}, {"CONNMGR_RUNTIME__TELEMETRY__LISTEN", ""}});
    EXPECT_EQ(e.config.runtime.io_threads, 4u);
    EXPECT_EQ(e.config.runtime.telemetry.listen, "");
    EXPECT_EQ(e.origins.at("runtime.io_threads"), "env:CONNMGR_RUNTIME__IO_THREADS");
    const auto v6 = load_config({}, {{"CONNMGR_RUNTIME__TELEMETRY__LISTEN", "[::1]:9187"}});
    EXPECT_EQ(v6.runtime.telemetry.listen, "[::1]:9187");
}

TEST(ConfigRuntime, ErrorsNameFileLineAndKey) {
    temp_dir dir;
    const auto bad_threads = dir.write("t.yaml", "runtime:\n  io_threads: -1\n");
    EXPECT_CONTAINS(error_of([&] { load_config({bad_threads}, {}); }),
                    bad_threads + ":2:3: runtime.io_threads: must not be negative");
    const auto bad_listen = dir.write("l.yaml", "runtime:\n  telemetry:\n    listen: nowhere\n");
    const auto m = error_of([&] { load_config({bad_listen}, {}); });
    EXPECT_CONTAINS(m, bad_listen + ":3:5: runtime.telemetry.listen: invalid listen address");
    EXPECT_CONTAINS(m, "no port");
    const auto bad_port = dir.write("p.yaml", "runtime: {telemetry: {listen: '1.2.3.4:99999'}}\n");
    EXPECT_CONTAINS(error_of([&] { load_config({bad_port}, {}); }), "from 0 to 65535");
    const auto bad_host = dir.write("h.yaml", "runtime: {telemetry: {listen: 'example.com:1'}}\n");
    EXPECT_CONTAINS(error_of([&] { load_config({bad_host}, {}); }), "IP address or localhost");
    const auto typo = dir.write("k.yaml", "runtime:\n  io_thread: 2\n");
    EXPECT_CONTAINS(error_of([&] { load_config({typo}, {}); }),
                    "runtime.io_thread: unknown key 'io_thread' (did you mean 'io_threads'?)");
    EXPECT_CONTAINS(error_of([&] {
                        load_config({}, {{"CONNMGR_RUNTIME__IO_THREADS", "x"}});
                    }),
                    "env:CONNMGR_RUNTIME__IO_THREADS: runtime.io_threads: expected a non-negative");
}

// runtime.log_level: debug|info|warn|error, default info, from a file or the environment; any
// other value is an error naming file:line:key.
TEST(ConfigRuntime, LogLevel) {
    temp_dir dir;
    EXPECT_EQ(load_config({}, {}).runtime.log_level, log_level::info);
    const auto f = dir.write("c.yaml", "runtime:\n  log_level: error\n");
    const auto l = load_config_with_origins({f}, {});
    EXPECT_EQ(l.config.runtime.log_level, log_level::error);
    EXPECT_EQ(l.origins.at("runtime.log_level"), f + ":2");
    const auto e = load_config_with_origins({f}, {{"CONNMGR_RUNTIME__LOG_LEVEL", "debug"}});
    EXPECT_EQ(e.config.runtime.log_level, log_level::debug);
    EXPECT_EQ(e.origins.at("runtime.log_level"), "env:CONNMGR_RUNTIME__LOG_LEVEL");
    EXPECT_EQ(load_config({}, {{"CONNMGR_RUNTIME__LOG_LEVEL", "warn"}}).runtime.log_level,
              log_level::warn);
    for (const char* bad : {"loud", "WARN", "trace", "3", "''"}) {
        const auto b = dir.write("b.yaml", std::string("runtime:\n  log_level: ") + bad + "\n");
        EXPECT_CONTAINS(error_of([&] { load_config({b}, {}); }),
                        b + ":2:3: runtime.log_level: expected debug, info, warn or error, got ");
    }
    const auto map = dir.write("m.yaml", "runtime:\n  log_level: {x: 1}\n");
    EXPECT_CONTAINS(error_of([&] { load_config({map}, {}); }),
                    map + ":2:3: runtime.log_level: expected a string, got a map");
}

TEST(ConfigRuntime, ListenAddressParts) {
    EXPECT_EQ(parse_listen_address("127.0.0.1:9187").port, 9187);
    EXPECT_EQ(parse_listen_address("[::1]:0").host, "::1");
    EXPECT_EQ(parse_listen_address("localhost:5").host, "localhost");
    EXPECT_CONTAINS(error_of([] { parse_listen_address("::1:80"); }), "needs brackets");
    EXPECT_CONTAINS(error_of([] { parse_listen_address(":80"); }), "no host");
}

TEST(ConfigErrors, ResetQueryRefusedWithPgbouncerNamingTheKey) {
    temp_dir dir;
    const auto f = dir.write("c.yaml",
                             "databases:\n  app:\n    url: postgresql://u@h/db\n    pgbouncer: "
                             "true\n    pool:\n      reset_query: DISCARD ALL\n");
    const auto message = error_of([&] { load_config({f}, {}); });
    EXPECT_CONTAINS(message, "databases.app.pool.reset_query");
    EXPECT_CONTAINS(message, "pgbouncer");
    EXPECT_CONTAINS(message, "c.yaml:6");
}

TEST(ConfigErrors, ResetQueryOnRedisRejected) {
    temp_dir dir;
    const auto f = dir.write("c.yaml",
                             "defaults:\n  pool: {reset_query: DISCARD ALL}\ndatabases:\n  m:\n"
                             "    url: redis://h\n");
    EXPECT_CONTAINS(error_of([&] { load_config({f}, {}); }), "reset_query applies to PostgreSQL");
}

TEST(ConfigResetQuery, SetPerFlavourWithItsOrigin) {
    temp_dir dir;
    const auto f = dir.write("c.yaml",
                             "databases:\n  app:\n    url: postgresql://u@h/db\n    pool:\n"
                             "      async: {reset_query: DISCARD ALL}\n");
    const auto l = load_config_with_origins({f}, {});
    const auto& db = l.config.databases.at("app");
    EXPECT_EQ(db.async_pool.reset_query, "DISCARD ALL");
    EXPECT_EQ(db.sync_pool.reset_query, "");
    EXPECT_CONTAINS(l.origins.at("databases.app.pool.async.reset_query"), "c.yaml:5");
}

TEST(ConfigStatementCache, DefaultsTo512AndIsSetPerFlavourWithItsOrigin) {
    temp_dir dir;
    const auto f = dir.write("c.yaml",
                             "databases:\n  app:\n    url: postgresql://u@h/db\n    pool:\n"
                             "      async: {statement_cache: 0}\n");
    const auto l = load_config_with_origins({f}, {});
    const auto& db = l.config.databases.at("app");
    EXPECT_EQ(db.sync_pool.statement_cache, 512u);
    EXPECT_EQ(db.async_pool.statement_cache, 0u);
    EXPECT_CONTAINS(l.origins.at("databases.app.pool.async.statement_cache"), "c.yaml:5");
}

TEST(ConfigStatementCache, OffWithPgbouncerWhoseLineIsItsOrigin) {
    temp_dir dir;
    const auto f = dir.write("c.yaml",
                             "defaults:\n  pool: {statement_cache: 100}\ndatabases:\n  app:\n"
                             "    url: postgresql://u@h/db\n    pgbouncer: true\n");
    const auto l = load_config_with_origins({f}, {});
    const auto& db = l.config.databases.at("app");
    EXPECT_EQ(db.async_pool.statement_cache, 0u);
    EXPECT_EQ(db.sync_pool.statement_cache, 0u);
    // An origin is a place (DESIGN §8's --show-origin): the line of `pgbouncer: true`.
    EXPECT_EQ(l.origins.at("databases.app.pool.async.statement_cache"),
              l.origins.at("databases.app.pgbouncer"));
    EXPECT_CONTAINS(l.origins.at("databases.app.pool.async.statement_cache"), "c.yaml:6");
    EXPECT_EQ(l.defaults.pool.statement_cache, 100u);
}

TEST(ConfigErrors, StatementCacheMustBeACountNamingFileLineAndKey) {
    temp_dir dir;
    const auto f = dir.write("c.yaml", "defaults:\n  pool:\n    statement_cache: -3\n");
    const auto message = error_of([&] { load_config({f}, {}); });
    EXPECT_CONTAINS(message, "c.yaml:3");
    EXPECT_CONTAINS(message, "defaults.pool.statement_cache");
    EXPECT_CONTAINS(message, "must not be negative");
}

TEST(ConfigFiles, ShippedConfigsLoad) {
    const std::string src = CONNMGR_SOURCE_PATH;
    const auto reference = load_config_with_origins({src + "/configs/connmgr.yaml"}, {});
    EXPECT_TRUE(reference.config.databases.empty());
    EXPECT_EQ(reference.defaults.pool, pool_options{});
    EXPECT_EQ(reference.defaults.retry, retry_options{});
    EXPECT_EQ(reference.defaults.circuit_breaker, breaker_options{});
    EXPECT_EQ(reference.config.runtime, runtime_options{});
    // The reference file spells the runtime section out (with its built-in values).
    EXPECT_EQ(
        reference.origins.at("runtime.telemetry.listen").rfind(src + "/configs/connmgr.yaml:", 0),
        0u);
    const auto local = load_config({src + "/configs/connmgr.yaml", src + "/configs/local.yaml"},
                                   {{"CONNMGR_REDIS_PORT", "7777"}});
    EXPECT_EQ(local.databases.at("knowledge").url.redis().db, 1);
    EXPECT_EQ(local.databases.at("knowledge").url.redis().port, 7777);
    EXPECT_EQ(local.databases.at("main").url.redis().db, 0);
    EXPECT_TRUE(local.databases.at("app_bouncer").pgbouncer);
    EXPECT_TRUE(local.databases.at("main_ha").url.is_sentinel());
    EXPECT_EQ(local.databases.at("main_ha").url.sentinel().service, "mymaster");
    EXPECT_EQ(local.databases.at("graph_ha").url.kind(), backend::falkordb);
    EXPECT_EQ(local.databases.at("graph").url.kind(), backend::falkordb);
    EXPECT_EQ(local.databases.at("graph").url.redis().port, 56390);
    EXPECT_EQ(local.databases.at("graph").sync_pool.acquire_timeout, std::chrono::seconds(10));
    EXPECT_EQ(local.databases.at("app").url.redacted(),
              "postgresql://connmgr:***@127.0.0.1:55432/connmgr_test");
    const auto examples = load_config(
        {src + "/configs/examples/base.yaml", src + "/configs/examples/production.yaml"},
        {{"APP_DB_PASSWORD", "p"}, {"CACHE_PASSWORD", "q"}});
    EXPECT_EQ(examples.databases.at("app").sync_pool.max_size, 30u);
    EXPECT_EQ(examples.databases.at("app").async_pool.max_size, 40u);
}

}  // namespace
}  // namespace connmgr
