#include "core.hpp"

#include <connmgr/error.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/compose.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>

namespace connmgr::redis::detail {

namespace {

using tls_socket = asio::ssl::stream<asio::ip::tcp::socket>;

int to_seconds(milliseconds d) {
    return static_cast<int>(std::max<long long>(1, (d.count() + 999) / 1000));
}

std::string sanitize_name(std::string_view name) {
    std::string out = "connmgr:";
    for (char ch : name) out += (ch == ' ' || ch == '\n' || ch == '\r') ? '_' : ch;
    return out;
}

}  // namespace

std::shared_ptr<const connect_params> make_params(const database_config& db,
                                                  const pool_options& options) {
    return make_params(db.url.redis(), db.name, db.url.redacted(), options);
}

std::shared_ptr<const connect_params> make_params(const redis_endpoint& endpoint,
                                                  std::string_view name, std::string display,
                                                  const pool_options& options) {
    auto p = std::make_shared<connect_params>();
    p->endpoint = endpoint;
    p->client_name = sanitize_name(name);
    p->display = std::move(display);
    if (p->display.empty()) {  // hand-built configs in tests: describe without secrets
        const auto& ep = p->endpoint;
        p->display = ep.socket_path.empty()
                         ? std::string(ep.tls ? "rediss://" : "redis://") + ep.host + ":" +
                               std::to_string(ep.port) + "/" + std::to_string(ep.db)
                         : "unix://" + ep.socket_path;
    }
    p->query_timeout = options.query_timeout;
    if (options.connect_timeout.count() > 0) p->restore_timeout = options.connect_timeout;
    p->keepalive = options.keepalive;
    if (p->endpoint.tls) {
        auto ctx = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_client);
        ctx->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                         asio::ssl::context::no_sslv3);
        if (p->endpoint.tls_verify) {
            if (!p->endpoint.tls_ca_file.empty()) {
                error_code ec;
                ctx->load_verify_file(p->endpoint.tls_ca_file, ec);
                if (ec)
                    throw config_error("cannot load TLS CA file '" + p->endpoint.tls_ca_file +
                                       "' for " + p->display + ": " + ec.message());
            } else {
                ctx->set_default_verify_paths();
            }
            ctx->set_verify_mode(asio::ssl::verify_peer);
        } else {
            ctx->set_verify_mode(asio::ssl::verify_none);
        }
        p->tls = std::move(ctx);
    }
    return p;
}

core::core(asio::any_io_executor ex, std::shared_ptr<const connect_params> params)
    : ex_(std::move(ex)),
      params_(std::move(params)),
      timer_(ex_),
      session_(params_->endpoint.db),
      in_(in_initial) {}

core::~core() { close(); }

template <class F>
void core::with_stream(F&& f) {
    if (tls_) {
        f(*tls_);
    } else if (tcp_) {
        f(*tcp_);
    } else {
        f(*unix_);
    }
}

void core::mark_broken(std::string why) noexcept {
    if (!broken_.exchange(true)) {
        try {
            failure_ = std::move(why);
        } catch (...) {
        }
    }
}

void core::close() noexcept {
    // A lease returned (or a connection destroyed) while its request is still in flight: the
    // socket belongs to that request's thread, so close it there; nobody reuses it meanwhile.
    if (busy() && !inline_start_) {
        broken_ = true;
        try {
            asio::post(ex_, [weak = weak_from_this()] {
                if (auto self = weak.lock()) self->close_now();
            });
            return;
        } catch (...) {  // no memory for the hop: close here
        }
    }
    close_now();
}

void core::close_now() noexcept {
    error_code ignored;
    if (tls_) {
        tls_->lowest_layer().shutdown(asio::socket_base::shutdown_both, ignored);
        tls_->lowest_layer().close(ignored);
    }
    if (tcp_) {
        tcp_->shutdown(asio::socket_base::shutdown_both, ignored);
        tcp_->close(ignored);
    }
    if (unix_) {
        unix_->shutdown(asio::socket_base::shutdown_both, ignored);
        unix_->close(ignored);
    }
    broken_ = true;
    if (failure_.empty()) failure_ = "connection closed";
}

request core::restore_request() const {
    return request(session_.restore_commands(params_->client_name));
}

