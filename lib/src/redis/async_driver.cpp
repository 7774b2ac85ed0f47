#include <connmgr/redis/async_driver.hpp>

#include "core.hpp"
#include "sentinel.hpp"

#include <connmgr/error.hpp>

#include <boost/asio/co_spawn.hpp>

namespace connmgr::redis {

namespace detail {

void start_command(std::shared_ptr<core> c, request req, command_handler handler) {
    if (req.size() != 1) {
        // The operation rejects it (query_failed) through the usual completion path.
        core::start(std::move(c), {}, 0, no_deadline, std::move(handler));
        return;
    }
    if (!c->busy()) c->out_.assign(req.payload());
    const std::string_view payload = c->out_;
    core::start(std::move(c), payload, 1, no_deadline, std::move(handler));
}

void start_pipeline(std::shared_ptr<core> c, request req, pipeline_handler handler) {
    if (!c->busy()) c->out_.assign(req.payload());
    const std::string_view payload = c->out_;
    core::start(std::move(c), payload, req.size(), no_deadline, std::move(handler));
}

}  // namespace detail

async_connection::async_connection(std::shared_ptr<detail::core> core) noexcept
    : core_(std::move(core)) {}

async_connection::~async_connection() {
    if (core_) core_->close();
}

bool async_connection::is_broken() const noexcept { return core_->broken(); }

bool async_connection::busy() const noexcept { return core_->busy(); }

void async_connection::close() noexcept { core_->close(); }

async_driver::async_driver(const database_config& db, const pool_options& flavour_options)
    : params_(detail::make_params(db, flavour_options)) {
    if (db.url.is_sentinel())
        sentinel_ = std::make_shared<detail::sentinel_link>(db.url, params_, flavour_options);
}

async_driver::async_driver(const redis_endpoint& endpoint, std::string_view name,
                           const pool_options& options)
    : params_(detail::make_params(endpoint, name, {}, options)) {}

async_driver::~async_driver() = default;

void async_driver::async_connect(boost::asio::any_io_executor ex, steady_time deadline,
                                 connect_handler<connection> handler) {
    if (sentinel_) {
        boost::asio::co_spawn(
            ex, detail::sentinel_connect(sentinel_, ex, deadline, false),
            [display = params_->display, handler = std::move(handler)](
                std::exception_ptr e, detail::sentinel_connected r) mutable {
                if (e) {
                    handler({nullptr, make_error_code(errc::connect_failed),
                             "cannot connect to " + display});
                } else if (r.result.ec) {
                    handler({nullptr, r.result.ec, std::move(r.result.message), r.result.failure});
                } else {
                    handler({std::make_unique<async_connection>(std::move(r.connection)),
                             {},
                             {},
                             connect_failure::transient,
                             r.server});
                }
            });
        return;
    }
    auto c = std::make_shared<detail::core>(ex, params_);
    auto display = params_->display;
    boost::asio::co_spawn(
        ex, detail::core::connect(c, deadline),
        [c, display, handler = std::move(handler)](std::exception_ptr e,
                                                   detail::connect_result r) mutable {
            if (e) {
                handler({nullptr, make_error_code(errc::connect_failed),
                         "cannot connect to " + display});
            } else if (r.ec) {
                handler({nullptr, r.ec, std::move(r.message), r.failure});
            } else {
                handler({std::make_unique<async_connection>(std::move(c)), {}, {}});
            }
        });
}

void async_driver::async_ping(connection& c, steady_time deadline, ping_handler handler) {
    static const request ping_request{"PING"};
    detail::core::start(
        c.core(), ping_request.payload(), 1, deadline,
        detail::command_handler(
            [h = std::move(handler)](boost::system::error_code ec, reply) { h(ec); }));
}

bool async_driver::needs_restore(connection& c) noexcept {
    const auto& core = *c.core();
    return !core.busy() && core.session().needs_restore();
}

void async_driver::async_restore(connection& c, steady_time deadline, ping_handler handler) {
    auto core = c.core();
    const auto req = core->restore_request();
    core->out_.assign(req.payload());
    const std::string_view payload = core->out_;
    detail::core::start(
        core, payload, req.size(), deadline,
        detail::pipeline_handler([core, h = std::move(handler)](boost::system::error_code ec,
                                                                std::vector<reply> replies) {
            if (!ec && !core->restored(replies)) ec = make_error_code(errc::query_failed);
            h(ec);
        }));
}

bool async_driver::reset(connection& c) noexcept {
    const auto& core = *c.core();
    return !core.busy() && !core.known_broken() && core.session().clean();
}

bool async_driver::is_broken(connection& c) noexcept { return c.core()->known_broken(); }

void async_driver::close(connection& c) noexcept { c.close(); }

std::function<bool(std::uint32_t, server_state)> async_driver::retire_rule() const {
    if (!sentinel_) return {};
    return sentinel_->retire_rule();
}

std::vector<std::uint32_t> async_driver::servers() const {
    if (!sentinel_) return {};
    return sentinel_->service()->servers();
}

}  // namespace connmgr::redis
