// Cancellation storm (issue 16; pgx #1259 / PR #2425's failure): 10,000 async acquires, each
// cancelled through its cancellation slot at a random point: at once (queued), after a random
// delay (queued, or while the pool connects for it), or never (handed off, then the signal fires
// on an operation that is already done). Every tenth connection handed out is marked broken,
// so the pool keeps connecting throughout. Afterwards nothing may be left behind: no lease, no
// waiter, no connect running, every slot usable again, and the server never saw more than
// max_size connections.
#include "../fault/scenario.hpp"

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/post.hpp>

#include <random>

namespace connmgr::scenario {
namespace {

constexpr int acquires = 10'000;
constexpr int in_flight = 200;  // acquires outstanding at once
constexpr std::size_t pool_size = 8;

pool_options storm_pool() {
    pool_options p;
    p.max_size = pool_size;
    p.min_idle = 0;
    p.acquire_timeout = 2s;
    p.connect_timeout = 5s;
    return p;
}

// Where the cancellation was emitted, as far as the test can tell at that moment.
struct points {
    long queued_idle{0};        // the pool had no connect running
    long queued_connecting{0};  // a connect was running for the waiters
    long after_hand_off{0};     // the handler had already run
};

class CancelStorm : public Scenario {
protected:
    // The async pool of this test's database, as stats() shows it.
    std::optional<pool_stats> async_stats() {
        for (auto& p : manager_.stats().pools)
            if (p.flavour == connmgr::flavour::async &&
                std::find(p.databases.begin(), p.databases.end(), name_) != p.databases.end())
                return p;
        return std::nullopt;
    }

    // Runs the storm on io_ (its one thread owns every signal and counter below).
    template <class Client>
    void storm(Client& client, tally& t, points& where) {
        struct op {
            asio::cancellation_signal signal;
            asio::steady_timer timer;
            bool done{false};
            clock::time_point start{clock::now()};
            explicit op(asio::io_context& io) : timer(io) {}
        };
        std::mt19937 rng(16);  // fixed: a failure is reproducible
        int started = 0;
        int finished = 0;
        std::promise<void> all_done;
        std::function<void()> launch;
        launch = [&] {
            const int i = started++;
            auto o = std::make_shared<op>(io_);
            auto on_acquired = [&, o, i](boost::system::error_code ec, auto lease) {
                o->done = true;
                o->timer.cancel();
                t.add(name_of(ec), clock::now() - o->start);
                if (!ec) {
                    if (i % 10 == 0) lease.mark_broken();
                    lease.release();
                }
                if (started < acquires) launch();
                if (++finished == acquires) all_done.set_value();
            };
            client.async_acquire(asio::bind_cancellation_slot(
                o->signal.slot(), asio::bind_executor(io_, std::move(on_acquired))));
            const auto pick = rng() % 100;
            auto cancel = [this, o, &where] {
                if (o->done) {
                    ++where.after_hand_off;
                } else {
                    const auto s = async_stats();
                    ++(s && s->connecting > 0 ? where.queued_connecting : where.queued_idle);
                }
                o->signal.emit(asio::cancellation_type::terminal);
            };
            if (pick < 30) {
                cancel();  // at once: the acquire is queued (or handed off already)
            } else if (pick < 90) {
                o->timer.expires_after(std::chrono::microseconds(rng() % 3000));
                o->timer.async_wait([cancel](boost::system::error_code ec) {
                    if (!ec) cancel();
                });
            } else {
                // Never cancelled while pending: the signal fires once it is done.
                o->timer.expires_after(20ms);
                o->timer.async_wait([o, cancel](boost::system::error_code) {
                    if (o->done) cancel();
                });
            }
        };
        asio::post(io_, [&] {
            for (int n = 0; n < in_flight; ++n) launch();
        });
        ASSERT_EQ(all_done.get_future().wait_for(120s), std::future_status::ready)
            << finished << " of " << acquires << " acquires completed";
        // The last timers may still be pending on io_: let them run before `launch` goes.
        std::promise<void> drained;
        asio::post(io_, [&] { drained.set_value(); });
        drained.get_future().wait();
    }
};

TEST_P(CancelStorm, NothingLeakedNoConnectLeftRunningServerWithinMaxSize) {
    open(storm_pool());
    tally t;
    points where;
    if (is_redis())
        storm(redis_, t, where);
    else
        storm(pg_, t, where);

    // Settled: every lease back, no waiter left, no connect still running for a cancelled one.
    std::optional<pool_stats> last;
    const auto settle_start = clock::now();
    bool settled = false;
    while (clock::now() - settle_start < storm_pool().connect_timeout + 5s) {
        last = async_stats();
        if (last && last->in_use == 0 && last->waiters == 0 && last->connecting == 0 &&
            last->leases.empty()) {
            settled = true;
            break;
        }
        std::this_thread::sleep_for(20ms);
    }
    const auto settle =
        std::chrono::duration_cast<milliseconds>(clock::now() - settle_start).count();

    // Every slot usable again: max_size leases at once, none waiting for a slot that leaked.
    tally after;
    std::vector<std::future<void>> holders;
    for (std::size_t i = 0; i < pool_size; ++i)
        holders.push_back(asio::co_spawn(
            io_, [&]() -> asio::awaitable<void> { co_await async_request(after, -1, 300ms); },
            asio::use_future));
    for (auto& f : holders) f.get();

    char extra[256];
    std::snprintf(
        extra, sizeof extra,
        "cancel_queued=%ld cancel_connecting=%ld cancel_after_hand_off=%ld "
        "settle=%lldms created=%llu leaked_in_use=%zu leaked_waiters=%zu leaked_connecting=%zu",
        where.queued_idle, where.queued_connecting, where.after_hand_off,
        static_cast<long long>(settle),
        static_cast<unsigned long long>(last ? last->created_total : 0), last ? last->in_use : 0,
        last ? last->waiters : 0, last ? last->connecting : 0);
    report("cancel_storm", t, extra);

    EXPECT_EQ(t.total(), acquires) << "every acquire completes exactly once";
    for (const auto& [o, n] : t.by_outcome())
        EXPECT_TRUE(o == "ok" || o == "operation_aborted" || o == "acquire_timeout")
            << n << " x " << o;
    EXPECT_GT(t.count("operation_aborted"), 0);
    EXPECT_GT(t.count("ok"), 0);
    EXPECT_GT(where.queued_connecting, 0) << "no cancellation landed while a connect ran";
    EXPECT_GT(where.after_hand_off, 0);
    ASSERT_TRUE(settled) << "in_use=" << (last ? last->in_use : 0)
                         << " waiters=" << (last ? last->waiters : 0)
                         << " connecting=" << (last ? last->connecting : 0);
    EXPECT_LE(last->open, pool_size);
    EXPECT_EQ(after.count("ok"), static_cast<long>(pool_size)) << after.describe();
    expect_peak_within_max_size();
}

std::vector<param> async_params() {
    std::vector<param> out;
    for (const auto& t : targets) out.push_back({t, flavour::async});
    return out;
}

INSTANTIATE_TEST_SUITE_P(Load, CancelStorm, testing::ValuesIn(async_params()), param_name);

}  // namespace
}  // namespace connmgr::scenario
