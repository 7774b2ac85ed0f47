#include <connmgr/redis/sync_driver.hpp>

#include "core.hpp"
#include "sentinel.hpp"

#include <connmgr/error.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

namespace connmgr::redis {

namespace detail {

/// A connection's private io_context: only the thread that holds the connection runs it.
class sync_state {
public:
    sync_state() : io(1) {}
    ~sync_state() {
        if (c) c->close();
        // Let pending (cancelled) handlers release the core while the io_context lives.
        io.restart();
        io.run();
        c.reset();
    }
    sync_state(const sync_state&) = delete;
    sync_state& operator=(const sync_state&) = delete;

    asio::io_context io;
    std::shared_ptr<core> c;
};

namespace {

std::string lost_message(const core& c) {
    if (c.timed_out())
        return "redis request to " + c.params().display + " timed out after " +
               std::to_string(c.params().query_timeout.count()) + "ms; connection discarded";
    return "redis connection to " + c.params().display + " lost: " + c.failure();
}

[[noreturn]] void throw_failure(const core& c, error_code ec) {
    if (ec == errc::query_failed)
        throw error(ec,
                    "redis connection to " + c.params().display + " is busy with another request");
    throw error(make_error_code(c.timed_out() ? errc::query_timeout : errc::connection_lost),
                lost_message(c));
}

reply run_command(sync_state& s, const request& req, steady_time deadline) {
    if (req.size() != 1)
        throw error(errc::query_failed,
                    "redis command(): expected one command, got " + std::to_string(req.size()));
    error_code ec;
    reply out;
    s.io.restart();
    core::start(s.c, req.payload(), 1, deadline, command_handler([&](error_code e, reply r) {
                    ec = e;
                    out = std::move(r);
                }));
    s.io.run();
    if (ec) {
        if (ec == errc::query_failed && out.is_error())
            throw query_error(std::string(out.error_code()), "redis: " + out.str());
        throw_failure(*s.c, ec);
    }
    return out;
}

std::vector<reply> run_pipeline(sync_state& s, const request& req, steady_time deadline) {
    if (req.empty()) return {};
    error_code ec;
    std::vector<reply> out;
    s.io.restart();
    core::start(s.c, req.payload(), req.size(), deadline,
                pipeline_handler([&](error_code e, std::vector<reply> r) {
                    ec = e;
                    out = std::move(r);
                }));
    s.io.run();
    if (ec) throw_failure(*s.c, ec);
    return out;
}

}  // namespace
}  // namespace detail

sync_connection::sync_connection(std::unique_ptr<detail::sync_state> state) noexcept
    : state_(std::move(state)) {}

sync_connection::~sync_connection() = default;

reply sync_connection::command(const request& req) {
    return detail::run_command(*state_, req, detail::no_deadline);
}

reply sync_connection::command(std::span<const std::string_view> args) {
    request req;
    req.push(args);
    return command(req);
}

reply sync_connection::command(const std::vector<std::string>& args) {
    request req;
    req.push(args);
    return command(req);
}

std::vector<reply> sync_connection::pipeline(const request& req) {
    return detail::run_pipeline(*state_, req, detail::no_deadline);
}

bool sync_connection::restore_session() noexcept {
    auto& c = *state_->c;
    if (c.busy() || c.known_broken() || c.session().must_close()) return false;
    if (c.session().clean()) return true;
    try {
        const auto req = c.restore_request();
        const auto replies = detail::run_pipeline(
            *state_, req, std::chrono::steady_clock::now() + c.params().restore_timeout);
        return c.restored(replies);
    } catch (...) {
        return false;
    }
}

bool sync_connection::is_broken() const noexcept { return state_->c->broken(); }

bool sync_connection::known_broken() const noexcept { return state_->c->known_broken(); }

void sync_connection::close() noexcept { state_->c->close(); }

boost::system::error_code sync_connection::ping(steady_time deadline) noexcept {
    try {
        static const request ping_request{"PING"};
        detail::run_command(*state_, ping_request, deadline);
        return {};
    } catch (const boost::system::system_error& e) {
        return e.code();
    } catch (...) {
        return make_error_code(errc::connection_lost);
    }
}

sync_driver::sync_driver(const database_config& db, const pool_options& flavour_options)
    : params_(detail::make_params(db, flavour_options)) {
    if (db.url.is_sentinel())
        sentinel_ = std::make_shared<detail::sentinel_link>(db.url, params_, flavour_options);
}

sync_driver::sync_driver(const redis_endpoint& endpoint, std::string_view name,
                         const pool_options& options)
    : params_(detail::make_params(endpoint, name, {}, options)) {}

sync_driver::~sync_driver() = default;

connect_outcome<sync_connection> sync_driver::connect(steady_time deadline) {
    if (sentinel_) {
        try {
            auto state = std::make_unique<detail::sync_state>();
            detail::sentinel_connected result;
            boost::asio::co_spawn(
                state->io,
                detail::sentinel_connect(sentinel_, state->io.get_executor(), deadline, true),
                [&](std::exception_ptr e, detail::sentinel_connected r) {
                    if (e) {
                        result.result = {make_error_code(errc::connect_failed),
                                         "cannot connect to " + params_->display};
                    } else {
                        result = std::move(r);
                    }
                });
            state->io.run();
            if (result.result.ec)
                return {nullptr, result.result.ec, std::move(result.result.message),
                        result.result.failure};
            state->c = std::move(result.connection);
            return {std::make_unique<sync_connection>(std::move(state)),
                    {},
                    {},
                    connect_failure::transient,
                    result.server};
        } catch (const std::exception& e) {
            return {nullptr, make_error_code(errc::connect_failed),
                    "cannot connect to " + params_->display + ": " + e.what()};
        }
    }
    try {
        auto state = std::make_unique<detail::sync_state>();
        state->c = std::make_shared<detail::core>(state->io.get_executor(), params_);
        state->c->inline_start_ = true;
        detail::connect_result result;
        boost::asio::co_spawn(state->io, detail::core::connect(state->c, deadline),
                              [&](std::exception_ptr e, detail::connect_result r) {
                                  if (e) {
                                      result = {make_error_code(errc::connect_failed),
                                                "cannot connect to " + params_->display};
                                  } else {
                                      result = std::move(r);
                                  }
                              });
        state->io.run();
        if (result.ec) return {nullptr, result.ec, std::move(result.message), result.failure};
        return {std::make_unique<sync_connection>(std::move(state)), {}, {}};
    } catch (const std::exception& e) {
        return {nullptr, make_error_code(errc::connect_failed),
                "cannot connect to " + params_->display + ": " + e.what()};
    }
}

boost::system::error_code sync_driver::ping(connection& c, steady_time deadline) {
    return c.ping(deadline);
}

bool sync_driver::reset(connection& c) noexcept { return c.restore_session(); }

bool sync_driver::is_broken(connection& c) noexcept { return c.known_broken(); }

void sync_driver::close(connection& c) noexcept { c.close(); }

std::function<bool(std::uint32_t, server_state)> sync_driver::retire_rule() const {
    if (!sentinel_) return {};
    return sentinel_->retire_rule();
}

std::vector<std::uint32_t> sync_driver::servers() const {
    if (!sentinel_) return {};
    return sentinel_->service()->servers();
}

}  // namespace connmgr::redis