bool core::restored(const std::vector<reply>& replies) noexcept {
    for (const auto& r : replies)
        if (r.is_error()) return false;
    session_.restored();
    return true;
}

bool core::broken() const noexcept {
    if (broken_.load()) return true;
    if (busy()) return false;
    // An idle Redis connection never has anything to read: readable means the server closed
    // it (CLIENT KILL, restart, timeout) or sent garbage. One poll(2), no round trip.
    int fd = -1;
    if (tls_) {
        fd = const_cast<tls_socket&>(*tls_).lowest_layer().native_handle();
    } else if (tcp_) {
        fd = const_cast<asio::ip::tcp::socket&>(*tcp_).native_handle();
    } else if (unix_) {
        fd = const_cast<asio::local::stream_protocol::socket&>(*unix_).native_handle();
    }
    if (fd < 0) return true;
    pollfd pfd{fd, static_cast<short>(POLLIN | POLLRDHUP), 0};
    if (::poll(&pfd, 1, 0) > 0 && (pfd.revents & (POLLIN | POLLRDHUP | POLLHUP | POLLERR)) != 0)
        return true;
    return false;
}

// ---------------------------------------------------------------------------------------------
// The request operation

namespace {

error_code lost() { return make_error_code(errc::connection_lost); }

template <bool Many>
struct exec_op {
    std::shared_ptr<core> c;
    std::string_view payload;
    std::size_t expected;
    steady_time deadline;
    std::vector<reply> replies{};
    std::vector<bool> answered{};  // empty: every command of the batch is answered
    reply single{};
    std::size_t got{0};
    error_code result{};
    // Taken by the initiating thread, before the hop to the connection's executor, so that a
    // lease returned right after starting an operation is seen busy (and is not reused).
    bool claimed{false};
    bool timer_armed{false};
    enum class step { start, on_executor, written, read, finish } at{step::start};

    template <class Self>
    void operator()(Self& self, error_code ec = {}, std::size_t n = 0) {
        switch (at) {
            case step::start:
                // A sync connection's caller is the only thread that runs its io_context.
                if (c->inline_start_) return begin(self);
                // Every I/O step runs on the connection's executor, whatever the caller's is.
                at = step::on_executor;
                {
                    // Never read through `c` in an expression that also moves `self`.
                    const asio::any_io_executor ex = c->ex_;
                    asio::dispatch(ex, asio::bind_executor(ex, std::move(self)));
                }
                return;
            case step::on_executor: begin(self); return;
            case step::written:
                if (ec) return fail(self, ec);
                return drain(self);
            case step::read:
                if (ec) return fail(self, ec);
                if (!c->parser_.feed(c->in_.data(), n)) {
                    c->mark_broken("redis protocol error: " + c->parser_.error());
                    c->close_now();
                    return finish(self, lost());
                }
                // A full buffer: more is probably waiting; read it in bigger steps.
                if (n == c->in_.size() && n < core::in_max)
                    c->in_.resize(std::min(n * 4, core::in_max));
                return drain(self);
            case step::finish:
                if constexpr (Many) {
                    self.complete(result, std::move(replies));
                } else {
                    self.complete(result, std::move(single));
                }
                return;
        }
    }

    template <class Self>
    void post_self(Self& self) {
        const asio::any_io_executor ex = c->ex_;
        asio::post(ex,
                   std::move(self));  // never inside the initiation; then the handler's executor
    }

