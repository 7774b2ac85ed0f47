#pragma once
// Server-side truth for the fault and load suites: how many connections a server holds for
// the pools under test (PostgreSQL application_name / Redis CLIENT SETNAME "connmgr:<name>"),
// sampled every 100 ms on a thread of its own, with the peak kept and a bounded wait for a
// count (e.g. 0 after close_all()).
//
// The counters use their own connection, named so that it never matches what they count, and
// reconnect after the server went away (a fault test restarts it under them); a sample taken
// while the server is down is an error, not a zero.

#include <connmgr/redis/sync_driver.hpp>
#include <connmgr/url.hpp>

#include <libpq-fe.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace connmgr::test {

/// One count of a server's connections; nullopt when the server could not be asked.
using connection_count = std::function<std::optional<long>()>;

namespace detail {

// A libpq connection that reconnects on demand; PgBouncer's admin console takes only simple
// queries, which PQexec sends.
class pg_observer {
public:
    explicit pg_observer(std::vector<std::pair<std::string, std::string>> params)
        : params_(std::move(params)) {
        params_.emplace_back("application_name", "connmgr-test-sampler");
        params_.emplace_back("connect_timeout", "2");
    }

    // Rows of `sql` (first column per row, or every column when `column` is set).
    std::optional<std::vector<std::string>> column(const std::string& sql, int col = 0) {
        if (!conn_ || PQstatus(conn_.get()) != CONNECTION_OK) connect();
        if (!conn_) return std::nullopt;
        std::unique_ptr<PGresult, decltype(&PQclear)> r(PQexec(conn_.get(), sql.c_str()), &PQclear);
        if (PQresultStatus(r.get()) != PGRES_TUPLES_OK) {
            conn_.reset();  // a broken connection or a server restart: start over next time
            return std::nullopt;
        }
        const int fields = PQnfields(r.get());
        if (col >= fields) return std::nullopt;
        std::vector<std::string> out;
        for (int i = 0; i < PQntuples(r.get()); ++i) out.emplace_back(PQgetvalue(r.get(), i, col));
        return out;
    }

    // Index of the column named `name` in the result of `sql`, -1 if none.
    int column_index(const std::string& sql, const char* name) {
        if (!conn_ || PQstatus(conn_.get()) != CONNECTION_OK) connect();
        if (!conn_) return -1;
        std::unique_ptr<PGresult, decltype(&PQclear)> r(PQexec(conn_.get(), sql.c_str()), &PQclear);
        return PQresultStatus(r.get()) == PGRES_TUPLES_OK ? PQfnumber(r.get(), name) : -1;
    }

private:
    void connect() {
        std::vector<const char*> keys, values;
        for (const auto& [k, v] : params_) {
            keys.push_back(k.c_str());
            values.push_back(v.c_str());
        }
        keys.push_back(nullptr);
        values.push_back(nullptr);
        conn_.reset(PQconnectdbParams(keys.data(), values.data(), 0));
        if (PQstatus(conn_.get()) != CONNECTION_OK) conn_.reset();
    }

    std::vector<std::pair<std::string, std::string>> params_;
    std::unique_ptr<PGconn, decltype(&PQfinish)> conn_{nullptr, &PQfinish};
};

inline std::vector<std::pair<std::string, std::string>> pg_params(const std::string& url) {
    auto params = db_url::parse(url).pg_params();
    std::erase_if(params, [](const auto& kv) { return kv.first == "application_name"; });
    return params;
}

}  // namespace detail

/// PostgreSQL backends of `url`'s database whose application_name starts with
/// "connmgr:" + prefix. `url` is the server itself, not PgBouncer.
inline connection_count pg_server_connections(const std::string& url, const std::string& prefix) {
    auto observer = std::make_shared<detail::pg_observer>(detail::pg_params(url));
    // The prefix comes from the test (unique_name), never from outside: plain quoting suffices.
    const std::string sql =
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND "
        "application_name LIKE 'connmgr:" +
        prefix + "%'";
    return [observer, sql]() -> std::optional<long> {
        auto rows = observer->column(sql);
        if (!rows || rows->empty()) return std::nullopt;
        return std::stol(rows->front());
    };
}

