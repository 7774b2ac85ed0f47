// PgBouncer restarted under load (issue 16): `scripts/services.sh restart pgbouncer` (SIGTERM,
// PgBouncer's immediate shutdown, then a fresh start) while 8 threads / 16 coroutines run
// requests through it, with the default retry and breaker. No request hangs past its deadline,
// the ones in flight fail with a stated error, none is replayed (each appends a unique id), the
// pool serves again within 5 s of PgBouncer's return, and PgBouncer never lists more of our
// clients than max_size.
#include "scenario.hpp"

#include <cstdio>

namespace connmgr::scenario {
namespace {

using restart::deadline;
using restart::hold;

/// `command` with its output, and whether it exited 0.
std::pair<std::string, bool> run(const std::string& command) {
    std::string out;
    int rc = -1;
    if (FILE* p = ::popen((command + " 2>&1").c_str(), "r")) {
        char buf[4096];
        std::size_t n;
        while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
        rc = ::pclose(p);
    }
    return {std::move(out), rc == 0};
}

class PgBouncerRestart : public Scenario {
protected:
    void TearDown() override {
        // Whatever the test asserted, PgBouncer runs again for the next test.
        if (auto s = env("CONNMGR_SERVICES")) run("'" + *s + "' start pgbouncer");
        Scenario::TearDown();
    }
};

TEST_P(PgBouncerRestart, InFlightFailStatedNoneReplayedPoolRecoversWithinFiveSeconds) {
    const auto services = env("CONNMGR_SERVICES");
    if (!services) GTEST_SKIP() << "CONNMGR_SERVICES is not set";
    open(restart::pool());  // the default retry and breaker
    create_record();
    tally t;
    const auto start = clock::now();
    std::atomic<bool> stop{false};
    std::optional<clock::time_point> back_at;
    clock::duration restart_took{};
    std::string restart_log;
    std::thread chaos([&] {
        std::this_thread::sleep_for(1s);  // the scenario's schedule: restart mid-load
        const auto before = clock::now();
        auto [log, ok] = run("'" + *services + "' restart pgbouncer");
        restart_took = clock::now() - before;
        restart_log = std::move(log);
        if (ok) back_at = clock::now();
        std::this_thread::sleep_for(5s);  // the recovery window, under load
        stop = true;
    });
    run_load(
        t, is_sync() ? 8 : 16, [&] { return !stop.load(); }, hold, true);
    chaos.join();
    ASSERT_TRUE(back_at) << "PgBouncer did not start again: " << restart_log;

    const recorded r = read_record();
    const auto last_failure = t.last_failure();
    const auto recovery = last_failure && *last_failure > *back_at
                              ? std::chrono::duration_cast<milliseconds>(*last_failure - *back_at)
                              : 0ms;
    report("pgbouncer_restart", t,
           "recovery=" + std::to_string(recovery.count()) + "ms restart_took=" +
               std::to_string(std::chrono::duration_cast<milliseconds>(restart_took).count()) +
               "ms rows=" + std::to_string(r.rows) + " duplicates=" + std::to_string(r.duplicates) +
               " timeline(ok/failed): " + t.timeline(start));

    EXPECT_GT(t.total() - t.count("ok"), 0) << "no request ran into the restart";
    for (const auto& [o, n] : t.by_outcome())
        EXPECT_TRUE(o == "ok" || o == "connection_lost" || o == "query_failed" ||
                    o == "connect_failed" || o == "circuit_open" || o == "acquire_timeout" ||
                    o == "query_timeout")
            << n << " x " << o;
    EXPECT_LE(t.longest(), deadline) << "a request hung past its deadline";
    EXPECT_EQ(r.duplicates, 0) << "a request was replayed";
    // A request whose reply was lost may or may not have been applied; none applied twice.
    EXPECT_GE(r.rows, t.count("ok"));
    EXPECT_LE(r.rows, t.total());
    EXPECT_LE(recovery, 5s) << "still failing 5 s after PgBouncer came back";
    EXPECT_GT(t.ok_after(*back_at + recovery), 0) << "nothing succeeded after the restart";
    expect_peak_within(1);  // the manager's health probe has its own connection
}

INSTANTIATE_TEST_SUITE_P(Fault, PgBouncerRestart,
                         testing::Values(param{targets[1], flavour::sync},
                                         param{targets[1], flavour::async}),
                         param_name);

}  // namespace
}  // namespace connmgr::scenario
