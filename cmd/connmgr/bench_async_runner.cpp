#include "bench_async_runner.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <vector>

namespace connmgr::bench {
namespace {

namespace asio = boost::asio;

asio::awaitable<void> client_loop(detail::run_state& state, async_request request,
                                  run_result& tally, const error_classifier& classify) {
    std::uint64_t sent = 0;
    while (const std::size_t n = state.next_batch(sent)) {
        const auto begun = bench_clock::now();
        std::exception_ptr failure;
        try {
            co_await request(n);
        } catch (...) {
            failure = std::current_exception();
        }
        state.record(tally, n, begun, failure, classify);
        sent += n;
    }
}

}  // namespace

run_result run_async(const run_plan& plan, const std::vector<asio::any_io_executor>& executors,
                     const std::function<async_request(std::size_t client)>& make_client,
                     const error_classifier& classify, const run_observer& observe) {
    detail::run_state state{plan, plan.clients};
    // One tally per executor, shared by the clients spawned on it: they run one at a time
    // there (one thread per executor), and a tally's histogram is 30 KiB, which per client
    // was a third of what each client's connection appeared to cost (bench's RSS per client).
    const std::size_t lanes = executors.size();
    std::vector<run_result> tallies(lanes);
    std::vector<async_request> requests;
    requests.reserve(plan.clients);
    for (std::size_t i = 0; i < plan.clients; ++i) requests.push_back(make_client(i));

    // Each executor spawns its share from inside itself, and the clock starts before any
    // spawn, so no client runs before its own thread's clients are spawned.
    state.start();
    for (std::size_t lane = 0; lane < lanes; ++lane) {
        asio::post(executors[lane], [&, lane] {
            for (std::size_t i = lane; i < plan.clients; i += lanes)
                asio::co_spawn(executors[lane],
                               client_loop(state, std::move(requests[i]), tallies[lane], classify),
                               [&](std::exception_ptr) { state.client_done(); });
        });
    }
    state.wait(observe);
    run_result result = detail::merge(tallies);
    result.elapsed = state.elapsed();
    return result;
}

}  // namespace connmgr::bench
