#include "cancel.hpp"

#include <boost/asio/generic/stream_protocol.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>

#include <arpa/inet.h>

#include <array>
#include <cstring>
#include <memory>

namespace connmgr::pg::detail {

namespace asio = boost::asio;
using boost::system::error_code;

namespace {

// The head of libpq 15's `struct pg_cancel` (libpq-int.h): SockAddr raddr; int be_pid;
// int be_key; the rest are socket options this code sets itself. SockAddr is its own struct
// (padded to the alignment of sockaddr_storage), hence the nesting.
struct libpq15_sock_addr {
    sockaddr_storage address;
    socklen_t size;
};
struct libpq15_cancel_head {
    libpq15_sock_addr raddr;
    int be_pid;
    int be_key;
};

constexpr std::uint32_t cancel_request_code = (1234U << 16) | 5678U;
constexpr std::chrono::seconds linger{30};

class cancel_op : public std::enable_shared_from_this<cancel_op> {
public:
    cancel_op(asio::any_io_executor ex, const cancel_target& t, std::function<void(bool)> done)
        : target_(t), socket_(ex), timer_(ex), done_(std::move(done)) {
        const std::uint32_t words[4] = {htonl(16), htonl(cancel_request_code), htonl(t.pid),
                                        htonl(t.key)};
        std::memcpy(packet_.data(), words, sizeof words);
    }

    void start(steady_time deadline) {
        auto self = shared_from_this();
        timer_.expires_at(deadline);
        timer_.async_wait([self](error_code ec) {
            if (!ec) self->give_up();
        });
        const asio::generic::stream_protocol::endpoint to(&target_.address, target_.address_size);
        error_code ec;
        socket_.open(to.protocol(), ec);
        if (ec) {
            // Never inline: callers start a cancel under their own lock (the sync watchdog).
            asio::post(socket_.get_executor(), [self] { self->finish(false); });
            return;
        }
        socket_.async_connect(to, [self](error_code e) {
            if (e) return self->finish(false);
            asio::async_write(self->socket_, asio::buffer(self->packet_),
                              [self](error_code we, std::size_t) {
                                  if (we) return self->finish(false);
                                  self->await_close();
                              });
        });
    }

private:
    // The server processes the request, then closes the connection without a word.
    void await_close() {
        auto self = shared_from_this();
        socket_.async_read_some(asio::buffer(sink_), [self](error_code ec, std::size_t) {
            if (!ec) return self->await_close();
            self->finish(ec == asio::error::eof);
        });
    }

    // The caller stops waiting at its deadline, but the request's socket stays open until the
    // server (or PgBouncer) closes it, up to `linger`: PgBouncer 1.18 hands the slot of a
    // cancel client that left early to the next client and then sends that one "FATAL:
    // successfully sent cancel request" (seen here after a frozen server came back).
    void give_up() {
        report(false);
        timer_.expires_after(linger);
        timer_.async_wait([self = shared_from_this()](error_code ec) {
            if (!ec) self->finish(false);
        });
    }

    void report(bool answered) {
        if (!done_) return;
        auto done = std::move(done_);
        done_ = nullptr;
        done(answered);
    }

    void finish(bool answered) {
        report(answered);
        timer_.cancel();
        error_code ignored;
        socket_.close(ignored);
    }

    cancel_target target_;
    asio::generic::stream_protocol::socket socket_;
    asio::steady_timer timer_;
    std::array<unsigned char, 16> packet_{};
    std::array<char, 64> sink_{};
    std::function<void(bool)> done_;
};

}  // namespace

cancel_target cancel_target_of(PGconn* conn) noexcept {
    cancel_target out;
    if (conn == nullptr || PQlibVersion() / 10000 != 15) return out;
    PGcancel* c = PQgetCancel(conn);
    if (c == nullptr) return out;
    libpq15_cancel_head head{};
    std::memcpy(&head, c, sizeof head);
    PQfreeCancel(c);
    const auto family = head.raddr.address.ss_family;
    const bool sane_address = head.raddr.size > 0 && head.raddr.size <= sizeof head.raddr.address &&
                              (family == AF_INET || family == AF_INET6 || family == AF_UNIX);
    // The pid is the one field libpq also gives publicly: a mismatch means the layout is not
    // the one assumed here, and the key would be garbage.
    if (!sane_address || head.be_pid == 0 || head.be_pid != PQbackendPID(conn)) return out;
    out.address = head.raddr.address;
    out.address_size = head.raddr.size;
    out.pid = static_cast<std::uint32_t>(head.be_pid);
    out.key = static_cast<std::uint32_t>(head.be_key);
    return out;
}

void async_cancel(asio::any_io_executor ex, const cancel_target& target, steady_time deadline,
                  std::function<void(bool)> done) {
    if (!target.valid()) {
        asio::post(ex, [done = std::move(done)] { done(false); });
        return;
    }
    std::make_shared<cancel_op>(std::move(ex), target, std::move(done))->start(deadline);
}

}  // namespace connmgr::pg::detail