    template <class Self>
    void begin(Self& self) {
        if (!claimed) {  // another operation is in flight
            result = make_error_code(errc::query_failed);
            at = step::finish;
            post_self(self);  // then dispatched to the handler's executor
            return;
        }
        if (c->broken_.load()) {
            c->busy_ = false;
            result = lost();
            at = step::finish;
            post_self(self);  // never inside the initiation; delivered on the handler's executor
            return;
        }
        if (!Many && expected != 1) {  // async_command given zero or several commands
            c->busy_ = false;
            result = make_error_code(errc::query_failed);
            at = step::finish;
            post_self(self);  // then dispatched to the handler's executor
            return;
        }
        // CLIENT REPLY OFF/SKIP: the server stays silent for some commands; wait only for the
        // replies it sends.
        auto plan = c->session_.observe(payload);
        expected = plan.count;
        answered = std::move(plan.mask);
        const std::uint64_t generation = ++c->generation_;
        if (deadline == no_deadline && c->params_->query_timeout.count() > 0)
            deadline = std::chrono::steady_clock::now() + c->params_->query_timeout;
        if (deadline != no_deadline) {
            timer_armed = true;
            c->timer_.expires_at(deadline);
            c->timer_.async_wait(asio::bind_executor(c->ex_, [c = c, generation](error_code ec) {
                if (ec || !c->busy() || c->generation_ != generation) return;
                // Mid-request: the reply stream can no longer be matched to requests.
                c->timed_out_ = true;
                c->mark_broken("redis request timed out");
                c->close_now();
            }));
        }
        if constexpr (Many) replies.reserve(expected);
        at = step::written;
        const asio::any_io_executor ex = c->ex_;
        const auto buffer = asio::buffer(payload.data(), payload.size());
        c->with_stream([&](auto& stream) {
            asio::async_write(stream, buffer, asio::bind_executor(ex, std::move(self)));
        });
    }

    template <class Self>
    void drain(Self& self) {
        while (got < expected) {
            auto r = c->parser_.next();
            if (!r) break;
            if (r->is_error() && c->params_->on_not_master) {
                const auto prefix = r->error_code();
                if (prefix == "READONLY" || prefix == "MASTERDOWN") {
                    c->mark_broken("the server answered " + std::string(prefix) +
                                   ": it is no longer the master");
                    c->params_->on_not_master();
                }
            }
            if constexpr (Many) {
                replies.push_back(std::move(*r));
            } else {
                single = std::move(*r);
            }
            ++got;
        }
        if (!c->parser_.error().empty()) {
            c->mark_broken("redis protocol error: " + c->parser_.error());
            c->close_now();
            return finish(self, lost());
        }
        if (got == expected) {
            // Anything beyond the replies asked for (a pub/sub message, a reply of a command
            // sent before) would reach the next request: the connection is closed on return.
            if (c->parser_.next()) c->session_.mark_unread();
            if constexpr (Many) {
                if (!answered.empty()) {
                    std::vector<reply> all;  // nil where the server stayed silent
                    all.reserve(answered.size());
                    auto it = replies.begin();
                    for (bool a : answered) all.push_back(a ? std::move(*it++) : reply{});
                    replies = std::move(all);
                }
            } else {
                if (single.is_error()) return finish(self, make_error_code(errc::query_failed));
            }
            return finish(self, {});
        }
        at = step::read;
        const asio::any_io_executor ex = c->ex_;
        const auto buffer = asio::buffer(c->in_);
        c->with_stream([&](auto& stream) {
            stream.async_read_some(buffer, asio::bind_executor(ex, std::move(self)));
        });
    }

    template <class Self>
    void fail(Self& self, error_code ec) {
        c->mark_broken(c->timed_out_ ? "redis request timed out"
                                     : "connection lost: " + ec.message());
        c->close_now();
        finish(self, c->timed_out_ ? make_error_code(errc::query_timeout) : lost());
    }

    template <class Self>
    void finish(Self& self, error_code ec) {
        if (timer_armed) c->timer_.cancel();
        c->busy_ = false;
        result = ec;
        at = step::finish;
        // Deliver on the handler's own executor (inline when it is the connection's).
        auto ex = self.get_executor();
        asio::dispatch(ex, std::move(self));
    }
};

template <bool Many, class Handler>
void start_op(std::shared_ptr<core> c, std::string_view payload, std::size_t expected,
              steady_time deadline, Handler handler) {
    using result_t = std::conditional_t<Many, std::vector<reply>, reply>;
    auto ex = c->ex_;
    exec_op<Many> op{std::move(c), payload, expected, deadline};
    op.claimed = !op.c->busy_.exchange(true);
    asio::async_compose<Handler, void(error_code, result_t)>(std::move(op), handler, ex);
}

}  // namespace

void core::start(std::shared_ptr<core> self, std::string_view payload, std::size_t expected,
                 steady_time deadline, command_handler handler) {
    start_op<false>(std::move(self), payload, expected, deadline, std::move(handler));
}

void core::start(std::shared_ptr<core> self, std::string_view payload, std::size_t expected,
                 steady_time deadline, pipeline_handler handler) {
    start_op<true>(std::move(self), payload, expected, deadline, std::move(handler));
}

