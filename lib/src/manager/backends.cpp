// The one place that knows every backend: which database_pools a URL kind gets, and how a
// database is probed. Everything else in the manager is backend-independent.
#include "manager_impl.hpp"

#include <connmgr/detail/database_pools.hpp>
#include <connmgr/pg/async_driver.hpp>
#include <connmgr/pg/sync_driver.hpp>
#include <connmgr/redis/async_driver.hpp>
#include <connmgr/redis/sync_driver.hpp>

#include <boost/asio/post.hpp>
#include <boost/asio/use_future.hpp>

#include <functional>
#include <utility>

namespace connmgr::detail {

namespace {

template <class SyncDriver, class AsyncDriver>
class typed_pools_handle final : public pools_handle {
public:
    using pools_type = database_pools<SyncDriver, AsyncDriver>;

    explicit typed_pools_handle(std::shared_ptr<pools_type> pools) : pools_(std::move(pools)) {}

    close_summary close(std::chrono::milliseconds drain) override { return pools_->close(drain); }
    std::vector<pool_stats> stats() override { return pools_->stats(); }
    bool is_open() override { return pools_->has_sync() || pools_->has_async(); }
    void open_both() override {
        { auto lease = pools_->sync()->acquire(); }
        { auto lease = pools_->async()->async_acquire(boost::asio::use_future).get(); }
    }
    erased_pools erased() override { return {pools_, std::type_index(typeid(pools_type))}; }

private:
    std::shared_ptr<pools_type> pools_;
};

template <class SyncDriver, class AsyncDriver>
std::shared_ptr<pools_handle> make_typed(const database_config& db,
                                         std::vector<boost::asio::any_io_executor> executors,
                                         std::string display_names) {
    using pools_type = database_pools<SyncDriver, AsyncDriver>;
    return std::make_shared<typed_pools_handle<SyncDriver, AsyncDriver>>(
        std::make_shared<pools_type>(db, std::move(executors), std::move(display_names)));
}

database_health unprobed(const database_config& db) {
    database_health h;
    h.name = db.name;
    h.backend = db.kind();
    h.url = db.url.redacted();
    return h;
}

/// connect_timeout bounds the connect and the round trip together (5 s when unset).
std::chrono::milliseconds probe_budget(const pool_options& options) {
    return options.connect_timeout.count() > 0 ? options.connect_timeout
                                               : std::chrono::milliseconds(5000);
}

template <class SyncDriver>
database_health probe_with(const database_config& db) {
    auto h = unprobed(db);
    const auto start = std::chrono::steady_clock::now();
    const auto deadline = start + probe_budget(db.sync_pool);
    try {
        SyncDriver driver(db, db.sync_pool);
        // DESIGN §12: a database naming several servers probes every one of them; it is
        // healthy when one fits its target.
        if constexpr (requires { driver.probe_hosts(deadline); }) {
            if (auto hosts = driver.probe_hosts(deadline)) {
                h.servers = std::move(hosts->servers);
                h.healthy = hosts->fits;
                h.error = std::move(hosts->message);
                h.latency = std::chrono::steady_clock::now() - start;
                return h;
            }
        }
        auto outcome = driver.connect(deadline);
        if (!outcome.connection) {
            h.error = outcome.message.empty() ? outcome.error.message() : outcome.message;
        } else {
            if (auto ec = driver.ping(*outcome.connection, deadline))
                h.error = "ping failed: " + ec.message();
            else
                h.healthy = true;
            driver.close(*outcome.connection);
        }
    } catch (const std::exception& e) {
        h.error = e.what();
    }
    h.latency = std::chrono::steady_clock::now() - start;
    return h;
}

/// One background probe in flight. Its handlers hold it weakly: the owner (the manager's
/// monitor) decides its lifetime, and a connection never owns the handler that owns it.
template <class AsyncDriver>
struct async_probe_run {
    using connection = typename AsyncDriver::connection;

