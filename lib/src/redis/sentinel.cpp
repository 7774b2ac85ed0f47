#include "sentinel.hpp"

#include <connmgr/detail/log.hpp>
#include <connmgr/error.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>

namespace connmgr::redis::detail {

namespace {

using connmgr::detail::server_table;

// One sentinel gets at most this long per question: the next one is asked after it.
constexpr milliseconds sentinel_budget{1'000};

std::string registry_key(const db_url& url) {
    const auto& s = url.sentinel();
    std::string key;
    for (const auto& a : s.sentinels) key += server_address{a.host, a.port}.name() + ",";
    key += "/" + s.service + "?" + s.user + ":" + s.password + (s.tls ? ":tls" : "");
    return key;
}

// The reason part of a connect_result's message ("cannot connect to X: connect: refused").
std::string reason(const connect_result& r, const connect_params& p) {
    const std::string prefix = "cannot connect to " + p.display + ": ";
    if (r.message.rfind(prefix, 0) == 0) return r.message.substr(prefix.size());
    return r.message;
}

// One command on `c` within `deadline`; an error reply comes back as the reply.
asio::awaitable<std::pair<error_code, reply>> run(std::shared_ptr<core> c, const request& req,
                                                  steady_time deadline) {
    const auto tok = asio::as_tuple(asio::use_awaitable);
    auto [ec, replies] =
        co_await asio::async_initiate<decltype(tok), void(error_code, std::vector<reply>)>(
            [](auto handler, std::shared_ptr<core> conn, std::string_view payload, std::size_t n,
               steady_time until) {
                core::start(std::move(conn), payload, n, until,
                            pipeline_handler(std::move(handler)));
            },
            tok, c, std::string_view(req.payload()), req.size(), deadline);
    if (ec || replies.empty())
        co_return std::pair{ec ? ec : make_error_code(errc::connection_lost), reply{}};
    co_return std::pair{error_code{}, std::move(replies.front())};
}

request sentinel_request(sentinel_query q, const std::string& service) {
    request r;
    if (q == sentinel_query::master_addr) {
        r.push({"SENTINEL", "GET-MASTER-ADDR-BY-NAME", service});
    } else {
        r.push({"SENTINEL", "REPLICAS", service});
    }
    return r;
}

request one(std::string_view a) {
    request r;
    r.push({a});
    return r;
}

std::mutex registry_mutex;
std::map<std::string, std::weak_ptr<sentinel_service>>& registry() {
    static std::map<std::string, std::weak_ptr<sentinel_service>> r;
    return r;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// sentinel_service

std::shared_ptr<sentinel_service> sentinel_service::of(const db_url& url,
                                                       const pool_options& options) {
    const std::string key = registry_key(url);
    std::lock_guard lock(registry_mutex);
    auto& slot = registry()[key];
    if (auto s = slot.lock()) return s;
    auto s = std::make_shared<sentinel_service>(url, options);
    s->start_subscription();
    slot = s;
    return s;
}

sentinel_service::sentinel_service(const db_url& url, const pool_options& options)
    : options_(url.sentinel()), view_(url.sentinel().service) {
    for (const auto& a : options_.sentinels) {
        redis_endpoint ep;
        ep.host = a.host;
        ep.port = a.port;
        ep.user = options_.user;
        ep.password = options_.password;
        ep.tls = options_.tls;
        ep.tls_ca_file = url.redis().tls_ca_file;
        ep.tls_verify = url.redis().tls_verify;
        pool_options o = options;
        o.query_timeout = sentinel_budget;
        sentinel_params_.push_back(
            make_params(ep, "sentinel", "sentinel " + server_address{a.host, a.port}.name(), o));
    }
}

sentinel_service::~sentinel_service() {
    // The subscription's coroutine frame (and its connection) go with io_'s pending work.
    io_.stop();
    if (thread_.joinable()) thread_.join();
}

discovery sentinel_service::start_discovery(bool replica) {
    std::lock_guard lock(mutex_);
    return discovery(options_.sentinels, options_.service, replica, view_.master(),
                     replica ? view_.next_spread() : 0);
}

void sentinel_service::learn(const std::vector<learned>& facts) {
    for (const auto& f : facts) server_table::instance().learn(id_of(f.address), f.state);
}

void sentinel_service::apply(const discovery& d, const std::optional<use_connection>& used) {
    {
        std::lock_guard lock(mutex_);
        for (const auto& f : d.facts())
            if (f.state == server_state::down) view_.forget(f.address);
        if (used && used->state == server_state::primary &&
            (!d.named_master() || *d.named_master() == used->address))
            view_.on_master(used->address);
    }
    learn(d.facts());
}

void sentinel_service::not_master(const server_address& server) {
    std::vector<learned> facts;
    {
        std::lock_guard lock(mutex_);
        facts = view_.on_not_master(server);
    }
    connmgr::detail::log(log_level::warn, "sentinel service '" + options_.service +
                                              "': " + server.name() +
                                              " is no longer the master (READONLY/MASTERDOWN); "
                                              "its connections are being replaced");
    learn(facts);
}

void sentinel_service::on_switch(const switch_master& event) {
    std::vector<learned> facts;
    bool news = false;
    {
        std::lock_guard lock(mutex_);
        const auto before = view_.failovers();
        facts = view_.on_switch_master(event);
        news = view_.failovers() != before;
    }
    if (facts.empty()) return;
    if (news)
        connmgr::detail::log(log_level::info, "sentinel service '" + options_.service +
                                                  "': +switch-master " + event.from.name() +
                                                  " -> " + event.to.name());
    learn(facts);
}

std::uint32_t sentinel_service::id_of(const server_address& address) {
    const auto id = server_table::instance().intern(address.name());
    std::lock_guard lock(mutex_);
    if (ids_.insert(id).second) order_.push_back(id);
    return id;
}

bool sentinel_service::knows(std::uint32_t id) const {
    std::lock_guard lock(mutex_);
    return ids_.count(id) != 0;
}

std::vector<std::uint32_t> sentinel_service::servers() const {
    std::lock_guard lock(mutex_);
    return order_;
}

std::size_t sentinel_service::failovers() const {
    std::lock_guard lock(mutex_);
    return view_.failovers();
}

void sentinel_service::start_subscription() {
    asio::co_spawn(io_, subscribe_loop(), asio::detached);
    thread_ = std::thread([this] { io_.run(); });
}

// One subscription at a time, on the first sentinel that takes it; re-made on loss, on the
// next sentinel, after a pause when every one failed.
asio::awaitable<void> sentinel_service::subscribe_loop() {
    auto weak = weak_from_this();
    const auto ex = co_await asio::this_coro::executor;
    std::size_t at = 0;
    std::size_t failures = 0;
    asio::steady_timer pause(ex);
    const auto tok = asio::as_tuple(asio::use_awaitable);
    while (!stopping_) {
        const auto& params = sentinel_params_[at % sentinel_params_.size()];
        auto c = std::make_shared<core>(ex, params);
        subscriber_ = c;
        bool listening = false;
        const auto deadline = std::chrono::steady_clock::now() + sentinel_budget;
        const auto r = co_await core::connect(c, deadline);
        if (!r.ec && !stopping_) {
            // The master now: a switch while no subscription was up is noticed here.
            auto [ec, answer] = co_await run(
                c, sentinel_request(sentinel_query::master_addr, options_.service), deadline);
            if (!ec) {
                if (auto m = parse_master_addr(answer, options_.service)) {
                    std::optional<server_address> known;
                    {
                        std::lock_guard lock(mutex_);
                        known = view_.master();
                    }
                    if (known && *known != *m.value)
                        on_switch(switch_master{options_.service, *known, *m.value});
                }
                request sub;
                sub.push({"SUBSCRIBE", "+switch-master"});
                sub.push({"SUBSCRIBE", "+promoted-slave"});
                auto [sec, confirm] = co_await run(c, sub, deadline);
                listening = !sec && std::holds_alternative<subscribed>(parse_pubsub(confirm));
            }
        }
        if (listening) {
            failures = 0;
            reply msg;
            while (!stopping_) {
                const auto ec = co_await core::read_push(c, msg);
                if (ec) break;
                const auto event = parse_pubsub(msg);
                if (const auto* s = std::get_if<switch_master>(&event)) on_switch(*s);
            }
        }
        c->close_now();
        subscriber_.reset();
        if (stopping_) break;
        ++at;
        if (++failures >= sentinel_params_.size()) {
            failures = 0;
            pause.expires_after(std::chrono::milliseconds(500));
            co_await pause.async_wait(tok);
        }
    }
    (void)weak;
}

// ---------------------------------------------------------------------------------------------
// sentinel_link

sentinel_link::sentinel_link(const db_url& url, std::shared_ptr<const connect_params> base,
                             const pool_options& options)
    : service_(sentinel_service::of(url, options)),
      base_(std::move(base)),
      replica_(url.sentinel().replica) {}

std::shared_ptr<const connect_params> sentinel_link::params_for(const server_address& address) {
    const std::string name = address.name();
    std::lock_guard lock(mutex_);
    auto& slot = by_server_[name];
    if (!slot) {
        auto p = std::make_shared<connect_params>(*base_);
        p->endpoint.host = address.host;
        p->endpoint.port = address.port;
        p->display = base_->display + " (server " + name + ")";
        p->server = service_->id_of(address);
        if (!replica_) {
            p->on_not_master = [weak = std::weak_ptr<sentinel_service>(service_), address] {
                if (auto s = weak.lock()) s->not_master(address);
            };
        }
        slot = std::move(p);
    }
    return slot;
}

std::function<bool(std::uint32_t, server_state)> sentinel_link::retire_rule() const {
    return [service = service_, replica = replica_](std::uint32_t id, server_state state) {
        if (!service->knows(id)) return false;
        if (replica) return state == server_state::down;
        return state == server_state::standby || state == server_state::read_only ||
               state == server_state::down;
    };
}

// ---------------------------------------------------------------------------------------------
// sentinel_connect

asio::awaitable<sentinel_connected> sentinel_connect(std::shared_ptr<sentinel_link> link,
                                                     asio::any_io_executor ex, steady_time deadline,
                                                     bool inline_start) {
    auto& service = *link->service();
    const std::string& name = service.options().service;
    discovery d = service.start_discovery(link->replica());
    auto action = d.start();
    std::shared_ptr<core> c;
    while (true) {
        if (const auto* ask = std::get_if<ask_sentinel>(&action)) {
            const auto& params = service.sentinel_params(ask->index);
            auto s = std::make_shared<core>(ex, params);
            s->inline_start_ = inline_start;
            const auto until =
                std::min(deadline, std::chrono::steady_clock::now() + sentinel_budget);
            const auto r = co_await core::connect(s, until);
            if (r.ec) {
                action = d.on_sentinel_failed(reason(r, *params));
                continue;
            }
            auto [ec, answer] = co_await run(s, sentinel_request(ask->query, name), until);
            s->close_now();
            if (ec) {
                action = d.on_sentinel_failed(s->timed_out() ? "timed out" : s->failure());
            } else if (ask->query == sentinel_query::master_addr) {
                action = d.on_master_addr(parse_master_addr(answer, name));
            } else {
                action = d.on_replicas(parse_replicas(answer, name));
            }
        } else if (const auto* to = std::get_if<connect_to>(&action)) {
            const auto params = link->params_for(to->address);
            c = std::make_shared<core>(ex, params);
            c->inline_start_ = inline_start;
            const auto r = co_await core::connect(c, deadline);
            if (r.ec) {
                if (r.failure != connect_failure::transient) {  // AUTH, TLS: no retry fixes it
                    service.apply(d, std::nullopt);
                    co_return sentinel_connected{r, nullptr, 0};
                }
                action = d.on_connect_failed(reason(r, *params));
                continue;
            }
            auto [ec, answer] = co_await run(c, one("ROLE"), deadline);
            if (ec) {
                action = d.on_connect_failed(c->timed_out() ? "ROLE timed out" : c->failure());
            } else {
                action = d.on_role(parse_role(answer));
            }
            if (!std::holds_alternative<use_connection>(action)) c->close_now();
        } else if (const auto* use = std::get_if<use_connection>(&action)) {
            service.apply(d, *use);
            const auto id = service.id_of(use->address);
            co_return sentinel_connected{{}, std::move(c), id};
        } else {
            service.apply(d, std::nullopt);
            co_return sentinel_connected{{make_error_code(errc::connect_failed),
                                          "cannot connect to " + link->base().display + ": " +
                                              std::get<give_up>(action).message,
                                          connect_failure::transient},
                                         nullptr,
                                         0};
        }
    }
}

}  // namespace connmgr::redis::detail
