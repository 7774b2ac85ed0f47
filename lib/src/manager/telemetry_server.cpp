// The telemetry endpoint: Beast on a strand of the manager's I/O executor, one coroutine per
// connection, nothing on that thread that can block.
#include "telemetry_server.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <atomic>
#include <future>
#include <list>

namespace connmgr::detail {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using asio::ip::tcp;

std::string to_string(const tcp::endpoint& e) {
    const auto a = e.address();
    const std::string host = a.is_v6() ? "[" + a.to_string() + "]" : a.to_string();
    return host + ":" + std::to_string(e.port());
}

namespace {

using response = http::response<http::string_body>;

response text(http::status status, unsigned version, std::string body,
              const char* type = "text/plain; charset=utf-8") {
    response res{status, version};
    res.set(http::field::server, "connmgr");
    res.set(http::field::content_type, type);
    res.body() = std::move(body);
    return res;
}

/// Resumes the awaiting coroutine with the health the source reports, on the coroutine's own
/// executor. The source calls back exactly once.
template <class Token>
auto async_health(const telemetry_source& source, Token&& token) {
    return asio::async_initiate<Token, void(connmgr::health)>(
        [&source](auto handler) {
            using handler_type = decltype(handler);
            auto shared = std::make_shared<handler_type>(std::move(handler));
            source.health([shared](connmgr::health h) {
                auto ex = asio::get_associated_executor(*shared);
                asio::post(ex, [shared, h = std::move(h)]() mutable {
                    std::move (*shared)(std::move(h));
                });
            });
        },
        token);
}

}  // namespace

class telemetry_server::impl : public std::enable_shared_from_this<impl> {
public:
    impl(asio::any_io_executor executor, const tcp::endpoint& endpoint, telemetry_source source,
         telemetry_limits limits)
        : strand_(asio::make_strand(executor)),
          acceptor_(strand_),
          source_(std::move(source)),
          limits_(limits) {
        acceptor_.open(endpoint.protocol());
        acceptor_.set_option(asio::socket_base::reuse_address(true));
        acceptor_.bind(endpoint);
        acceptor_.listen();
    }

    tcp::endpoint local_endpoint() const { return acceptor_.local_endpoint(); }

    void start() { asio::co_spawn(strand_, accept_loop(shared_from_this()), asio::detached); }

    void stop() noexcept {
        if (stop_requested_.exchange(true)) return;
        try {
            const asio::any_io_executor inner = strand_.get_inner_executor();  // a copy
            const auto* io = inner.target<asio::io_context::executor_type>();
            if (io && io->running_in_this_thread()) {
                // A handler of the I/O thread itself: a posted close would wait for us.
                asio::post(strand_, [self = shared_from_this()] { self->close_everything(); });
                return;
            }
            auto done = std::make_shared<std::promise<void>>();
            auto finished = done->get_future();
            asio::post(strand_, [self = shared_from_this(), done] {
                self->close_everything();
                done->set_value();
            });
            // Bounded: an I/O thread already stopped never runs the close (nothing is served
            // then either; the io_context's destruction closes the sockets).
            finished.wait_for(std::chrono::seconds(5));
        } catch (...) {  // stop runs on destructor paths
        }
    }

private:
    struct connection {
        explicit connection(tcp::socket s) : stream(std::move(s)) {}
        beast::tcp_stream stream;
        bool waiting_for_request{true};
        bool tracked{false};
        std::list<std::shared_ptr<connection>>::iterator position;
    };

    // On the strand.
    void close_everything() {
        stopped_ = true;
        boost::system::error_code ignored;
        acceptor_.close(ignored);
        for (auto& c : connections_) {
            c->tracked = false;
            c->stream.socket().close(ignored);
        }
        connections_.clear();
    }

    void untrack(connection& c) {
        if (!c.tracked) return;
        c.tracked = false;
        connections_.erase(c.position);
    }

    // At the limit, the oldest connection still waiting for its request gives way.
    bool make_room() {
        if (connections_.size() < limits_.max_connections) return true;
        for (auto& c : connections_)
            if (c->waiting_for_request) {
                boost::system::error_code ignored;
                c->stream.socket().close(ignored);
                untrack(*c);
                return true;
            }
        return false;
    }