    async_probe_run(const database_config& db, std::function<void(database_health)> on_done)
        : driver(db, db.async_pool),
          health(unprobed(db)),
          start(std::chrono::steady_clock::now()),
          deadline(start + probe_budget(db.async_pool)),
          done(std::move(on_done)) {}

    void finish(std::string error) {
        health.healthy = error.empty();
        health.error = std::move(error);
        health.latency = std::chrono::steady_clock::now() - start;
        if (connection_) driver.close(*connection_);
        if (done) std::exchange(done, nullptr)(health);
    }

    AsyncDriver driver;
    std::unique_ptr<connection> connection_;
    std::shared_ptr<void> hosts;  ///< a multi-host database's probe of every host
    database_health health;
    steady_time start;
    steady_time deadline;
    std::function<void(database_health)> done;
};

template <class AsyncDriver>
std::shared_ptr<void> start_async_probe_with(const database_config& db,
                                             boost::asio::any_io_executor executor,
                                             std::function<void(database_health)> done) {
    using run_type = async_probe_run<AsyncDriver>;
    auto run = std::make_shared<run_type>(db, std::move(done));
    std::weak_ptr<run_type> weak = run;
    // DESIGN §12: every server of a multi-host database; healthy when one fits its target.
    if constexpr (requires { &AsyncDriver::async_probe_hosts; }) {
        run->hosts = run->driver.async_probe_hosts(executor, run->deadline, [weak](auto probe) {
            auto self = weak.lock();
            if (!self) return;
            self->health.servers = std::move(probe.servers);
            self->finish(probe.fits ? std::string() : std::move(probe.message));
        });
        if (run->hosts) return run;
    }
    run->driver.async_connect(
        executor, run->deadline, [weak](connect_outcome<typename run_type::connection> outcome) {
            auto self = weak.lock();
            if (!self) return;  // abandoned: the new connection closes with `outcome`
            if (!outcome.connection)
                return self->finish(outcome.message.empty() ? outcome.error.message()
                                                            : outcome.message);
            self->connection_ = std::move(outcome.connection);
            self->driver.async_ping(*self->connection_, self->deadline,
                                    [weak](boost::system::error_code ec) {
                                        if (auto probe = weak.lock())
                                            probe->finish(ec ? "ping failed: " + ec.message() : "");
                                    });
        });
    return run;
}

}  // namespace

std::shared_ptr<pools_handle> make_pools_handle(const database_config& db,
                                                std::vector<boost::asio::any_io_executor> executors,
                                                std::string display_names) {
    switch (db.kind()) {
        case backend::postgres:
            return make_typed<pg::sync_driver, pg::async_driver>(db, std::move(executors),
                                                                 std::move(display_names));
        case backend::redis:
        case backend::falkordb:
            return make_typed<redis::sync_driver, redis::async_driver>(db, std::move(executors),
                                                                       std::move(display_names));
    }
    throw config_error("database '" + db.name + "': unsupported backend");
}

database_health probe(const database_config& db) {
    switch (db.kind()) {
        case backend::postgres: return probe_with<pg::sync_driver>(db);
        case backend::redis:
        case backend::falkordb: return probe_with<redis::sync_driver>(db);
    }
    auto h = unprobed(db);
    h.error = "unsupported backend";
    return h;
}

std::shared_ptr<void> start_async_probe(const database_config& db,
                                        boost::asio::any_io_executor executor,
                                        std::function<void(database_health)> done) {
    switch (db.kind()) {
        case backend::postgres:
            return start_async_probe_with<pg::async_driver>(db, std::move(executor),
                                                            std::move(done));
        case backend::redis:
        case backend::falkordb:
            return start_async_probe_with<redis::async_driver>(db, std::move(executor),
                                                               std::move(done));
    }
    auto h = unprobed(db);
    h.error = "unsupported backend";
    boost::asio::post(executor, [done = std::move(done), h = std::move(h)] { done(h); });
    return nullptr;
}

}  // namespace connmgr::detail
