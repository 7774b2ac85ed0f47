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

run_result run_async(const run_plan& plan, const asio::any_io_executor& executor,
                     const std::function<async_request(std::size_t client)>& make_client,
                     const error_classifier& classify, const run_observer& observe) {
    detail::run_state state{plan, plan.clients};
    std::vector<run_result> tallies(plan.clients);
    std::vector<async_request> requests;
    requests.reserve(plan.clients);
    for (std::size_t i = 0; i < plan.clients; ++i) requests.push_back(make_client(i));

    // Spawned from inside the executor, so no client starts before all are spawned.
    state.start();
    asio::post(executor, [&] {
        for (std::size_t i = 0; i < plan.clients; ++i)
            asio::co_spawn(executor,
                           client_loop(state, std::move(requests[i]), tallies[i], classify),
                           [&](std::exception_ptr) { state.client_done(); });
    });
    state.wait(observe);
    run_result result = detail::merge(tallies);
    result.elapsed = state.elapsed();
    return result;
}

}  // namespace connmgr::bench
