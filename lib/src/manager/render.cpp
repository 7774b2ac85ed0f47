// JSON and Prometheus renderings of manager_stats and health.
#include <connmgr/health.hpp>
#include <connmgr/manager_stats.hpp>

#include <boost/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <set>
#include <string>

namespace connmgr {

namespace {

boost::json::array strings(const std::vector<std::string>& v) {
    boost::json::array a;
    for (const auto& s : v) a.emplace_back(s);
    return a;
}

std::string join(const std::vector<std::string>& parts) {
    std::string out;
    for (const auto& p : parts) out += (out.empty() ? "" : ",") + p;
    return out;
}

// Label values escape backslash, double quote and newline (exposition format 0.0.4).
std::string escape_label(const std::string& v) {
    std::string out;
    for (char c : v) {
        if (c == '\\')
            out += "\\\\";
        else if (c == '"')
            out += "\\\"";
        else if (c == '\n')
            out += "\\n";
        else
            out += c;
    }
    return out;
}

std::string number(double v) {
    if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
    if (std::isnan(v)) return "NaN";
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.17g", v);
    return buf;
}

std::string number(std::uint64_t v) { return std::to_string(v); }

class exposition {
public:
    void family(const char* name, const char* type, const char* help) {
        out_ += "# HELP ";
        out_ += name;
        out_ += ' ';
        out_ += help;
        out_ += "\n# TYPE ";
        out_ += name;
        out_ += ' ';
        out_ += type;
        out_ += '\n';
    }
    void sample(const std::string& name, const std::string& labels, const std::string& value) {
        out_ += name + "{" + labels + "} " + value + "\n";
    }
    std::string take() { return std::move(out_); }

private:
    std::string out_;
};

boost::json::array servers_json(const pool_stats& p) {
    boost::json::array out;
    for (const auto& sv : p.servers)
        out.push_back(
            boost::json::object{{"server", sv.server}, {"state", sv.state}, {"open", sv.open}});
    return out;
}

std::string pool_labels(const pool_stats& p) {
    return "database=\"" + escape_label(join(p.databases)) + "\",backend=\"" +
           escape_label(p.backend) + "\",flavour=\"" + to_string(p.flavour) + "\",role=\"" +
           escape_label(p.role) + "\"";
}

// The OpenTelemetry pool attribute: "<database>/<flavour>", "<database>:read/<flavour>" for
// reader()'s pools (DESIGN §12).
std::string otel_labels(const pool_stats& p) {
    return "db_client_connection_pool_name=\"" +
           escape_label(join(p.databases) + (p.role == "read" ? ":read/" : "/") +
                        to_string(p.flavour)) +
           "\"";
}

// A family with one sample per pool, labelled by `labels(pool)`.
template <class Labels, class Value>
void per_pool_family(exposition& e, const manager_stats& s, const char* name, const char* type,
                     const char* help, Labels labels, Value value) {
    e.family(name, type, help);
    for (const auto& p : s.pools) e.sample(name, labels(p), value(p));
}

// One histogram's samples: a bucket per bound, +Inf (every observation), sum and count.
void histogram_samples(exposition& e, const std::string& name, const std::string& labels,
                       const std::vector<double>& bounds,
                       const std::vector<std::uint64_t>& cumulative, std::uint64_t count,
                       double sum) {
    for (std::size_t i = 0; i < bounds.size() && i < cumulative.size(); ++i) {
        if (std::isinf(bounds[i])) break;
        count = std::max(count, cumulative[i]);
        e.sample(name + "_bucket", labels + ",le=\"" + number(bounds[i]) + "\"",
                 number(cumulative[i]));
    }
    e.sample(name + "_bucket", labels + ",le=\"+Inf\"", number(count));
    e.sample(name + "_sum", labels, number(sum));
    e.sample(name + "_count", labels, number(count));
}

// The families of the OpenTelemetry semantic conventions for connection pools
// (db.client.connection.*), in their Prometheus form.
void otel_families(exposition& e, const manager_stats& s) {
    e.family("db_client_connection_count", "gauge", "Connections of a pool by state (idle, used).");
    for (const auto& p : s.pools) {
        const auto l = otel_labels(p);
        e.sample("db_client_connection_count", l + ",db_client_connection_state=\"idle\"",
                 number(std::uint64_t{p.idle}));
        e.sample("db_client_connection_count", l + ",db_client_connection_state=\"used\"",
                 number(std::uint64_t{p.in_use}));
    }
    auto per_pool = [&](const char* name, const char* type, const char* help, auto field) {
        per_pool_family(e, s, name, type, help, otel_labels, field);
    };
    per_pool("db_client_connection_max", "gauge", "Maximum number of open connections allowed.",
             [](const pool_stats& p) { return number(std::uint64_t{p.max_size}); });
    per_pool("db_client_connection_idle_max", "gauge",
             "Maximum number of idle open connections allowed.",
             [](const pool_stats& p) { return number(std::uint64_t{p.max_size}); });
    per_pool("db_client_connection_idle_min", "gauge",
             "Minimum number of idle open connections kept.",
             [](const pool_stats& p) { return number(std::uint64_t{p.min_idle}); });
    per_pool("db_client_connection_pending_requests", "gauge",
             "Requests waiting for an open connection.",
             [](const pool_stats& p) { return number(std::uint64_t{p.waiters}); });
    per_pool("db_client_connection_timeouts_total", "counter",
             "Connection requests that timed out waiting for the pool.",
             [](const pool_stats& p) { return number(p.timeouts_total); });

    e.family("db_client_connection_create_time_seconds", "histogram",
             "Time it took to create a new connection.");
    for (const auto& p : s.pools)
        histogram_samples(e, "db_client_connection_create_time_seconds", otel_labels(p),
                          p.create_time.bounds, p.create_time.cumulative, p.create_time.count,
                          p.create_time.sum);
    e.family("db_client_connection_wait_time_seconds", "histogram",
             "Time it took to obtain an open connection from the pool.");
    for (const auto& p : s.pools)
        histogram_samples(e, "db_client_connection_wait_time_seconds", otel_labels(p),
                          p.wait_buckets_le, p.wait_buckets, p.acquired_total, p.wait_seconds_sum);
    e.family("db_client_connection_use_time_seconds", "histogram",
             "Time between borrowing a connection and returning it to the pool.");
    for (const auto& p : s.pools)
        histogram_samples(e, "db_client_connection_use_time_seconds", otel_labels(p),
                          p.use_time.bounds, p.use_time.cumulative, p.use_time.count,
                          p.use_time.sum);
}

}  // namespace

std::string to_json(const manager_stats& s) {
    struct lease_row {
        const pool_stats* pool;
        const lease_stats* lease;
    };
    std::vector<lease_row> rows;
    for (const auto& p : s.pools)
        for (const auto& l : p.leases) rows.push_back({&p, &l});
    std::stable_sort(rows.begin(), rows.end(), [](const lease_row& a, const lease_row& b) {
        return a.lease->age_seconds > b.lease->age_seconds;
    });
    boost::json::array leases;
    for (const auto& r : rows)
        leases.push_back(boost::json::object{
            {"holder", r.lease->holder},
            {"flavour", to_string(r.pool->flavour)},
            {"database", join(r.pool->databases)},
            {"backend", r.pool->backend},
            {"age_seconds", std::round(r.lease->age_seconds * 1e6) / 1e6},
        });
    boost::json::array pools;
    for (const auto& p : s.pools) {
        boost::json::object buckets;
        boost::json::array hist;
        for (std::size_t i = 0; i < p.wait_buckets_le.size() && i < p.wait_buckets.size(); ++i)
            hist.push_back(boost::json::object{
                {"le", std::isinf(p.wait_buckets_le[i]) ? boost::json::value("+Inf")
                                                        : boost::json::value(p.wait_buckets_le[i])},
                {"count", p.wait_buckets[i]}});
        pools.push_back(boost::json::object{
            {"databases", strings(p.databases)},
            {"url", p.url},
            {"backend", p.backend},
            {"flavour", to_string(p.flavour)},
            {"max_size", p.max_size},
            {"open", p.open},
            {"idle", p.idle},
            {"in_use", p.in_use},
            {"connecting", p.connecting},
            {"waiters", p.waiters},
            {"created_total", p.created_total},
            {"closed_total", p.closed_total},
            {"acquired_total", p.acquired_total},
            {"timeouts_total", p.timeouts_total},
            {"connect_failures_total", p.connect_failures_total},
            {"wait_seconds_sum", p.wait_seconds_sum},
            {"wait_seconds_max", p.wait_seconds_max},
            {"wait_seconds_buckets", std::move(hist)},
            {"min_idle", p.min_idle},
            {"leases_out", p.leases.size()},
            {"utilization", p.utilization},
            {"references", strings(p.references)},
            {"breaker", to_string(p.breaker)},
            {"role", p.role},
            {"servers", servers_json(p)},
        });
    }
    boost::json::object databases;
    for (const auto& d : s.databases) {
        boost::json::object o{{"backend", d.backend},
                              {"url", d.url},
                              {"open", d.open},
                              {"references", strings(d.references)}};
        o["healthy"] = d.healthy ? boost::json::value(*d.healthy) : boost::json::value(nullptr);
        databases[d.name] = std::move(o);
    }
    return boost::json::serialize(boost::json::object{{"pools", std::move(pools)},
                                                      {"databases", std::move(databases)},
                                                      {"leases", std::move(leases)}});
}

std::string to_json(const health& h) {
    boost::json::object databases;
    for (const auto& d : h.databases) {
        boost::json::object o{
            {"healthy", d.healthy},
            {"backend", to_string(d.backend)},
            {"url", d.url},
            {"latency_ms", std::round(d.latency.count() * 1000.0) / 1000.0},
            {"error", d.healthy ? boost::json::value(nullptr) : boost::json::value(d.error)},
        };
        // DESIGN §12: only a multi-server database has "servers".
        if (!d.servers.empty()) {
            boost::json::array servers;
            for (const auto& sv : d.servers)
                servers.push_back(boost::json::object{
                    {"server", sv.server},
                    {"state", sv.state},
                    {"healthy", sv.healthy},
                    {"error",
                     sv.healthy ? boost::json::value(nullptr) : boost::json::value(sv.error)},
                });
            o["servers"] = std::move(servers);
        }
        databases[d.name] = std::move(o);
    }
    return boost::json::serialize(boost::json::object{
        {"overall_healthy", h.overall_healthy},
        {"total_databases", h.total_databases},
        {"healthy_databases", h.healthy_databases},
        {"databases", std::move(databases)},
    });
}

std::string to_prometheus(const manager_stats& s) {
    exposition e;
    e.family("connmgr_pool_connections", "gauge", "Connections of a pool by state.");
    for (const auto& p : s.pools) {
        const auto l = pool_labels(p);
        e.sample("connmgr_pool_connections", l + ",state=\"idle\"", number(std::uint64_t{p.idle}));
        e.sample("connmgr_pool_connections", l + ",state=\"in_use\"",
                 number(std::uint64_t{p.in_use}));
        e.sample("connmgr_pool_connections", l + ",state=\"connecting\"",
                 number(std::uint64_t{p.connecting}));
    }
    auto gauge = [&](const char* name, const char* type, const char* help, auto field) {
        per_pool_family(e, s, name, type, help, pool_labels, field);
    };
    gauge("connmgr_pool_max_size", "gauge", "Hard cap on a pool's connections.",
          [](const pool_stats& p) { return number(std::uint64_t{p.max_size}); });
    gauge("connmgr_pool_waiters", "gauge", "Acquirers queued for a connection.",
          [](const pool_stats& p) { return number(std::uint64_t{p.waiters}); });
    gauge("connmgr_pool_acquire_total", "counter", "Connections handed out.",
          [](const pool_stats& p) { return number(p.acquired_total); });
    gauge("connmgr_pool_acquire_timeouts_total", "counter",
          "Acquires that gave up at their deadline.",
          [](const pool_stats& p) { return number(p.timeouts_total); });

    e.family("connmgr_pool_wait_seconds", "histogram", "Time acquirers waited for a connection.");
    for (const auto& p : s.pools)
        histogram_samples(e, "connmgr_pool_wait_seconds", pool_labels(p), p.wait_buckets_le,
                          p.wait_buckets, p.acquired_total, p.wait_seconds_sum);
    gauge("connmgr_pool_connections_created_total", "counter", "Connections opened.",
          [](const pool_stats& p) { return number(p.created_total); });
    gauge("connmgr_pool_connections_closed_total", "counter", "Connections closed.",
          [](const pool_stats& p) { return number(p.closed_total); });

    e.family("connmgr_database_up", "gauge",
             "1 if the database's last health probe succeeded (open databases: breaker closed).");
    for (const auto& d : s.databases) {
        if (!d.healthy && !d.open) continue;
        bool up = true;
        if (d.healthy) {
            up = *d.healthy;
        } else {
            for (const auto& p : s.pools)
                for (const auto& n : p.databases)
                    if (n == d.name && p.breaker == breaker_state::open) up = false;
        }
        e.sample(
            "connmgr_database_up",
            "database=\"" + escape_label(d.name) + "\",backend=\"" + escape_label(d.backend) + "\"",
            up ? "1" : "0");
    }
    gauge("connmgr_circuit_open", "gauge", "1 while the pool's circuit breaker is open.",
          [](const pool_stats& p) { return p.breaker == breaker_state::open ? "1" : "0"; });
    // DESIGN §12: a multi-server database's connections by server, and each server's state.
    e.family("connmgr_pool_server_connections", "gauge",
             "Open connections of a pool on each server of a multi-server database.");
    for (const auto& p : s.pools)
        for (const auto& sv : p.servers)
            e.sample("connmgr_pool_server_connections",
                     pool_labels(p) + ",server=\"" + escape_label(sv.server) + "\"",
                     number(std::uint64_t{sv.open}));
    e.family("connmgr_server_state", "gauge",
             "1 for the state a server of a multi-server database was last seen in.");
    std::set<std::string> seen;
    for (const auto& p : s.pools) {
        if (p.role != "write") continue;
        for (const auto& sv : p.servers) {
            const std::string db = join(p.databases);
            if (!seen.insert(db + "\n" + sv.server).second) continue;
            for (const char* st : {"unknown", "primary", "standby", "read_only", "down"})
                e.sample("connmgr_server_state",
                         "database=\"" + escape_label(db) + "\",server=\"" +
                             escape_label(sv.server) + "\",state=\"" + st + "\"",
                         sv.state == st ? "1" : "0");
        }
    }
    otel_families(e, s);
    return e.take();
}

}  // namespace connmgr
