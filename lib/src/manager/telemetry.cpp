// The manager's side of the telemetry endpoint: starting and stopping it, and the non-blocking
// health check behind GET /health.
#include "manager_impl.hpp"
#include "telemetry_server.hpp"

#include <connmgr/detail/log.hpp>
#include <connmgr/error.hpp>

#include <boost/asio/ip/address.hpp>
#include <boost/asio/post.hpp>

#include <unistd.h>

namespace connmgr::detail {

namespace {

namespace asio = boost::asio;
using asio::ip::tcp;

tcp::endpoint to_endpoint(std::string_view address) {
    const listen_address a = parse_listen_address(address);
    // "localhost" is the loopback address itself: no resolver, so nothing else is bound.
    const auto ip = a.host == "localhost" ? asio::ip::address(asio::ip::address_v4::loopback())
                                          : asio::ip::make_address(a.host);
    return {ip, a.port};
}

/// The results of one GET /health, filled as the probes complete.
struct health_run {
    std::vector<database_health> results;
    std::size_t pending{0};
    std::vector<std::shared_ptr<void>> probes;
    std::function<void(connmgr::health)> done;
};

}  // namespace

std::string manager_impl::serve_telemetry(std::string_view address, health_scope scope) {
    const tcp::endpoint endpoint = to_endpoint(address);
    std::shared_ptr<telemetry_server> previous;
    std::shared_ptr<telemetry_server> server;
    {
        std::lock_guard lock(mutex_);
        check_fork();
        previous = std::move(telemetry_);
        telemetry_listen_.clear();
    }
    if (previous) previous->stop();
    std::weak_ptr<manager_impl> weak = weak_from_this();
    telemetry_source source{[weak] {
                                auto self = weak.lock();
                                return self ? self->stats() : manager_stats{};
                            },
                            [weak, scope](std::function<void(connmgr::health)> done) {
                                if (auto self = weak.lock())
                                    self->async_health(scope, std::move(done));
                                else
                                    done(connmgr::health{});
                            }};
    {
        std::lock_guard lock(mutex_);
        try {
            server =
                std::make_shared<telemetry_server>(io_.executor(), endpoint, std::move(source));
        } catch (const boost::system::system_error& e) {
            throw error(e.code(), "telemetry: cannot listen on " + std::string(address) + ": " +
                                      e.code().message());
        }
        server->start();
        telemetry_ = server;
        telemetry_listen_ = std::string(address);
    }
    const std::string bound = to_string(server->local_endpoint());
    log(log_level::info, "telemetry: serving http://" + bound + " (/metrics /health /stats)");
    return bound;
}

void manager_impl::stop_telemetry() noexcept {
    std::shared_ptr<telemetry_server> server;
    {
        std::lock_guard lock(mutex_);
        if (pid_ != ::getpid()) return;  // the parent's endpoint: check_fork abandons it
        server = std::move(telemetry_);
        telemetry_listen_.clear();
    }
    if (server) server->stop();
}

std::string manager_impl::telemetry_address() const {
    std::lock_guard lock(mutex_);
    return telemetry_ ? to_string(telemetry_->local_endpoint()) : std::string{};
}

void manager_impl::async_health(health_scope scope, std::function<void(connmgr::health)> done) {
    std::vector<database_config> targets;
    asio::any_io_executor executor;
    try {
        targets = health_targets(scope, {});
        std::lock_guard lock(mutex_);
        executor = io_.executor();
    } catch (const std::exception& e) {
        log(log_level::warn, std::string("telemetry: /health: ") + e.what());
        connmgr::health h;
        h.overall_healthy = false;
        return done(h);
    }
    auto run = std::make_shared<health_run>();
    run->results.resize(targets.size());
    run->pending = targets.size();
    run->done = std::move(done);
    if (targets.empty()) return run->done(summarize_health({}));
    std::uint64_t id = 0;
    {
        // The registry owns the run (and so its probes) until the last probe reported;
        // probes and callbacks hold it weakly, so nothing outlives the manager.
        std::lock_guard lock(mutex_);
        id = next_health_run_++;
        health_runs_.emplace(id, run);
    }
    std::weak_ptr<manager_impl> weak_self = weak_from_this();
    std::weak_ptr<health_run> weak_run = run;
    for (std::size_t i = 0; i < targets.size(); ++i) {
        // The probes complete on the I/O thread, one at a time: `pending` needs no lock.
        auto probe = start_async_probe(
            targets[i], executor,
            [weak_self, weak_run, i, id, executor, name = targets[i].name](database_health h) {
                auto r = weak_run.lock();
                auto self = weak_self.lock();
                if (!r || !self) return;
                h.name = name;
                r->results[i] = std::move(h);
                if (--r->pending > 0) return;
                auto finished = std::move(r->done);
                finished(self->summarize_health(std::move(r->results)));
                // This runs inside the last probe's completion: released on the next turn.
                asio::post(executor, [weak_self, id] {
                    if (auto s = weak_self.lock()) {
                        std::lock_guard lock(s->mutex_);
                        s->health_runs_.erase(id);
                    }
                });
            });
        run->probes.push_back(std::move(probe));
    }
}

}  // namespace connmgr::detail