asio::awaitable<error_code> core::read_push(std::shared_ptr<core> self, reply& out) {
    const auto tok = asio::as_tuple(asio::use_awaitable);
    while (true) {
        if (auto r = self->parser_.next()) {
            out = std::move(*r);
            co_return error_code{};
        }
        if (!self->parser_.error().empty()) {
            self->mark_broken("redis protocol error: " + self->parser_.error());
            co_return lost();
        }
        error_code ec;
        std::size_t n = 0;
        const auto buffer = asio::buffer(self->in_);
        if (self->tls_) {
            std::tie(ec, n) = co_await self->tls_->async_read_some(buffer, tok);
        } else if (self->tcp_) {
            std::tie(ec, n) = co_await self->tcp_->async_read_some(buffer, tok);
        } else if (self->unix_) {
            std::tie(ec, n) = co_await self->unix_->async_read_some(buffer, tok);
        } else {
            co_return lost();
        }
        if (ec) {
            self->mark_broken("connection lost: " + ec.message());
            co_return ec;
        }
        self->parser_.feed(self->in_.data(), n);
    }
}

// ---------------------------------------------------------------------------------------------
// The connect sequence

namespace {

// Built outside the coroutine: GCC 12 miscompiles braced lists inside coroutine bodies.
request handshake(const connect_params& p) {
    request r;
    const auto& ep = p.endpoint;
    if (!ep.password.empty()) {
        if (ep.user.empty()) {
            r.push({"AUTH", ep.password});
        } else {
            r.push({"AUTH", ep.user, ep.password});
        }
    }
    if (ep.db != 0) r.push({"SELECT", std::to_string(ep.db)});
    r.push({"CLIENT", "SETNAME", p.client_name});
    return r;
}

std::string handshake_step(const connect_params& p, std::size_t i) {
    const auto& ep = p.endpoint;
    if (!ep.password.empty()) {
        if (i == 0)
            return ep.user.empty() ? "AUTH (password only)" : "AUTH as user '" + ep.user + "'";
        --i;
    }
    if (ep.db != 0) {
        if (i == 0) return "SELECT " + std::to_string(ep.db);
        --i;
    }
    return "CLIENT SETNAME";
}

void set_socket_options(asio::ip::tcp::socket& s, const keepalive_options& ka) {
    error_code ignored;
    s.set_option(asio::ip::tcp::no_delay(true), ignored);
    s.set_option(asio::socket_base::keep_alive(true), ignored);
    const int fd = s.native_handle();
    const int idle = to_seconds(ka.idle);
    const int interval = to_seconds(ka.interval);
    const int count = static_cast<int>(std::max(1U, ka.count));
    ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle);
    ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &interval, sizeof interval);
    ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &count, sizeof count);
}

bool is_ip_address(const std::string& host) {
    error_code ec;
    (void)asio::ip::make_address(host, ec);
    return !ec;
}

// An error reply during AUTH / SELECT / SETNAME: wrong credentials, a missing permission or
// database index are not fixed by retrying; a full server is a limit, not an outage.
connect_failure handshake_failure(const reply& r) {
    const std::string text = r.str();
    if (text.find("max number of clients reached") != std::string::npos)
        return connect_failure::server_full;
    const auto prefix = r.error_code();
    if (prefix == "WRONGPASS" || prefix == "NOPERM" || prefix == "NOAUTH")
        return connect_failure::permanent;
    if (text.find("DB index") != std::string::npos || text.find("AUTH") != std::string::npos ||
        text.find("password") != std::string::npos)
        return connect_failure::permanent;
    return connect_failure::transient;  // LOADING, MASTERDOWN, BUSY ...
}

connect_failure tls_failure(const error_code& ec) {
    const std::string text = ec.message();
    const bool verification = text.find("certificate verify failed") != std::string::npos ||
                              text.find("unknown ca") != std::string::npos ||
                              text.find("bad certificate") != std::string::npos;
    return verification ? connect_failure::permanent : connect_failure::transient;
}

struct connect_watch {
    bool timed_out{false};
    bool done{false};
    std::optional<asio::ip::tcp::resolver> resolver;
};

}  // namespace

