#pragma once
/// Scriptable fake drivers (sync and async) for pool tests.
///
/// A `fake_backend` is the shared script and the scoreboard: connect latency, failures (the
/// next N, or a predicate on the attempt number), connections born broken, ping failures, and
/// atomic counters of open connections and the most ever open at once. Drivers satisfy
/// sync_driver / async_driver and the `(database_config, pool_options)` constructor shape that
/// detail::database_pools uses (they then find their backend by `fake_backend::named(name)`).
///
/// \par Thread safety
/// Every member of fake_backend and of the drivers is safe from any thread.

#include <connmgr/config.hpp>
#include <connmgr/driver.hpp>
#include <connmgr/error.hpp>

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

namespace connmgr::test {

struct fake_backend {
    std::atomic<long> open{0};      ///< connected and not closed
    std::atomic<long> max_open{0};  ///< highest `open` ever seen
    std::atomic<long> connects{0};  ///< attempts
    std::atomic<long> created{0};   ///< successful connects
    std::atomic<long> closed{0};
    std::atomic<long> pings{0};
    std::atomic<long> resets{0};
    std::atomic<int> fail_next{0};      ///< the next N connects fail
    std::atomic<bool> fail_all{false};  ///< every connect fails while set
    std::atomic<bool> ping_fails{false};
    std::atomic<bool> born_broken{false};  ///< new connections report is_broken()
    std::atomic<bool> reset_fails{false};
    std::atomic<long> restores{0};           ///< async_restore calls
    std::atomic<bool> restore_fails{false};  ///< async_restore completes with an error
    std::atomic<long> latency_us{0};         ///< connect latency
    std::mutex mutex;
    std::function<bool(long attempt)> fail_if;  ///< guarded by mutex; true = fail

    /// The backend registered under `name` (created on first use), for drivers built by
    /// database_pools from a database_config.
    static std::shared_ptr<fake_backend> named(const std::string& name) {
        static std::mutex m;
        static std::map<std::string, std::shared_ptr<fake_backend>> all;
        std::lock_guard lock(m);
        auto& b = all[name];
        if (!b) b = std::make_shared<fake_backend>();
        return b;
    }

    struct connection {
        long id{0};
        bool broken{false};
        bool closed{false};
        bool dirty{false};  ///< a borrower left state behind that a round trip can undo
        std::shared_ptr<fake_backend> backend;
        std::uint64_t uses{0};
        std::thread::id opened_on{};  ///< async: the thread the connect completed on
    };

    /// One connect attempt: success, or the scripted failure.
    connect_outcome<connection> attempt(const std::shared_ptr<fake_backend>& self) {
        const long n = ++connects;
        bool fail = fail_all.load();
        if (!fail && fail_next.load() > 0) fail = fail_next.fetch_sub(1) > 0;
        if (!fail) {
            std::lock_guard lock(mutex);
            if (fail_if) fail = fail_if(n);
        }
        connect_outcome<connection> out;
        if (fail) {
            out.error = errc::connect_failed;
            out.message = "fake connect refused (attempt " + std::to_string(n) + ")";
            return out;
        }
        out.connection = std::make_unique<connection>();
        out.connection->id = n;
        out.connection->broken = born_broken.load();
        out.connection->backend = self;
        ++created;
        const long now_open = ++open;
        long seen = max_open.load();
        while (now_open > seen && !max_open.compare_exchange_weak(seen, now_open)) {
        }
        return out;
    }

    void close(connection& c) noexcept {
        if (!c.closed) {
            c.closed = true;
            --open;
            ++closed;
        }
    }
};

/// A blocking fake: connect sleeps `latency_us`.
class fake_sync_driver {
public:
    using connection = fake_backend::connection;

    explicit fake_sync_driver(std::shared_ptr<fake_backend> b) : b_(std::move(b)) {}
    fake_sync_driver(const database_config& config, const pool_options&)
        : b_(fake_backend::named(config.name + "/sync")) {}

    connect_outcome<connection> connect(steady_time) {
        if (auto us = b_->latency_us.load(); us > 0)
            std::this_thread::sleep_for(std::chrono::microseconds{us});
        return b_->attempt(b_);
    }
    boost::system::error_code ping(connection& c, steady_time) {
        ++b_->pings;
        if (b_->ping_fails.load() || c.broken) return errc::connection_lost;
        return {};
    }
    bool reset(connection&) noexcept {
        ++b_->resets;
        return !b_->reset_fails.load();
    }
    bool is_broken(connection& c) noexcept { return c.broken; }
    void close(connection& c) noexcept { b_->close(c); }

    fake_backend& backend() const noexcept { return *b_; }

private:
    std::shared_ptr<fake_backend> b_;
};

/// A non-blocking fake: connect completes on the given executor after `latency_us` (a timer),
/// or through a post when the latency is 0.
class fake_async_driver {
public:
    using connection = fake_backend::connection;

    explicit fake_async_driver(std::shared_ptr<fake_backend> b) : b_(std::move(b)) {}
    fake_async_driver(const database_config& config, const pool_options&)
        : b_(fake_backend::named(config.name + "/async")) {}

    void async_connect(boost::asio::any_io_executor ex, steady_time,
                       connect_handler<connection> handler) {
        const long us = b_->latency_us.load();
        if (us <= 0) {
            boost::asio::post(ex, [b = b_, h = std::move(handler)]() mutable { h(opened(b)); });
            return;
        }
        auto t = std::make_shared<boost::asio::steady_timer>(ex, std::chrono::microseconds{us});
        t->async_wait([t, b = b_, h = std::move(handler)](boost::system::error_code) mutable {
            h(opened(b));
        });
    }
    void async_ping(connection& c, steady_time, ping_handler handler) {
        ++b_->pings;
        boost::system::error_code ec;
        if (b_->ping_fails.load() || c.broken) ec = errc::connection_lost;
        handler(ec);
    }
    bool reset(connection&) noexcept {
        ++b_->resets;
        return !b_->reset_fails.load();
    }
    bool is_broken(connection& c) noexcept { return c.broken; }
    void close(connection& c) noexcept { b_->close(c); }
    bool needs_restore(connection& c) noexcept { return c.dirty; }
    void async_restore(connection& c, steady_time, ping_handler handler) {
        ++b_->restores;
        boost::system::error_code ec;
        if (b_->restore_fails.load())
            ec = errc::connection_lost;
        else
            c.dirty = false;
        handler(ec);
    }

    fake_backend& backend() const noexcept { return *b_; }

private:
    static connect_outcome<connection> opened(const std::shared_ptr<fake_backend>& b) {
        auto o = b->attempt(b);
        if (o.connection) o.connection->opened_on = std::this_thread::get_id();
        return o;
    }

    std::shared_ptr<fake_backend> b_;
};

}  // namespace connmgr::test
