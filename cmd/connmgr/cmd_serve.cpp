// connmgr serve [--listen 127.0.0.1:9187]: GET /health (200 or 503, JSON), /metrics
// (Prometheus text), /stats (JSON). SIGTERM/SIGINT → close_all, exit 0.
#include "command.hpp"

#include <connmgr/connmgr.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <iostream>
#include <string>

namespace {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using asio::ip::tcp;
using namespace connmgr::cli;

http::response<http::string_body> respond(const http::request<http::string_body>& req) {
    http::response<http::string_body> res{http::status::ok, req.version()};
    res.keep_alive(req.keep_alive());
    auto& m = connmgr::manager::instance();
    const std::string target(req.target());
    const std::string path = target.substr(0, target.find('?'));
    if (req.method() != http::verb::get) {
        res.result(http::status::method_not_allowed);
        res.set(http::field::content_type, "text/plain");
        res.body() = "only GET\n";
    } else if (path == "/health") {
        const auto h = m.health(connmgr::health_scope::all_configured);
        res.result(h.overall_healthy ? http::status::ok : http::status::service_unavailable);
        res.set(http::field::content_type, "application/json");
        res.body() = connmgr::to_json(h) + "\n";
    } else if (path == "/metrics") {
        res.set(http::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
        res.body() = connmgr::to_prometheus(m.stats());
    } else if (path == "/stats") {
        res.set(http::field::content_type, "application/json");
        res.body() = connmgr::to_json(m.stats()) + "\n";
    } else {
        res.result(http::status::not_found);
        res.set(http::field::content_type, "text/plain");
        res.body() = "not found: try /health, /metrics or /stats\n";
    }
    res.prepare_payload();
    return res;
}

asio::awaitable<void> session(tcp::socket socket) {
    boost::beast::flat_buffer buffer;
    try {
        for (;;) {
            http::request<http::string_body> req;
            co_await http::async_read(socket, buffer, req, asio::use_awaitable);
            auto res = respond(req);
            co_await http::async_write(socket, res, asio::use_awaitable);
            if (!res.keep_alive()) break;
        }
    } catch (const std::exception&) {  // the client went away or sent garbage
    }
    boost::system::error_code ignored;
    socket.shutdown(tcp::socket::shutdown_both, ignored);
}

asio::awaitable<void> listen(tcp::acceptor& acceptor) {
    for (;;) {
        auto socket = co_await acceptor.async_accept(asio::use_awaitable);
        auto ex = socket.get_executor();
        asio::co_spawn(ex, session(std::move(socket)), asio::detached);
    }
}

int run_serve(const global_options& globals, const std::vector<std::string>& args) {
    std::string listen_at = "127.0.0.1:9187";
    for (std::size_t i = 0; i < args.size(); ++i) {
        if (args[i] == "--listen" && i + 1 < args.size())
            listen_at = args[++i];
        else if (args[i].rfind("--listen=", 0) == 0)
            listen_at = args[i].substr(9);
        else
            throw usage_error("unknown argument '" + args[i] + "'");
    }
    const auto colon = listen_at.rfind(':');
    if (colon == std::string::npos) throw usage_error("--listen needs HOST:PORT");
    boost::system::error_code ec;
    const auto address = asio::ip::make_address(listen_at.substr(0, colon), ec);
    if (ec) throw usage_error("--listen: bad address '" + listen_at.substr(0, colon) + "'");
    const int port = std::atoi(listen_at.c_str() + colon + 1);
    if (port <= 0 || port > 65535) throw usage_error("--listen: bad port");

    connmgr::manager::instance().configure(load(globals).config);

    // Two threads: a slow health probe must not hold up /metrics.
    asio::thread_pool pool(2);
    tcp::acceptor acceptor(pool, {address, static_cast<unsigned short>(port)});
    std::cerr << "connmgr serve: listening on http://" << listen_at << "\n";
    asio::signal_set signals(pool, SIGTERM, SIGINT);
    signals.async_wait([&](boost::system::error_code, int) {
        acceptor.close();
        pool.stop();
    });
    asio::co_spawn(acceptor.get_executor(), listen(acceptor), asio::detached);
    pool.join();

    const auto summary = connmgr::close_all();
    std::cerr << "connmgr serve: closed " << summary.pools_closed << " pools, "
              << summary.connections_closed << " connections";
    if (summary.leases_outstanding)
        std::cerr << ", " << summary.leases_outstanding << " leases still out";
    std::cerr << "\n";
    return exit_ok;
}

}  // namespace

CONNMGR_COMMAND(serve, "[--listen 127.0.0.1:9187]",
                "serve /health, /metrics and /stats over HTTP until SIGTERM or SIGINT", run_serve);