/// Client connections PgBouncer at `url` holds whose application_name starts with
/// "connmgr:" + prefix (SHOW CLIENTS on its admin console; `stats_users` must list the user).
/// PgBouncer's own server connections to PostgreSQL are its pool, not ours: this is what our
/// pool holds open.
inline connection_count pgbouncer_client_connections(const std::string& url,
                                                     const std::string& prefix) {
    auto params = detail::pg_params(url);
    for (auto& [k, v] : params)
        if (k == "dbname") v = "pgbouncer";
    auto observer = std::make_shared<detail::pg_observer>(std::move(params));
    const std::string wanted = "connmgr:" + prefix;
    return [observer, wanted]() -> std::optional<long> {
        const int col = observer->column_index("SHOW CLIENTS", "application_name");
        if (col < 0) return std::nullopt;
        auto names = observer->column("SHOW CLIENTS", col);
        if (!names) return std::nullopt;
        return static_cast<long>(std::count_if(names->begin(), names->end(), [&](const auto& n) {
            return n.compare(0, wanted.size(), wanted) == 0;
        }));
    };
}

/// Redis clients of the server at `url` whose name starts with "connmgr:" + prefix
/// (CLIENT LIST). The counter's own connection is named connmgr:test-sampler.
inline connection_count redis_server_connections(const std::string& url,
                                                 const std::string& prefix) {
    struct state {
        redis_endpoint endpoint;
        std::unique_ptr<redis::sync_connection> conn;
    };
    auto s = std::make_shared<state>();
    s->endpoint = db_url::parse(url).redis();
    if (prefix.compare(0, 12, "test-sampler") == 0)
        throw std::invalid_argument("the prefix would count the sampler itself");
    const std::string needle = " name=connmgr:" + prefix;
    return [s, needle]() -> std::optional<long> {
        try {
            if (!s->conn) {
                redis::sync_driver driver(s->endpoint, "test-sampler", {});
                auto out =
                    driver.connect(std::chrono::steady_clock::now() + std::chrono::seconds(2));
                if (!out.connection) return std::nullopt;
                s->conn = std::move(out.connection);
            }
            const std::string list = s->conn->command({"CLIENT", "LIST"}).str();
            long n = 0;
            for (auto pos = list.find(needle); pos != std::string::npos;
                 pos = list.find(needle, pos + 1))
                ++n;
            return n;
        } catch (const std::exception&) {
            s->conn.reset();  // killed or restarted under us: reconnect next time
            return std::nullopt;
        }
    };
}

/// Calls `count` every `period` on its own thread from construction until stop() (or
/// destruction), keeping the peak and the latest successful sample.
///
/// \par Thread safety
/// Every member may be called from any thread; `count` runs on the sampler thread only.
class connection_sampler {
public:
    explicit connection_sampler(connection_count count,
                                std::chrono::milliseconds period = std::chrono::milliseconds(100))
        : count_(std::move(count)), period_(period), thread_([this] { run(); }) {}

    connection_sampler(const connection_sampler&) = delete;
    connection_sampler& operator=(const connection_sampler&) = delete;
    ~connection_sampler() { stop(); }

    void stop() {
        {
            std::lock_guard lock(mutex_);
            stopping_ = true;
        }
        wake_.notify_all();
        if (thread_.joinable()) thread_.join();
    }

    /// The highest count seen so far (0 before the first successful sample).
    long peak() const {
        std::lock_guard lock(mutex_);
        return peak_;
    }
    /// Successful samples so far, and the ones where the server could not be asked.
    std::size_t samples() const {
        std::lock_guard lock(mutex_);
        return samples_;
    }
    std::size_t failed_samples() const {
        std::lock_guard lock(mutex_);
        return failed_;
    }

    /// Waits until a sample taken after this call counts exactly `n`, or `limit` passes.
    /// Returns the last successful count seen (nullopt if none succeeded in that time).
    std::optional<long> await(long n, std::chrono::milliseconds limit = std::chrono::seconds(10)) {
        std::unique_lock lock(mutex_);
        const std::size_t seen = samples_;
        std::optional<long> last;
        wake_.wait_for(lock, limit, [&] {
            if (samples_ > seen) last = last_;
            return stopping_ || (samples_ > seen && last_ == n);
        });
        return last;
    }

    /// Clears the peak, e.g. between the phases of a scenario.
    void reset_peak() {
        std::lock_guard lock(mutex_);
        peak_ = 0;
    }

private:
    void run() {
        std::unique_lock lock(mutex_);
        while (!stopping_) {
            lock.unlock();
            const std::optional<long> n = count_();
            lock.lock();
            if (n) {
                ++samples_;
                last_ = *n;
                peak_ = std::max(peak_, *n);
            } else {
                ++failed_;
            }
            wake_.notify_all();
            wake_.wait_for(lock, period_, [this] { return stopping_; });
        }
    }

    connection_count count_;
    std::chrono::milliseconds period_;
    mutable std::mutex mutex_;
    std::condition_variable wake_;
    bool stopping_{false};
    long peak_{0};
    long last_{0};
    std::size_t samples_{0};
    std::size_t failed_{0};
    std::thread thread_;
};

}  // namespace connmgr::test
