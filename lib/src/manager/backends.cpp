// The one place that knows every backend: which database_pools a URL kind gets, and how a
// database is probed. Everything else in the manager is backend-independent.
#include "manager_impl.hpp"

#include <connmgr/detail/database_pools.hpp>
#include <connmgr/pg/async_driver.hpp>
#include <connmgr/pg/sync_driver.hpp>
#include <connmgr/redis/async_driver.hpp>
#include <connmgr/redis/sync_driver.hpp>

#include <boost/asio/use_future.hpp>

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
                                         boost::asio::any_io_executor executor,
                                         std::string display_names) {
    using pools_type = database_pools<SyncDriver, AsyncDriver>;
    return std::make_shared<typed_pools_handle<SyncDriver, AsyncDriver>>(
        std::make_shared<pools_type>(db, std::move(executor), std::move(display_names)));
}

template <class SyncDriver>
database_health probe_with(const database_config& db) {
    database_health h;
    h.backend = db.kind();
    h.url = db.url.redacted();
    auto timeout = db.sync_pool.connect_timeout;
    if (timeout.count() <= 0) timeout = std::chrono::seconds(5);
    const auto start = std::chrono::steady_clock::now();
    const auto deadline = start + timeout;
    try {
        SyncDriver driver(db, db.sync_pool);
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

}  // namespace

std::shared_ptr<pools_handle> make_pools_handle(const database_config& db,
                                                boost::asio::any_io_executor executor,
                                                std::string display_names) {
    switch (db.kind()) {
        case backend::postgres:
            return make_typed<pg::sync_driver, pg::async_driver>(db, std::move(executor),
                                                                 std::move(display_names));
        case backend::redis:
        case backend::falkordb:
            return make_typed<redis::sync_driver, redis::async_driver>(db, std::move(executor),
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
    database_health h;
    h.url = db.url.redacted();
    h.error = "unsupported backend";
    return h;
}

}  // namespace connmgr::detail
