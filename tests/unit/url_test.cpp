#include <connmgr/error.hpp>
#include <connmgr/url.hpp>

#include <gtest/gtest.h>

#include <algorithm>

namespace connmgr {
namespace {

std::string key(const char* text) { return db_url::parse(text).pool_key(); }

std::string pg_param(const db_url& u, std::string_view name) {
    for (const auto& [k, v] : u.pg_params())
        if (k == name) return v;
    return "<unset>";
}

// The message of the config_error that parsing `text` throws; fails the test if none.
std::string parse_error(const char* text) {
    try {
        db_url::parse(text);
    } catch (const config_error& e) {
        EXPECT_EQ(e.code(), make_error_code(errc::invalid_url));
        return e.what();
    }
    ADD_FAILURE() << "no error for " << text;
    return {};
}

// Found by the URL fuzz target: libpq stopped at the NUL, so the pool key did not describe the
// whole text (and did not parse back).
TEST(DbUrl, NulByteRefusedWithItsOffset) {
    const std::string text("postgresql://u:s3cret@h1:5432,h2\0\0:54/db", 41);
    try {
        (void)connmgr::db_url::parse(text);
        FAIL() << "a URL with a NUL byte was accepted";
    } catch (const connmgr::config_error& e) {
        const std::string what = e.what();
        EXPECT_NE(what.find("NUL byte at offset 32"), std::string::npos) << what;
        EXPECT_EQ(what.find("s3cret"), std::string::npos) << what;
    }
}

// Found by the URL fuzz target: a host name holding a percent-encoded ':' was put in brackets
// as if it were IPv6, and its '@' then read as userinfo when the key was parsed again.
TEST(DbUrl, HostWithEncodedColonAndAtKeepsAParsableKey) {
    const auto u = connmgr::db_url::parse("postgresql://db%40x%3Ay/app");
    const auto again = connmgr::db_url::parse(u.pool_key());
    EXPECT_EQ(again.pool_key(), u.pool_key());
    EXPECT_EQ(u.pool_key().find('['), std::string::npos) << u.pool_key();
    EXPECT_EQ(connmgr::db_url::parse("postgresql://[::1]:5433/app").pool_key().find("[::1]:5433"),
              std::string("postgresql://").size());
}

TEST(DbUrl, PostgresAliasFolded) {
    EXPECT_EQ(key("postgres://u:p@h:5432/db"), key("postgresql://u:p@h:5432/db"));
    EXPECT_EQ(key("POSTGRES://u:p@h:5432/db"), key("postgresql://u:p@h:5432/db"));
}

TEST(DbUrl, DefaultPortFilled) {
    EXPECT_EQ(key("postgresql://u:p@h/db"), key("postgresql://u:p@h:5432/db"));
    EXPECT_EQ(key("redis://h"), key("redis://h:6379/0"));
    EXPECT_EQ(key("redis://h/"), key("redis://h:6379/0"));
    EXPECT_EQ(db_url::parse("redis://h").redis().port, 6379);
}

TEST(DbUrl, HostLowerCased) {
    EXPECT_EQ(key("postgresql://u:p@DB.Example.COM/db"), key("postgresql://u:p@db.example.com/db"));
    EXPECT_EQ(key("redis://LOCALHOST:6379/0"), key("redis://localhost:6379/0"));
    EXPECT_EQ(db_url::parse("redis://LocalHost/0").redis().host, "localhost");
}

TEST(DbUrl, QueryParametersSorted) {
    EXPECT_EQ(key("postgresql://u@h/db?sslmode=disable&application_name=x"),
              key("postgresql://u@h/db?application_name=x&sslmode=disable"));
    EXPECT_EQ(key("rediss://h/0?ssl_cert_reqs=none&ssl_ca_certs=/ca.pem"),
              key("rediss://h/0?ssl_ca_certs=/ca.pem&ssl_cert_reqs=none"));
}

TEST(DbUrl, RedisDbFromQueryEqualsPath) {
    EXPECT_EQ(key("redis://h?db=3"), key("redis://h/3"));
    EXPECT_EQ(db_url::parse("redis://h?db=3").redis().db, 3);
}

TEST(DbUrl, DifferentPartsGiveDifferentKeys) {
    const std::string base = key("postgresql://u:p@h:5432/db");
    EXPECT_NE(base, key("postgresql://v:p@h:5432/db"));            // user
    EXPECT_NE(base, key("postgresql://u:q@h:5432/db"));            // password
    EXPECT_NE(base, key("postgresql://u:p@h:5432/db2"));           // database
    EXPECT_NE(base, key("postgresql://u:p@h2:5432/db"));           // host
    EXPECT_NE(base, key("postgresql://u:p@h:5433/db"));            // port
    EXPECT_NE(key("redis://h:6379/0"), key("redis://h:6379/1"));   // db number
    EXPECT_NE(key("redis://h:6379/0"), key("redis://h2:6379/0"));  // host
    EXPECT_NE(key("redis://:a@h/0"), key("redis://:b@h/0"));       // password
    EXPECT_NE(key("redis://x:a@h/0"), key("redis://y:a@h/0"));     // user
    EXPECT_NE(key("redis://h/0"), key("rediss://h/0"));            // TLS
}

TEST(DbUrl, MultiHostPostgres) {
    const auto u =
        db_url::parse("postgresql://u:p@h1:5432,H2:5433/db?target_session_attrs=read-write");
    EXPECT_EQ(u.kind(), backend::postgres);
    EXPECT_EQ(pg_param(u, "host"), "h1,H2");  // as libpq parsed it: handed to the driver
    EXPECT_EQ(pg_param(u, "port"), "5432,5433");
    EXPECT_EQ(pg_param(u, "dbname"), "db");
    EXPECT_EQ(pg_param(u, "user"), "u");
    EXPECT_EQ(pg_param(u, "password"), "p");
    EXPECT_EQ(pg_param(u, "target_session_attrs"), "read-write");
    EXPECT_EQ(u.redacted(),
              "postgresql://u:***@h1:5432,h2:5433/db?target_session_attrs=read-write");
    EXPECT_EQ(u.pool_key(), key("postgresql://u:p@H1,h2:5433/db?target_session_attrs=read-write"));
}

TEST(DbUrl, PgParamsOnlyWhatWasSet) {
    const auto u = db_url::parse("postgresql://h/db");
    EXPECT_EQ(pg_param(u, "host"), "h");
    EXPECT_EQ(pg_param(u, "port"), "<unset>");
    EXPECT_EQ(pg_param(u, "password"), "<unset>");
}

TEST(DbUrl, RedactedHidesEveryPassword) {
    const auto pg = db_url::parse("postgresql://app:pg-secret@h/db");
    EXPECT_EQ(pg.redacted(), "postgresql://app:***@h:5432/db");
    EXPECT_NE(pg.pool_key().find("pg-secret"), std::string::npos);
    const auto pg_query = db_url::parse("postgresql://app@h/db?password=q-secret&sslmode=disable");
    EXPECT_EQ(pg_query.redacted().find("q-secret"), std::string::npos);
    EXPECT_NE(pg_query.redacted().find("***"), std::string::npos);
    const auto redis = db_url::parse("redis://user:r-secret@h:6380/2");
    EXPECT_EQ(redis.redacted(), "redis://user:***@h:6380/2");
    EXPECT_EQ(redis.redis().password, "r-secret");
    EXPECT_EQ(redis.redis().user, "user");
    const auto no_user = db_url::parse("redis://:only-secret@h");
    EXPECT_EQ(no_user.redacted(), "redis://:***@h:6379/0");
    EXPECT_EQ(no_user.redis().user, "");
}

TEST(DbUrl, UnixSocket) {
    const auto u = db_url::parse("unix://user:pw@/tmp/redis.sock?db=2");
    EXPECT_EQ(u.kind(), backend::redis);
    EXPECT_EQ(u.redis().socket_path, "/tmp/redis.sock");
    EXPECT_EQ(u.redis().host, "");
    EXPECT_EQ(u.redis().db, 2);
    EXPECT_EQ(u.redis().password, "pw");
    EXPECT_EQ(u.redacted(), "unix://user:***@/tmp/redis.sock?db=2");
    EXPECT_EQ(key("unix:///tmp/redis.sock"), key("unix:///tmp/redis.sock?db=0"));
}

TEST(DbUrl, RedisTls) {
    const auto u = db_url::parse("rediss://h:6381/0?ssl_ca_certs=/x/ca.pem&ssl_cert_reqs=none");
    EXPECT_TRUE(u.redis().tls);
    EXPECT_EQ(u.redis().tls_ca_file, "/x/ca.pem");
    EXPECT_FALSE(u.redis().tls_verify);
    EXPECT_TRUE(db_url::parse("rediss://h").redis().tls_verify);
    EXPECT_FALSE(db_url::parse("redis://h").redis().tls);
}

TEST(DbUrl, RedisIpv6) {
    const auto u = db_url::parse("redis://[::1]:6380/2");
    EXPECT_EQ(u.redis().host, "::1");
    EXPECT_EQ(u.redis().port, 6380);
    EXPECT_EQ(u.redacted(), "redis://[::1]:6380/2");
}

TEST(DbUrl, PostgresUnixSocketDirectoryKeepsCase) {
    const auto u = db_url::parse("postgresql://%2FTmp%2FSock/db");
    EXPECT_EQ(pg_param(u, "host"), "/Tmp/Sock");
    EXPECT_EQ(u.redacted(), "postgresql://%2FTmp%2FSock:5432/db");
}

// Found by tests/fuzz/url_fuzz.cpp: the key of a socket-directory URL read back as a path.
TEST(DbUrl, PostgresSocketDirectoryKeyParsesBackToItself) {
    const auto u = db_url::parse("postgresql://u:pw@%2Fvar%2Frun%2Fpostgresql/db");
    const auto again = db_url::parse(u.pool_key());
    EXPECT_EQ(pg_param(again, "host"), "/var/run/postgresql");
    EXPECT_EQ(again.pool_key(), u.pool_key());
    EXPECT_EQ(db_url::parse(u.redacted()).redacted(), u.redacted());
}

// Found by tests/fuzz/url_fuzz.cpp: "unix:////" was accepted and its pool key did not parse.
TEST(DbUrl, UnixSocketPathOfOnlySlashesRejected) {
    EXPECT_NE(parse_error("unix:////").find("missing socket path"), std::string::npos);
    const auto u = db_url::parse("unix:////tmp/redis.sock");
    EXPECT_EQ(db_url::parse(u.pool_key()).pool_key(), u.pool_key());
}

TEST(DbUrl, FalkorDb) {
    const auto u = db_url::parse("falkordb://Graph.local");
    EXPECT_EQ(u.kind(), backend::falkordb);
    EXPECT_EQ(u.redis().host, "graph.local");
    EXPECT_EQ(u.redis().port, 6379);
}

TEST(DbUrl, BackendNames) {
    EXPECT_EQ(to_string(backend::postgres), "postgres");
    EXPECT_EQ(to_string(backend::redis), "redis");
    EXPECT_EQ(to_string(backend::falkordb), "falkordb");
}

TEST(DbUrl, ErrorsNeverShowThePassword) {
    const char* bad[] = {
        "mysql://u:hunter2@h/db",
        "redis://u:hunter2@h/notanumber",
        "redis://u:hunter2@h:99999/0",
        "redis://u:hunter2@h/0?sentinel=x",
        "postgresql://u:hunter2@h:70000/db",
        "postgresql://u:hunter2@h/db?no_such_param=1",
        "postgresql://u:hunter2@h1,h2/db?port=1,2,3",
        "redis://u:hunter2@h/0?ssl_cert_reqs=sometimes",
        "unix://u:hunter2@",
        "redis://u:hunter2@[zz/0",
        "no scheme hunter2",
        // Found by tests/fuzz/url_fuzz.cpp: a '?' before the userinfo puts the password into
        // the query, and the unknown-parameter message quoted it.
        "rediss://u?x:hunter2@h/0",
    };
    for (const char* text : bad) {
        const std::string message = parse_error(text);
        EXPECT_EQ(message.find("hunter2"), std::string::npos) << message;
        EXPECT_FALSE(message.empty()) << text;
    }
}

TEST(DbUrl, UnsupportedSchemeNamed) {
    EXPECT_NE(parse_error("mysql://h/db").find("unsupported scheme 'mysql'"), std::string::npos);
}

TEST(DbUrl, LibpqParameterErrorPassesThrough) {
    EXPECT_NE(parse_error("postgresql://h/db?no_such_param=1").find("no_such_param"),
              std::string::npos);
}

}  // namespace
// DESIGN §12: the multi-host form's own parameters are checked where the URL is read.
TEST(DbUrl, MultiHostTargetSessionAttrsMustBeOneOfLibpqsSix) {
    for (const char* ok :
         {"any", "read-write", "read-only", "primary", "standby", "prefer-standby"}) {
        const auto u = db_url::parse(
            std::string("postgresql://u:pw@h1:5432,h2:5433/db?target_session_attrs=") + ok);
        EXPECT_EQ(pg_param(u, "target_session_attrs"), ok);
    }
    const auto m = parse_error("postgresql://u:s3cret@h1,h2/db?target_session_attrs=master");
    EXPECT_NE(m.find("target_session_attrs must be one of"), std::string::npos) << m;
    EXPECT_NE(m.find("'master'"), std::string::npos) << m;
    EXPECT_EQ(m.find("s3cret"), std::string::npos) << m;
}

TEST(DbUrl, LoadBalanceHostsIsKeptForConnmgrAndValidated) {
    const auto u = db_url::parse(
        "postgresql://u@h1:5432,h2:5433/db?load_balance_hosts=random&sslmode=disable");
    EXPECT_EQ(pg_param(u, "load_balance_hosts"), "random");
    EXPECT_EQ(pg_param(u, "sslmode"), "disable");  // the rest of the query still reaches libpq
    const auto m = parse_error("postgresql://u:s3cret@h1,h2/db?load_balance_hosts=roundrobin");
    EXPECT_NE(m.find("load_balance_hosts must be disable or random"), std::string::npos) << m;
    EXPECT_EQ(m.find("s3cret"), std::string::npos) << m;
}

TEST(DbUrl, AnEmptyHostInAHostListIsRefused) {
    const auto m = parse_error("postgresql://u:s3cret@h1:5432,:5433/db");
    EXPECT_NE(m.find("host 2 of 2 in the host list is empty"), std::string::npos) << m;
    EXPECT_EQ(m.find("s3cret"), std::string::npos) << m;
}

// DESIGN §12, Redis Sentinel: the host list is connmgr's own, the service comes from the path.
TEST(SentinelUrl, HostListServiceAndDefaults) {
    const auto u =
        db_url::parse("redis+sentinel://:dat4pw@S1.example:26380,s2,[::1]:26381/mymaster/2");
    EXPECT_EQ(u.kind(), backend::redis);
    ASSERT_TRUE(u.is_sentinel());
    const auto& s = u.sentinel();
    ASSERT_EQ(s.sentinels.size(), 3u);
    EXPECT_EQ(s.sentinels[0], (sentinel_address{"s1.example", 26380}));
    EXPECT_EQ(s.sentinels[1], (sentinel_address{"s2", 26379}));  // the sentinel default port
    EXPECT_EQ(s.sentinels[2], (sentinel_address{"::1", 26381}));
    EXPECT_EQ(s.service, "mymaster");
    EXPECT_FALSE(s.replica);
    EXPECT_FALSE(s.tls);
    EXPECT_EQ(u.redis().password, "dat4pw");  // the user-info password is the data servers'
    EXPECT_EQ(u.redis().db, 2);
    EXPECT_FALSE(u.redis().tls);
    EXPECT_TRUE(u.redis().host.empty());  // the sentinels name it
    EXPECT_EQ(u.redacted(),
              "redis+sentinel://:***@s1.example:26380,s2:26379,[::1]:26381/mymaster/2");
    EXPECT_FALSE(db_url::parse("redis://h/0").is_sentinel());
}

TEST(SentinelUrl, SchemesAndKinds) {
    EXPECT_EQ(db_url::parse("falkordb+sentinel://h/graphmaster").kind(), backend::falkordb);
    const auto t = db_url::parse("rediss+sentinel://h/m?sentinel_tls=true&ssl_cert_reqs=none");
    EXPECT_TRUE(t.redis().tls);
    EXPECT_TRUE(t.sentinel().tls);
    EXPECT_FALSE(t.redis().tls_verify);
    EXPECT_FALSE(db_url::parse("rediss+sentinel://h/m").sentinel().tls);
    EXPECT_EQ(db_url::parse("REDIS+SENTINEL://h/m").pool_key(), key("redis+sentinel://h/m"));
}

TEST(SentinelUrl, KeyIsNormalized) {
    EXPECT_EQ(key("redis+sentinel://H1,h2:26379/m"), key("redis+sentinel://h1:26379,h2/m/0"));
    EXPECT_EQ(key("redis+sentinel://h/m?role=master"), key("redis+sentinel://h/m"));
    EXPECT_EQ(key("redis+sentinel://h/m?db=3"), key("redis+sentinel://h/m/3"));
    EXPECT_EQ(key("redis+sentinel://h/m?sentinel_user=a&role=replica"),
              key("redis+sentinel://h/m?role=REPLICA&sentinel_user=a"));
    EXPECT_NE(key("redis+sentinel://h/m"), key("redis+sentinel://h/n"));    // service
    EXPECT_NE(key("redis+sentinel://h/m"), key("redis+sentinel://h/m/1"));  // db
    EXPECT_NE(key("redis+sentinel://h/m"), key("redis+sentinel://h/m?role=replica"));
    EXPECT_NE(key("redis+sentinel://h/m"), key("redis+sentinel://h2/m"));       // sentinels
    EXPECT_NE(key("redis+sentinel://:a@h/m"), key("redis+sentinel://:b@h/m"));  // password
    EXPECT_NE(key("redis+sentinel://h/m?sentinel_password=a"),
              key("redis+sentinel://h/m?sentinel_password=b"));
    EXPECT_NE(key("redis+sentinel://h/m"), key("falkordb+sentinel://h/m"));
    EXPECT_NE(key("redis+sentinel://h/m"), key("redis://h/0"));
}

TEST(SentinelUrl, BothPasswordsAreRedactedAndKeptApart) {
    const auto u = db_url::parse(
        "redis+sentinel://app:d%40ta@h1,h2/m?sentinel_user=sen&sentinel_password=s3ntin%26l");
    EXPECT_EQ(u.redis().user, "app");
    EXPECT_EQ(u.redis().password, "d@ta");
    EXPECT_EQ(u.sentinel().user, "sen");
    EXPECT_EQ(u.sentinel().password, "s3ntin&l");
    EXPECT_EQ(u.redacted(),
              "redis+sentinel://app:***@h1:26379,h2:26379/m/0"
              "?sentinel_password=***&sentinel_user=sen");
    EXPECT_EQ(u.redacted().find("d%40ta"), std::string::npos);
    EXPECT_EQ(u.redacted().find("s3ntin"), std::string::npos);
    // The key keeps both secrets (never printed) and parses back to itself.
    const auto again = db_url::parse(u.pool_key());
    EXPECT_EQ(again.pool_key(), u.pool_key());
    EXPECT_EQ(again.sentinel().password, "s3ntin&l");
    EXPECT_EQ(again.redis().password, "d@ta");
    // The redacted form parses too, to itself.
    EXPECT_EQ(db_url::parse(u.redacted()).redacted(), u.redacted());
}

TEST(SentinelUrl, BadInputNamesTheProblemAndNeverAPassword) {
    struct case_t {
        const char* url;
        const char* says;
    };
    for (const auto& c : std::initializer_list<case_t>{
             {"redis+sentinel://:s3cret@/m", "missing the sentinel list"},
             {"redis+sentinel://:s3cret@h1,,h3/m", "sentinel 2 of 3 in the host list is empty"},
             {"redis+sentinel://:s3cret@h1:0/m", "sentinel 1 of 1: invalid port '0'"},
             {"redis+sentinel://:s3cret@h1:99999/m", "invalid port '99999'"},
             {"redis+sentinel://:s3cret@h1:/m", "empty port"},
             {"redis+sentinel://:s3cret@[::1/m", "unterminated '['"},
             {"redis+sentinel://:s3cret@[nope]:1/m", "is not an IPv6 address"},
             {"redis+sentinel://:s3cret@h1", "missing the service name"},
             {"redis+sentinel://:s3cret@h1/", "missing the service name"},
             {"redis+sentinel://:s3cret@h1/m/x", "the path must be /<service>[/<db number>]"},
             {"redis+sentinel://:s3cret@h1/m/1/2", "the path must be /<service>[/<db number>]"},
             {"redis+sentinel://:s3cret@h1/m?role=leader", "role must be master or replica"},
             {"redis+sentinel://:s3cret@h1/m?sentinel_tls=yes",
              "sentinel_tls must be true or false"},
             {"redis+sentinel://:s3cret@h1/m?sentinel_tls=true", "needs rediss+sentinel://"},
             {"redis+sentinel://:s3cret@h1/m?foo=1", "unknown query parameter 'foo'"},
             {"redis+sentinel://:s3cret@h1/m#frag", "a fragment"},
             {"redis+sentinel://:s3cret@h%zz/m", "malformed percent-escape"},
         }) {
        const auto m = parse_error(c.url);
        EXPECT_NE(m.find(c.says), std::string::npos) << c.url << " -> " << m;
        EXPECT_EQ(m.find("s3cret"), std::string::npos) << m;
    }
    // The sentinels' password is never quoted either.
    const auto m = parse_error("redis+sentinel://h1:s3nt/m?sentinel_password=s3nt");
    EXPECT_EQ(m.find("s3nt"), std::string::npos) << m;
    EXPECT_NE(parse_error("redis+sentinell://h/m").find("redis+sentinel"), std::string::npos);
}

}  // namespace connmgr