    static asio::awaitable<void> accept_loop(std::shared_ptr<impl> self) {
        while (!self->stopped_) {
            auto [ec, socket] =
                co_await self->acceptor_.async_accept(asio::as_tuple(asio::use_awaitable));
            if (ec) {
                if (self->stopped_ || ec == asio::error::operation_aborted) co_return;
                // Out of descriptors (EMFILE) or a reset before accept: the connections
                // already open keep being served; pause so a persistent error does not spin.
                asio::steady_timer pause(self->strand_, std::chrono::milliseconds(100));
                co_await pause.async_wait(asio::as_tuple(asio::use_awaitable));
                continue;
            }
            if (!self->make_room()) {
                boost::system::error_code ignored;
                socket.close(ignored);  // every connection is busy answering: refuse this one
                continue;
            }
            auto c = std::make_shared<connection>(std::move(socket));
            c->tracked = true;
            c->position = self->connections_.insert(self->connections_.end(), c);
            asio::co_spawn(self->strand_, serve(self, c), asio::detached);
        }
    }

    static asio::awaitable<void> serve(std::shared_ptr<impl> self, std::shared_ptr<connection> c) {
        c->stream.expires_after(self->limits_.per_connection);
        beast::flat_buffer buffer(2 * std::size_t{self->limits_.max_header_bytes});
        for (;;) {
            http::request_parser<http::empty_body> parser;
            parser.header_limit(self->limits_.max_header_bytes);
            parser.body_limit(0);
            c->waiting_for_request = true;
            auto [ec, n] = co_await http::async_read(c->stream, buffer, parser,
                                                     asio::as_tuple(asio::use_awaitable));
            c->waiting_for_request = false;
            if (!c->tracked) break;  // evicted or stopped while waiting
            if (ec == http::error::end_of_stream || ec == beast::error::timeout ||
                ec == asio::error::operation_aborted || ec == asio::error::connection_reset)
                break;
            response res;
            if (ec == http::error::header_limit || ec == http::error::buffer_overflow) {
                res = text(http::status::request_header_fields_too_large, 11,
                           "request header larger than " +
                               std::to_string(self->limits_.max_header_bytes) + " bytes\n");
                res.keep_alive(false);
            } else if (ec) {
                res = text(http::status::bad_request, 11, "bad request: " + ec.message() + "\n");
                res.keep_alive(false);
            } else {
                const auto& req = parser.get();
                res = co_await self->respond(req);
                res.keep_alive(req.keep_alive());
            }
            res.prepare_payload();
            if (!c->tracked) break;  // stopped while a /health probe ran
            auto [wec, written] =
                co_await http::async_write(c->stream, res, asio::as_tuple(asio::use_awaitable));
            if (wec || !res.keep_alive() || !c->tracked) break;
        }
        boost::system::error_code ignored;
        c->stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
        c->stream.socket().close(ignored);
        self->untrack(*c);
    }

    asio::awaitable<response> respond(const http::request<http::empty_body>& req) {
        const std::string target(req.target());
        const std::string path = target.substr(0, target.find('?'));
        const unsigned v = req.version();
        if (path != "/metrics" && path != "/health" && path != "/stats")
            co_return text(http::status::not_found, v,
                           "not found: this endpoint serves /metrics, /health and /stats\n");
        if (req.method() != http::verb::get) {
            auto res = text(http::status::method_not_allowed, v, "only GET\n");
            res.set(http::field::allow, "GET");
            co_return res;
        }
        if (path == "/metrics")
            co_return text(http::status::ok, v, to_prometheus(source_.stats()),
                           "text/plain; version=0.0.4; charset=utf-8");
        if (path == "/stats")
            co_return text(http::status::ok, v, to_json(source_.stats()) + "\n",
                           "application/json");
        const connmgr::health h = co_await async_health(source_, asio::use_awaitable);
        co_return text(h.overall_healthy ? http::status::ok : http::status::service_unavailable, v,
                       to_json(h) + "\n", "application/json");
    }

    asio::strand<asio::any_io_executor> strand_;
    tcp::acceptor acceptor_;
    telemetry_source source_;
    telemetry_limits limits_;
    std::list<std::shared_ptr<connection>> connections_;
    bool stopped_{false};  // on the strand
    std::atomic<bool> stop_requested_{false};
};

telemetry_server::telemetry_server(asio::any_io_executor executor, const tcp::endpoint& endpoint,
                                   telemetry_source source, telemetry_limits limits)
    : impl_(std::make_shared<impl>(std::move(executor), endpoint, std::move(source), limits)),
      bound_(impl_->local_endpoint()) {}

telemetry_server::~telemetry_server() { stop(); }

void telemetry_server::start() { impl_->start(); }

void telemetry_server::stop() noexcept { impl_->stop(); }

}  // namespace connmgr::detail
