// A failed Redis connect says why, in the server's words, and whether a retry can help
// (connect_failure: permanent for credentials, ACL users, database index and TLS verification;
// server_full at maxclients), for both drivers. No password ever appears in a message.
#include "redis_test_env.hpp"

#include <connmgr/error.hpp>
#include <connmgr/redis/async_driver.hpp>
#include <connmgr/redis/sync_driver.hpp>

#include <boost/asio/io_context.hpp>

#include <gtest/gtest.h>

using connmgr::connect_failure;
using connmgr::errc;
using namespace std::chrono_literals;

namespace {

constexpr const char* secret = "wrong-Pa55word-xyz";

struct outcome {
    bool connected{false};
    boost::system::error_code error;
    std::string message;
    connect_failure failure{connect_failure::transient};
};

/// Both drivers' answers for one endpoint.
std::vector<outcome> connect_both(const connmgr::redis_endpoint& ep) {
    std::vector<outcome> out;
    connmgr::redis::sync_driver sd(ep, "connect-test", {.connect_timeout = 3s});
    auto s = sd.connect(redis_test::in(3s));
    out.push_back({s.connection != nullptr, s.error, s.message, s.failure});
    boost::asio::io_context io;
    connmgr::redis::async_driver ad(ep, "connect-test", {.connect_timeout = 3s});
    outcome a;
    ad.async_connect(io.get_executor(), redis_test::in(3s),
                     [&](connmgr::connect_outcome<connmgr::redis::async_connection> o) {
                         a = {o.connection != nullptr, o.error, o.message, o.failure};
                     });
    io.run();
    out.push_back(a);
    return out;
}

void expect_refused(const connmgr::redis_endpoint& ep, connect_failure kind,
                    std::string_view server_words) {
    for (const auto& o : connect_both(ep)) {
        EXPECT_FALSE(o.connected);
        EXPECT_EQ(o.error, errc::connect_failed);
        EXPECT_EQ(o.failure, kind) << o.message;
        EXPECT_NE(o.message.find(server_words), std::string::npos) << o.message;
        EXPECT_EQ(o.message.find(secret), std::string::npos) << o.message;
    }
}

}  // namespace

TEST(RedisConnect, UnknownAclUserIsPermanent) {
    REDIS_ENDPOINT_OR_SKIP("CONNMGR_TEST_REDIS_AUTH_URL", ep);
    auto bad = ep;
    bad.user = "no-such-user-" + std::to_string(::getpid());
    bad.password = secret;
    expect_refused(bad, connect_failure::permanent, "WRONGPASS");
}

TEST(RedisConnect, WrongPasswordIsPermanent) {
    REDIS_ENDPOINT_OR_SKIP("CONNMGR_TEST_REDIS_AUTH_URL", ep);
    auto bad = ep;
    bad.password = secret;
    expect_refused(bad, connect_failure::permanent, "WRONGPASS");
}

TEST(RedisConnect, MissingPasswordIsPermanent) {
    REDIS_ENDPOINT_OR_SKIP("CONNMGR_TEST_REDIS_AUTH_URL", ep);
    auto none = ep;
    none.user.clear();
    none.password.clear();
    expect_refused(none, connect_failure::permanent, "NOAUTH");
}

TEST(RedisConnect, DatabaseOutOfRangeIsPermanent) {
    REDIS_ENDPOINT_OR_SKIP("CONNMGR_TEST_REDIS_URL", ep);
    auto bad = ep;
    bad.db = 9999;
    expect_refused(bad, connect_failure::permanent, "DB index is out of range");
}

TEST(RedisConnect, UnverifiedTlsCertificateIsPermanent) {
    REDIS_ENDPOINT_OR_SKIP("CONNMGR_TEST_REDIS_TLS_URL", ep);
    auto no_ca = ep;
    no_ca.tls_ca_file.clear();  // system CAs do not know the test CA
    expect_refused(no_ca, connect_failure::permanent, "certificate verify failed");
}

TEST(RedisConnect, RefusedConnectionIsTransient) {
    REDIS_ENDPOINT_OR_SKIP("CONNMGR_TEST_REDIS_URL", ep);
    auto closed = ep;
    closed.port = 1;  // nothing listens there
    for (const auto& o : connect_both(closed)) {
        EXPECT_FALSE(o.connected);
        EXPECT_EQ(o.failure, connect_failure::transient) << o.message;
    }
}

TEST(RedisConnect, MaxClientsIsServerFull) {
    REDIS_ENDPOINT_OR_SKIP("CONNMGR_TEST_REDIS_AUTH_URL", ep);
    connmgr::redis::sync_driver d(ep, "connect-test-observer", {});
    auto observer = d.connect(redis_test::in(5s));
    ASSERT_TRUE(observer.connection) << observer.message;
    auto& admin = *observer.connection;
    const std::string before = admin.command({"CONFIG", "GET", "maxclients"})[1].str();
    admin.command({"CONFIG", "SET", "maxclients", "1"});  // only the observer fits
    std::vector<outcome> got;
    try {
        got = connect_both(ep);
    } catch (...) {
    }
    admin.command({"CONFIG", "SET", "maxclients", before});
    ASSERT_EQ(got.size(), 2U);
    for (const auto& o : got) {
        EXPECT_FALSE(o.connected);
        EXPECT_EQ(o.failure, connect_failure::server_full) << o.message;
        EXPECT_NE(o.message.find("max number of clients reached"), std::string::npos) << o.message;
    }
}
