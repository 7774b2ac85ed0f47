#pragma once
// A small blocking HTTP/1.1 client for the telemetry tests (Beast), bounded by a deadline.

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <chrono>
#include <string>

namespace connmgr::test {

struct http_reply {
    int status{0};  ///< 0 when the connection failed or closed before a response
    std::string body;
    std::string content_type;
    std::string error;  ///< why there is no response
};

/// host:port of "127.0.0.1:9187" or "[::1]:9187".
inline std::pair<std::string, std::string> split_address(const std::string& address) {
    const auto colon = address.rfind(':');
    std::string host = address.substr(0, colon);
    if (host.size() > 2 && host.front() == '[') host = host.substr(1, host.size() - 2);
    return {host, address.substr(colon + 1)};
}

/// One request on a fresh connection. `extra_header` (name, value) is added when set.
inline http_reply http_request(const std::string& address, const std::string& target,
                               boost::beast::http::verb method = boost::beast::http::verb::get,
                               const std::string& extra_name = {},
                               const std::string& extra_value = {},
                               std::chrono::milliseconds deadline = std::chrono::seconds(10)) {
    namespace http = boost::beast::http;
    http_reply out;
    try {
        boost::asio::io_context io;
        boost::beast::tcp_stream stream(io);
        stream.expires_after(deadline);
        const auto [host, port] = split_address(address);
        boost::asio::ip::tcp::resolver resolver(io);
        stream.connect(resolver.resolve(host, port));
        http::request<http::empty_body> req{method, target, 11};
        req.set(http::field::host, host);
        if (!extra_name.empty()) req.set(extra_name, extra_value);
        http::write(stream, req);
        boost::beast::flat_buffer buffer;
        http::response<http::string_body> res;
        http::read(stream, buffer, res);
        out.status = static_cast<int>(res.result_int());
        out.body = res.body();
        out.content_type = std::string(res[http::field::content_type]);
    } catch (const boost::system::system_error& e) {
        out.error = e.code().message();
    }
    return out;
}

/// Sends `raw` bytes as they are and reads one response (status 0 if the server closed first).
inline http_reply http_raw(const std::string& address, const std::string& raw,
                           std::chrono::milliseconds deadline = std::chrono::seconds(10)) {
    namespace http = boost::beast::http;
    http_reply out;
    boost::asio::io_context io;
    boost::beast::tcp_stream stream(io);
    stream.expires_after(deadline);
    try {
        const auto [host, port] = split_address(address);
        boost::asio::ip::tcp::resolver resolver(io);
        stream.connect(resolver.resolve(host, port));
    } catch (const boost::system::system_error& e) {
        out.error = e.code().message();
        return out;
    }
    boost::system::error_code write_error;
    boost::asio::write(stream, boost::asio::buffer(raw), write_error);
    // Even when the server closed while we were writing, its answer may be waiting.
    boost::system::error_code ec;
    boost::beast::flat_buffer buffer;
    http::response<http::string_body> res;
    http::read(stream, buffer, res, ec);
    if (ec) {
        out.error = (write_error ? write_error : ec).message();
        return out;
    }
    out.status = static_cast<int>(res.result_int());
    out.body = res.body();
    return out;
}

inline http_reply http_get(const std::string& address, const std::string& target) {
    return http_request(address, target);
}

}  // namespace connmgr::test
