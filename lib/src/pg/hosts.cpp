#include "hosts.hpp"

#include <libpq-fe.h>

#include <algorithm>
#include <cstring>
#include <mutex>

namespace connmgr::pg::detail {

namespace {

std::vector<std::string> split_list(const std::string& s) {
    std::vector<std::string> out;
    std::size_t start = 0;
    for (;;) {
        auto pos = s.find(',', start);
        out.push_back(s.substr(start, pos == std::string::npos ? pos : pos - start));
        if (pos == std::string::npos) return out;
        start = pos + 1;
    }
}

const std::string* find(const conn_params& p, std::string_view key) {
    for (const auto& [k, v] : p)
        if (k == key) return &v;
    return nullptr;
}

bool on(const char* v) noexcept { return v != nullptr && std::strcmp(v, "on") == 0; }

}  // namespace

const char* to_string(target t) noexcept {
    switch (t) {
        case target::any: return "any";
        case target::read_write: return "read-write";
        case target::read_only: return "read-only";
        case target::primary: return "primary";
        case target::standby: return "standby";
        case target::prefer_standby: return "prefer-standby";
    }
    return "any";
}

std::optional<target> parse_target(std::string_view text) noexcept {
    for (auto t : {target::any, target::read_write, target::read_only, target::primary,
                   target::standby, target::prefer_standby})
        if (text == to_string(t)) return t;
    return std::nullopt;
}

server_state state_of(const char* in_hot_standby, const char* read_only) noexcept {
    if (on(in_hot_standby)) return server_state::standby;
    if (on(read_only)) return server_state::read_only;
    return server_state::primary;
}

server_state session_state(const pg_conn* conn) noexcept {
    auto* c = const_cast<PGconn*>(conn);  // libpq's getters take a non-const PGconn
    return state_of(PQparameterStatus(c, "in_hot_standby"),
                    PQparameterStatus(c, "default_transaction_read_only"));
}

bool fits(target t, server_state s, bool first_pass) noexcept {
    if (s == server_state::down || s == server_state::unknown) return false;
    switch (t) {
        case target::any: return true;
        case target::read_write: return s == server_state::primary;
        case target::read_only: return s == server_state::standby || s == server_state::read_only;
        // libpq: "primary" asks only that the server is not in hot standby.
        case target::primary: return s == server_state::primary || s == server_state::read_only;
        case target::standby: return s == server_state::standby;
        case target::prefer_standby: return !first_pass || s == server_state::standby;
    }
    return false;
}

void probe_refused(const pg_host& h, server_health& s, const std::string& message, bool transient) {
    s.server = h.name;
    s.healthy = false;
    // The driver's prefix names the database, which the server's row does not need.
    const auto at = message.find("' failed: ");
    s.error = message.starts_with("PostgreSQL connect to '") && at != std::string::npos
                  ? message.substr(at + 10)
                  : message;
    if (!transient) {
        s.state = to_string(server_state::unknown);
        return;
    }
    s.state = to_string(server_state::down);
    connmgr::detail::server_table::instance().learn(h.id, server_state::down, message);
}

bool probe_answered(target t, const pg_host& h, server_health& s, const pg_conn* conn,
                    const std::string& ping_error) {
    auto& table = connmgr::detail::server_table::instance();
    s.server = h.name;
    if (!ping_error.empty()) {
        s.healthy = false;
        s.state = to_string(server_state::down);
        s.error = ping_error;
        table.learn(h.id, server_state::unknown);  // as a lost connection: try it again
        return false;
    }
    const auto state = session_state(conn);
    table.learn(h.id, state);
    s.state = to_string(state);
    s.healthy = true;
    s.error.clear();
    return fits(t, state);
}

void probe_verdict(target t, const std::string& name, const std::vector<char>& fit,
                   hosts_probe& out) {
    out.fits = std::any_of(fit.begin(), fit.end(), [](char f) { return f != 0; });
    if (out.fits) return;
    std::string seen;
    for (const auto& s : out.servers) {
        // Each server's own error is in its entry; a refusal (not "down") is the reason.
        std::string error = s.error;
        while (!error.empty() && (error.back() == '\n' || error.back() == ' ')) error.pop_back();
        seen += (seen.empty() ? "" : "; ") + s.server +
                (s.healthy || s.state == "down" ? " is " + s.state : ": " + error);
    }
    out.message = "PostgreSQL '" + name + "': no server fits target_session_attrs=" + to_string(t) +
                  " (" + seen + ")";
}

std::vector<std::size_t> order_hosts(const std::vector<host_view>& hosts, target t) {
    std::vector<std::size_t> out(hosts.size());
    for (std::size_t i = 0; i < out.size(); ++i) out[i] = i;
    auto last = [&](std::size_t i) {
        const auto& h = hosts[i];
        if (!h.recent || h.state == server_state::unknown) return false;
        return h.state == server_state::down || !fits(t, h.state);
    };
    std::stable_partition(out.begin(), out.end(), [&](std::size_t i) { return !last(i); });
    return out;
}

std::shared_ptr<const host_plan> host_plan::of(const conn_params& params,
                                               std::chrono::milliseconds recheck) {
    const auto* host = find(params, "host");
    auto plan = std::make_shared<host_plan>();
    if (const auto* t = find(params, "target_session_attrs"))
        plan->target_ = parse_target(*t).value_or(target::any);
    if (const auto* b = find(params, "load_balance_hosts")) plan->balance_ = *b == "random";
    plan->recheck_ = recheck;
    const auto hosts = host != nullptr ? split_list(*host) : std::vector<std::string>{""};
    if (hosts.size() < 2 && plan->target_ == target::any) return nullptr;
    const auto* port = find(params, "port");
    const auto ports = port != nullptr ? split_list(*port) : std::vector<std::string>{};
    const auto* addr = find(params, "hostaddr");
    const auto addrs = addr != nullptr ? split_list(*addr) : std::vector<std::string>{};
    auto& table = connmgr::detail::server_table::instance();
    for (std::size_t i = 0; i < hosts.size(); ++i) {
        pg_host h;
        h.host = hosts[i];
        h.port = ports.empty() ? "5432" : ports.size() == 1 ? ports[0] : ports[i];
        if (h.port.empty()) h.port = "5432";
        if (i < addrs.size()) h.hostaddr = addrs[i];
        h.name = h.host + ":" + h.port;
        h.id = table.intern(h.name);
        plan->hosts_.push_back(std::move(h));
    }
    return plan;
}

std::vector<std::size_t> host_plan::order() const {
    auto& table = connmgr::detail::server_table::instance();
    const auto now = std::chrono::steady_clock::now();
    std::vector<host_view> views;
    views.reserve(hosts_.size());
    for (const auto& h : hosts_) {
        const auto info = table.get(h.id);
        views.push_back({info.state, info.learned != std::chrono::steady_clock::time_point{} &&
                                         now - info.learned < recheck_});
    }
    if (!balance_) return order_hosts(views, target_);
    // Shuffle first, then the known-bad go last: random among the usable ones.
    std::vector<std::size_t> perm(hosts_.size());
    for (std::size_t i = 0; i < perm.size(); ++i) perm[i] = i;
    thread_local std::minstd_rand rng{std::random_device{}()};
    std::shuffle(perm.begin(), perm.end(), rng);
    std::vector<host_view> shuffled;
    for (auto i : perm) shuffled.push_back(views[i]);
    auto order = order_hosts(shuffled, target_);
    for (auto& i : order) i = perm[i];
    return order;
}

conn_params host_plan::params_for(const conn_params& base, std::size_t i) const {
    conn_params out;
    out.reserve(base.size());
    const auto& h = hosts_[i];
    for (const auto& [k, v] : base) {
        if (k == "target_session_attrs" || k == "load_balance_hosts" || k == "hostaddr") continue;
        if (k == "host")
            out.emplace_back(k, h.host);
        else if (k == "port")
            out.emplace_back(k, h.port);
        else
            out.emplace_back(k, v);
    }
    if (find(out, "port") == nullptr) out.emplace_back("port", h.port);
    if (!h.hostaddr.empty()) out.emplace_back("hostaddr", h.hostaddr);
    return out;
}

std::function<bool(server_id, server_state)> host_plan::retire_rule(
    const std::shared_ptr<const host_plan>& plan) {
    if (!plan) return {};
    return [plan](server_id server, server_state state) {
        const auto& hosts = plan->hosts();
        const bool ours = std::any_of(hosts.begin(), hosts.end(),
                                      [&](const pg_host& h) { return h.id == server; });
        return ours && !fits(plan->goal(), state);
    };
}

std::vector<server_id> host_plan::server_ids(const std::shared_ptr<const host_plan>& plan) {
    std::vector<server_id> out;
    if (plan)
        for (const auto& h : plan->hosts()) out.push_back(h.id);
    return out;
}

server_id host_plan::id_of(std::string_view name) const noexcept {
    for (const auto& h : hosts_)
        if (h.name == name) return h.id;
    return 0;
}

const pg_host* host_plan::host_of(const pg_conn* conn) const noexcept {
    auto* c = const_cast<PGconn*>(conn);
    const char* host = PQhost(c);
    const char* port = PQport(c);
    if (host == nullptr || port == nullptr) return nullptr;
    for (const auto& h : hosts_)
        if (h.port == port && (h.host == host || h.hostaddr == host)) return &h;
    return nullptr;
}

bool host_plan::still_fits(const pg_conn* conn, bool lost) const {
    const pg_host* h = host_of(conn);
    if (h == nullptr) return !lost;
    auto& table = connmgr::detail::server_table::instance();
    if (lost) {
        table.learn(h->id, server_state::unknown);
        return false;
    }
    const auto state = session_state(conn);
    if (fits(target_, state)) return true;
    table.learn(h->id, state);
    return false;
}

}  // namespace connmgr::pg::detail
