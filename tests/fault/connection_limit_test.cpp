// The server's own connection limit (issues 12 and 16): a role with CONNECTION LIMIT 3 behind a
// pool of 10, sync and async, PostgreSQL direct. The 4th connect is refused with SQLSTATE 53300
// ("too many connections for role"): the pool cannot grow, the database is up. Acquirers wait
// for the 3 connections or time out with the server's message, the server never sees more than
// 3 of ours, the breaker never opens while the pool has open connections, and once the limit is
// raised (ALTER ROLE ... CONNECTION LIMIT -1) the pool grows to all 10.
#include "scenario.hpp"

#include <regex>

namespace connmgr::scenario {
namespace {

constexpr std::size_t pool_size = 10;
constexpr long server_limit = 3;
constexpr int workers = 10;
constexpr auto hold = 200ms;
constexpr auto acquire_timeout = 1s;

pool_options limit_pool() {
    pool_options p;  // the defaults otherwise; the retry and breaker too
    p.max_size = pool_size;
    p.acquire_timeout = acquire_timeout;
    p.connect_timeout = 2s;
    return p;
}

class ConnectionLimit : public Scenario {
protected:
    void SetUp() override {
        Scenario::SetUp();
        if (IsSkipped()) return;
        admin_url_ = url_;
        role_ = "rel_limited_" + std::to_string(::getpid()) + "_" + std::to_string(++roles());
        admin_exec("CREATE ROLE " + role_ + " LOGIN PASSWORD '" + password + "' CONNECTION LIMIT " +
                   std::to_string(server_limit));
        // The pool connects as the limited role; the sampler keeps the test's own role.
        url_ = std::regex_replace(admin_url_, std::regex("//[^/@]*@"),
                                  "//" + role_ + ":" + password + "@");
        observer_url_ = admin_url_;
    }

    void TearDown() override {
        Scenario::TearDown();  // close_all(), and the server-side count back to 0
        if (!role_.empty()) admin_exec("DROP ROLE IF EXISTS " + role_);
    }

    void admin_exec(const std::string& sql) {
        pqxx::connection c{admin_url_};
        pqxx::nontransaction{c}.exec(sql);
    }

    static int& roles() {
        static int n = 0;
        return n;
    }

    static constexpr const char* password = "limited-pw-7d1c";
    std::string admin_url_;
    std::string role_;
};

TEST_P(ConnectionLimit, WaitsForTheConnectionsTheServerAllowsAndGrowsWhenTheLimitIsRaised) {
    open(limit_pool());  // the default breaker: 5 consecutive failures would open it

    // The pool's own view, every 100 ms: was the breaker ever open while connections were?
    std::atomic<bool> stop_sampling{false};
    std::atomic<long> breaker_open_with_connections{0};
    std::atomic<long> breaker_open_samples{0};
    std::thread pool_sampler([&] {
        while (!stop_sampling) {
            for (const auto& ps : manager_.stats().pools) {
                if (ps.breaker == breaker_state::closed) continue;
                ++breaker_open_samples;
                if (ps.open > 0) ++breaker_open_with_connections;
            }
            std::this_thread::sleep_for(100ms);
        }
    });

    // Phase 1: at the limit.
    tally limited;
    const auto start = clock::now();
    run_load(limited, workers, start + 4s, hold, false);
    const long limited_peak = sampler_->peak();

    // The server's words reach the acquirer (sync: the exception; async completes with the
    // code only).
    std::string timeout_text;
    if (is_sync()) {
        std::vector<pg_client::sync_lease> held;
        for (long i = 0; i < server_limit; ++i) held.push_back(pg_.acquire());
        try {
            auto fourth = pg_.acquire(acquire_options{.timeout = 500ms, .holder = "fourth"});
            ADD_FAILURE() << "a 4th connection beyond the role's CONNECTION LIMIT";
        } catch (const timeout_error& e) {
            timeout_text = e.what();
        }
    }

    // Phase 2: the limit raised; the pool grows to max_size under the same load.
    admin_exec("ALTER ROLE " + role_ + " CONNECTION LIMIT -1");
    tally raised;
    std::atomic<bool> stop{false};
    const auto raised_at = clock::now();
    std::thread load([&] {
        run_load(
            raised, workers, [&] { return !stop.load(); }, hold, false);
    });
    const auto full = sampler_->await(static_cast<long>(pool_size), 15s);
    const auto grew_in = clock::now() - raised_at;
    stop = true;
    load.join();
    stop_sampling = true;
    pool_sampler.join();

    report("connection_limit", limited,
           "limit=" + std::to_string(server_limit) +
               " limited_peak=" + std::to_string(limited_peak) + " breaker_open_samples=" +
               std::to_string(breaker_open_samples.load()) + " raised: " + raised.describe() +
               " full=" + std::to_string(full.value_or(-1)) + " grew_to_max_size_in=" +
               std::to_string(std::chrono::duration_cast<milliseconds>(grew_in).count()) + "ms");
    if (!timeout_text.empty()) std::printf("connection_limit timeout: %s\n", timeout_text.c_str());

    for (const auto& [o, n] : limited.by_outcome())
        EXPECT_TRUE(o == "ok" || o == "acquire_timeout") << n << " x " << o;
    EXPECT_GT(limited.count("ok"), 0);
    EXPECT_LE(limited_peak, server_limit) << "more of our connections than the role may have";
    EXPECT_EQ(breaker_open_with_connections.load(), 0) << "the breaker opened on a full server";
    EXPECT_LE(limited.longest(), acquire_timeout + hold + 1s);
    if (is_sync()) {
        EXPECT_NE(timeout_text.find("too many connections for role"), std::string::npos)
            << timeout_text;
        EXPECT_EQ(timeout_text.find(password), std::string::npos) << "the password in a message";
    }
    EXPECT_EQ(full.value_or(-1), static_cast<long>(pool_size))
        << "the pool did not grow to max_size after the limit was raised";
    // Growth is polled within retry.base_delay (2 s) and one success starts the rest: a bound
    // of the retry policy, not a speed (it was up to max_delay, 30 s).
    EXPECT_LE(grew_in, 5s) << "growing after the limit was raised took "
                           << std::chrono::duration_cast<milliseconds>(grew_in).count() << "ms";
    for (const auto& [o, n] : raised.by_outcome())
        EXPECT_TRUE(o == "ok" || o == "acquire_timeout") << n << " x " << o;
    expect_peak_within_max_size();
}

INSTANTIATE_TEST_SUITE_P(Fault, ConnectionLimit,
                         testing::Values(param{targets[0], flavour::sync},
                                         param{targets[0], flavour::async}),
                         param_name);

}  // namespace
}  // namespace connmgr::scenario
