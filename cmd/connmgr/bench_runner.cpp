#include "bench_runner.hpp"

#include <boost/system/system_error.hpp>

#include <algorithm>
#include <latch>
#include <thread>
#include <vector>

namespace connmgr::bench {

first_failure failure_message(std::exception_ptr failure) {
    first_failure out;
    out.at = bench_clock::now();
    try {
        std::rethrow_exception(failure);
    } catch (const boost::system::system_error& e) {
        // Boost.System's what() is "<what>: <code message> [<category>:<value>]", or the
        // code's part alone when the exception was made from a code.
        out.message = e.what();
        const std::string code = e.code().message();
        if (const auto suffix = out.message.rfind(": " + code); suffix != std::string::npos) {
            out.message.resize(suffix);
        } else if (out.message.rfind(code, 0) == 0) {
            out.message = code;
            out.detailed = false;
        }
    } catch (const std::exception& e) {
        out.message = e.what();
    } catch (...) {
        out.message = "an exception that is not a std::exception";
    }
    if (out.message.empty()) {
        out.message = "(no message)";
        out.detailed = false;
    }
    return out;
}

namespace detail {

std::size_t run_state::next_batch(std::uint64_t sent) const {
    const std::size_t batch = std::max<std::size_t>(plan_.pipeline, 1);
    if (plan_.requests_per_client > 0) {
        if (sent >= plan_.requests_per_client) return 0;
        return static_cast<std::size_t>(
            std::min<std::uint64_t>(batch, plan_.requests_per_client - sent));
    }
    return bench_clock::now() - start_ < plan_.duration ? batch : 0;
}

void run_state::record(run_result& tally, std::size_t n, bench_clock::time_point begun,
                       std::exception_ptr failure, const error_classifier& classify) {
    if (!failure) {
        tally.latency.record(bench_clock::now() - begun);
        tally.ok += n;
        done_.fetch_add(n, std::memory_order_relaxed);
        return;
    }
    std::string name = classify(failure);
    if (!tally.first_errors.contains(name))
        tally.first_errors.emplace(name, failure_message(failure));
    tally.errors[std::move(name)] += n;
    done_.fetch_add(n, std::memory_order_relaxed);
    failed_.fetch_add(n, std::memory_order_relaxed);
}

void run_state::client_done() {
    std::lock_guard lock{mutex_};
    if (--clients_left_ == 0) {
        end_ = bench_clock::now();
        all_done_.notify_all();
    }
}

void run_state::wait(const run_observer& observe) {
    std::unique_lock lock{mutex_};
    for (;;) {
        const bool finished =
            all_done_.wait_for(lock, sample_interval, [&] { return clients_left_ == 0; });
        if (observe) {
            lock.unlock();
            observe(done_.load(std::memory_order_relaxed), failed_.load(std::memory_order_relaxed),
                    bench_clock::now() - start_);
            lock.lock();
        }
        if (finished) return;
    }
}

run_result merge(const std::vector<run_result>& tallies) {
    run_result all;
    for (const auto& t : tallies) {
        all.latency.merge(t.latency);
        all.ok += t.ok;
        for (const auto& [name, count] : t.errors) all.errors[name] += count;
        for (const auto& [name, first] : t.first_errors) {
            auto [it, added] = all.first_errors.emplace(name, first);
            if (!added && first.at < it->second.at) it->second = first;
        }
    }
    return all;
}

}  // namespace detail

run_result run_sync(const run_plan& plan,
                    const std::function<sync_request(std::size_t client)>& make_client,
                    const error_classifier& classify, const run_observer& observe) {
    detail::run_state state{plan, plan.clients};
    std::vector<run_result> tallies(plan.clients);
    // Every thread sets up its client, then all start together on the latch.
    std::latch ready{static_cast<std::ptrdiff_t>(plan.clients) + 1};
    std::latch go{1};
    std::vector<std::jthread> threads;
    threads.reserve(plan.clients);
    for (std::size_t i = 0; i < plan.clients; ++i) {
        threads.emplace_back([&, i] {
            run_result& tally = tallies[i];
            sync_request request;
            std::exception_ptr setup_failure;
            try {
                request = make_client(i);
            } catch (...) {
                setup_failure = std::current_exception();
            }
            ready.count_down();
            go.wait();
            std::uint64_t sent = 0;
            while (const std::size_t n = state.next_batch(sent)) {
                const auto begun = bench_clock::now();
                std::exception_ptr failure = setup_failure;
                if (!failure) {
                    try {
                        request(n);
                    } catch (...) {
                        failure = std::current_exception();
                    }
                }
                state.record(tally, n, begun, failure, classify);
                sent += n;
            }
            state.client_done();
        });
    }
    ready.arrive_and_wait();
    state.start();
    go.count_down();
    state.wait(observe);
    threads.clear();  // joins
    run_result result = detail::merge(tallies);
    result.elapsed = state.elapsed();
    return result;
}

}  // namespace connmgr::bench