asio::awaitable<connect_result> core::connect(std::shared_ptr<core> self, steady_time deadline) {
    const connect_params& p = *self->params_;
    const auto& ep = p.endpoint;
    auto watch = std::make_shared<connect_watch>();
    asio::steady_timer timer(self->ex_);
    timer.expires_at(deadline);
    timer.async_wait([self, watch](error_code ec) {
        if (ec || watch->done) return;
        watch->timed_out = true;
        if (watch->resolver) watch->resolver->cancel();
        self->close_now();
    });
    const auto tok = asio::as_tuple(asio::use_awaitable);
    auto failed = [&](const std::string& what, const std::string& why,
                      connect_failure kind = connect_failure::transient) {
        watch->done = true;
        timer.cancel();
        self->close_now();
        self->failure_ = what;
        return connect_result{make_error_code(errc::connect_failed),
                              "cannot connect to " + p.display + ": " + what + ": " +
                                  (watch->timed_out ? "timed out" : why),
                              watch->timed_out ? connect_failure::transient : kind};
    };

    try {
        if (!ep.socket_path.empty()) {
            self->unix_.emplace(self->ex_);
            auto [ec] = co_await self->unix_->async_connect(
                asio::local::stream_protocol::endpoint(ep.socket_path), tok);
            if (ec || watch->timed_out) co_return failed("connect", ec.message());
        } else {
            watch->resolver.emplace(self->ex_);
            auto [rec, endpoints] =
                co_await watch->resolver->async_resolve(ep.host, std::to_string(ep.port), tok);
            if (rec || watch->timed_out) co_return failed("resolve " + ep.host, rec.message());
            asio::ip::tcp::socket* sock = nullptr;
            if (ep.tls) {
                self->tls_ =
                    std::make_unique<asio::ssl::stream<asio::ip::tcp::socket>>(self->ex_, *p.tls);
                sock = &self->tls_->next_layer();
            } else {
                sock = &self->tcp_.emplace(self->ex_);
            }
            if (watch->timed_out) co_return failed("connect", "");
            auto [cec, where] = co_await asio::async_connect(*sock, endpoints, tok);
            (void)where;
            if (cec || watch->timed_out) co_return failed("connect", cec.message());
            set_socket_options(*sock, p.keepalive);
            if (ep.tls) {
                if (!is_ip_address(ep.host))
                    SSL_set_tlsext_host_name(self->tls_->native_handle(), ep.host.c_str());
                if (ep.tls_verify)
                    self->tls_->set_verify_callback(asio::ssl::host_name_verification(ep.host));
                auto [hec] =
                    co_await self->tls_->async_handshake(asio::ssl::stream_base::client, tok);
                if (hec || watch->timed_out)
                    co_return failed("TLS handshake", hec.message(), tls_failure(hec));
            }
        }

        // The handshake is part of the connect: bounded by its deadline (connect_timeout), not
        // by query_timeout, else a server that stalls (frozen, swapping) fails connects every
        // query_timeout and opens the breaker where a patient connect would have succeeded.
        const request hello = handshake(p);
        auto [xec, replies] =
            co_await asio::async_initiate<decltype(tok), void(error_code, std::vector<reply>)>(
                [](auto handler, std::shared_ptr<core> c, std::string_view payload, std::size_t n,
                   steady_time until) {
                    core::start(std::move(c), payload, n, until,
                                pipeline_handler(std::move(handler)));
                },
                tok, self, std::string_view(hello.payload()), hello.size(), deadline);
        for (std::size_t i = 0; i < replies.size(); ++i) {
            // Server error texts never echo the password ("WRONGPASS invalid username-...").
            if (replies[i].is_error())
                co_return failed(handshake_step(p, i) + " failed", replies[i].str(),
                                 handshake_failure(replies[i]));
        }
        // After the error replies: a server at maxclients answers once, then hangs up.
        if (xec || watch->timed_out) {
            const std::string why = self->failure_;
            co_return failed("handshake", why);
        }
        watch->done = true;
        timer.cancel();
        // The handshake's own AUTH, SELECT and SETNAME are the state to restore to.
        self->session_ = session_tracker(ep.db);
        co_return connect_result{};
    } catch (const std::exception& e) {
        co_return failed("connect", e.what());
    }
}

}  // namespace connmgr::redis::detail
