#include "manager_impl.hpp"

#include <connmgr/detail/log.hpp>
#include <connmgr/error.hpp>

#include <openssl/ssl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <future>
#include <thread>

namespace connmgr {

namespace detail {

namespace {

std::string join(const std::vector<std::string>& parts, std::string_view separator) {
    std::string out;
    for (const auto& p : parts) {
        if (!out.empty()) out += separator;
        out += p;
    }
    return out;
}

}  // namespace

manager_impl::manager_impl() : pid_(::getpid()) {}

manager_impl::~manager_impl() {
    shutdown();
    destroy_monitor();  // its I/O thread has stopped
}

void manager_impl::check_fork() {
    if (pid_ == ::getpid()) return;
    // A forked child: the entries' pools hold the parent's sockets and are bound to the
    // parent's reactor. Closing them here would end the parent's sessions (PostgreSQL's
    // Terminate, epoll_ctl on the shared epoll instance), so they are abandoned untouched.
    auto* abandoned = new std::map<std::string, entry>(std::move(entries_));
    (void)abandoned;  // intentionally leaked
    entries_.clear();
    busy_pools_.clear();
    // The monitor's timer and probes belong to the parent's io_context: abandoned with it.
    monitor_ = nullptr;  // intentionally leaked; the next opened database starts a new one
    // The parent's endpoint and its listening socket: the parent keeps serving them.
    new std::shared_ptr<telemetry_server>(std::move(telemetry_));  // intentionally leaked
    telemetry_listen_.clear();
    io_.abandon_after_fork();
    pid_ = ::getpid();
}

void manager_impl::configure(manager_config config) {
    std::string listen;
    {
        std::lock_guard lock(mutex_);
        check_fork();
        std::map<std::string, std::vector<std::string>> names;
        for (const auto& [name, db] : config.databases) names[db.url.pool_key()].push_back(name);
        config_ = std::move(config);
        io_.set_threads(config_.runtime.io_threads);
        set_log_level(config_.runtime.log_level);
        names_by_key_ = std::move(names);
        listen = config_.runtime.telemetry.listen;
        if (listen.empty() || listen == telemetry_listen_) return;
    }
    serve_telemetry(listen, health_scope::opened);
}

manager_config manager_impl::config() const {
    std::lock_guard lock(mutex_);
    return config_;
}

const database_config& manager_impl::find_database(std::string_view name) const {
    auto it = config_.databases.find(name);
    if (it != config_.databases.end()) return it->second;
    std::string known;
    std::size_t listed = 0;
    for (const auto& [n, db] : config_.databases) {
        if (listed == 50) {
            known += ", ... (" + std::to_string(config_.databases.size() - listed) + " more)";
            break;
        }
        known += (listed++ ? ", " : "") + n;
    }
    throw config_error("unknown database '" + std::string(name) +
                       "'; known databases: " + (known.empty() ? "(none configured)" : known));
}

std::string manager_impl::names_of(const std::string& key) const {
    auto it = names_by_key_.find(key);
    return it == names_by_key_.end() ? std::string{} : join(it->second, ", ");
}

std::vector<std::string> manager_impl::references_of(const std::string& key) const {
    std::vector<std::string> out;
    for (const auto& [id, r] : references_)
        if (r.key == key) out.push_back(r.store);
    std::sort(out.begin(), out.end());
    return out;
}

std::shared_ptr<pools_handle> manager_impl::handle_for(const database_config& db) {
    auto& e = entries_[db.url.pool_key()];
    if (!e.handle) {
        e.config = db;
        e.handle = make_pools_handle(db, io_.executors(), names_of(db.url.pool_key()));
        start_monitor_locked();
    }
    return e.handle;
}

erased_pools manager_impl::pools_for(std::string_view name, std::optional<backend> client) {
    std::lock_guard lock(mutex_);
    check_fork();
    const auto& db = find_database(name);
    if (client && !client_accepts(*client, db.kind())) throw_mismatch_locked(name, *client);
    return handle_for(db)->erased();
}

void manager_impl::throw_client_mismatch(std::string_view name, backend client) {
    std::unique_lock lock(mutex_);
    throw_mismatch_locked(name, client);
}

void manager_impl::throw_mismatch_locked(std::string_view name, backend client) {
    std::string db_backend = "another backend";
    std::string url;
    if (auto it = config_.databases.find(name); it != config_.databases.end()) {
        db_backend = std::string(to_string(it->second.kind()));
        url = " (" + it->second.url.redacted() + ")";
    }
    throw config_error("database '" + std::string(name) + "'" + url + " is a " + db_backend +
                       " database; a " + std::string(to_string(client)) +
                       " client cannot use it (get_client<" + std::string(to_string(client)) +
                       "_client> needs a " + std::string(to_string(client)) + " database)");
}

store_ref manager_impl::attach(std::string store, std::string_view name) {
    std::lock_guard lock(mutex_);
    check_fork();
    const auto& db = find_database(name);
    const std::uint64_t id = next_reference_++;
    references_.emplace(
        id, reference{store, db.name.empty() ? std::string(name) : db.name, db.url.pool_key()});
    return store_ref(weak_from_this(), id, std::move(store), std::string(name));
}

void manager_impl::detach(std::uint64_t id) noexcept {
    try {
        std::shared_ptr<pools_handle> to_close;
        std::chrono::milliseconds drain{0};
        {
            std::lock_guard lock(mutex_);
            auto it = references_.find(id);
            if (it == references_.end()) return;
            const reference r = std::move(it->second);
            references_.erase(it);
            auto db = config_.databases.find(r.database);
            if (db == config_.databases.end() || !db->second.close_when_unreferenced) return;
            if (!references_of(r.key).empty()) return;
            if (pid_ != ::getpid()) return;  // the parent's pools: never touch them
            auto e = entries_.find(r.key);
            if (e == entries_.end() || !e->second.handle) return;
            to_close = e->second.handle;
            drain = db->second.drain_timeout;
        }
        // The entry keeps its database_pools: the next use opens fresh pools in it.
        to_close->close(drain);
    } catch (const std::exception& ex) {
        detail::log(detail::log_level::warn,
                    std::string("closing an unreferenced database failed: ") + ex.what());
    }
}

close_summary manager_impl::close_all() {
    stop_telemetry();
    std::lock_guard serial(close_mutex_);
    std::vector<std::pair<std::shared_ptr<pools_handle>, std::chrono::milliseconds>> open;
    {
        std::lock_guard lock(mutex_);
        check_fork();
        for (auto& [key, e] : entries_) {
            if (!e.handle || !e.handle->is_open()) continue;
            open.emplace_back(e.handle, std::min(e.config.drain_timeout, config_.drain_timeout));
        }
        busy_pools_.clear();
    }
    close_summary total;
    if (open.empty()) return total;
    if (open.size() == 1) {
        total += open.front().first->close(open.front().second);
        return total;
    }
    // Drain every database at once so the overall wait is one drain_timeout, not their sum.
    std::vector<std::future<close_summary>> running;
    running.reserve(open.size());
    for (auto& [handle, drain] : open)
        running.push_back(
            std::async(std::launch::async, [h = handle, d = drain] { return h->close(d); }));
    for (auto& f : running) {
        try {
            total += f.get();
        } catch (const std::exception& ex) {
            detail::log(detail::log_level::error, std::string("close_all: ") + ex.what());
        }
    }
    return total;
}

std::vector<manager_impl::open_pool> manager_impl::collect_open_pools() {
    struct snapshot {
        std::string key;
        std::shared_ptr<pools_handle> handle;
        std::vector<std::string> references;
        std::vector<std::string> names;
    };
    std::vector<snapshot> open;
    {
        std::lock_guard lock(mutex_);
        check_fork();
        for (const auto& [key, e] : entries_)
            if (e.handle) {
                auto n = names_by_key_.find(key);
                open.push_back({key, e.handle, references_of(key),
                                n == names_by_key_.end() ? std::vector<std::string>{} : n->second});
            }
    }
    // Outside the registry lock: each pool takes its own.
    std::vector<open_pool> out;
    for (auto& s : open)
        for (auto& p : s.handle->stats()) {
            p.references = s.references;
            if (!s.names.empty()) p.databases = s.names;
            out.push_back({s.key + "/" + to_string(p.flavour), std::move(p)});
        }
    return out;
}

void manager_impl::warn_on_utilization(const std::vector<open_pool>& pools) {
    std::vector<const pool_stats*> crossed;
    {
        std::lock_guard lock(mutex_);
        for (const auto& p : pools) {
            if (p.stats.utilization <= 0.8)
                busy_pools_.erase(p.key);
            else if (busy_pools_.insert(p.key).second)
                crossed.push_back(&p.stats);
        }
    }
    for (const auto* p : crossed)
        detail::log(detail::log_level::warn,
                    "pool " + join(p->databases, ",") + " (" + p->url + ", " +
                        to_string(p->flavour) + ") utilization " +
                        std::to_string(static_cast<int>(p->utilization * 100)) + "% (" +
                        std::to_string(p->in_use) + " of " + std::to_string(p->max_size) +
                        " in use, " + std::to_string(p->waiters) + " waiting)");
}

manager_stats manager_impl::stats() {
    manager_stats out;
    auto pools = collect_open_pools();
    warn_on_utilization(pools);
    for (auto& p : pools) out.pools.push_back(std::move(p.stats));
    {
        std::lock_guard lock(mutex_);
        for (const auto& [name, db] : config_.databases) {
            database_status d;
            d.name = name;
            d.backend = std::string(to_string(db.kind()));
            d.url = db.url.redacted();
            auto e = entries_.find(db.url.pool_key());
            d.open = e != entries_.end() && e->second.handle && e->second.handle->is_open();
            for (const auto& [id, r] : references_)
                if (r.database == name) d.references.push_back(r.store);
            std::sort(d.references.begin(), d.references.end());
            if (auto h = last_health_.find(name); h != last_health_.end()) d.healthy = h->second;
            out.databases.push_back(std::move(d));
        }
    }
    std::sort(out.pools.begin(), out.pools.end(), [](const pool_stats& a, const pool_stats& b) {
        return std::tie(a.databases, a.flavour) < std::tie(b.databases, b.flavour);
    });
    return out;
}

std::vector<database_config> manager_impl::health_targets(std::optional<health_scope> scope,
                                                          const std::vector<std::string>& names) {
    std::vector<database_config> targets;
    std::lock_guard lock(mutex_);
    check_fork();
    if (!scope) {
        for (const auto& n : names) targets.push_back(find_database(n));
    } else {
        for (const auto& [name, db] : config_.databases) {
            if (*scope == health_scope::opened) {
                auto e = entries_.find(db.url.pool_key());
                if (e == entries_.end() || !e->second.handle || !e->second.handle->is_open())
                    continue;
            }
            targets.push_back(db);
        }
    }
    return targets;
}

connmgr::health manager_impl::summarize_health(std::vector<database_health> results) {
    connmgr::health h;
    h.total_databases = results.size();
    for (const auto& r : results) h.healthy_databases += r.healthy ? 1 : 0;
    h.overall_healthy = h.healthy_databases == h.total_databases;
    std::sort(results.begin(), results.end(),
              [](const auto& a, const auto& b) { return a.name < b.name; });
    {
        std::lock_guard lock(mutex_);
        for (const auto& r : results) last_health_[r.name] = r.healthy;
    }
    h.databases = std::move(results);
    return h;
}

connmgr::health manager_impl::health(std::optional<health_scope> scope,
                                     const std::vector<std::string>& names) {
    const std::vector<database_config> targets = health_targets(scope, names);
    std::vector<database_health> results(targets.size());
    // A few threads, each taking the next database: every probe is bounded by its
    // connect_timeout, so the whole call takes about the slowest probe per round.
    std::atomic<std::size_t> next{0};
    auto work = [&] {
        for (std::size_t i; (i = next.fetch_add(1)) < targets.size();) {
            results[i] = probe(targets[i]);
            results[i].name = targets[i].name;
        }
    };
    const std::size_t threads = std::min<std::size_t>(targets.size(), 16);
    std::vector<std::thread> pool;
    for (std::size_t t = 1; t < threads; ++t) pool.emplace_back(work);
    work();
    for (auto& t : pool) t.join();
    return summarize_health(std::move(results));
}

void manager_impl::open(std::string_view name) {
    std::shared_ptr<pools_handle> handle;
    {
        std::lock_guard lock(mutex_);
        check_fork();
        handle = handle_for(find_database(name));
    }
    handle->open_both();
}

void manager_impl::shutdown() noexcept {
    try {
        close_all();
    } catch (...) {  // a destructor path: never throw
    }
    if (pid_ == ::getpid()) io_.stop();
}

}  // namespace detail

// ---- manager ------------------------------------------------------------------------------

manager::manager() : impl_(std::make_shared<detail::manager_impl>()) {}

manager::~manager() { impl_->shutdown(); }

manager& manager::instance() {
    static manager& m = []() -> manager& {
        // libpq and the TLS Redis driver use OpenSSL, whose exit-time cleanup is registered on
        // its first use. Registered after this singleton, it would run before the singleton's
        // destructor and pull OpenSSL from under a pool worker still connecting at exit.
        // Initialising it first makes exit destroy the manager (and join its workers) first.
        OPENSSL_init_ssl(0, nullptr);
        static manager instance;
        return instance;
    }();
    return m;
}

void manager::configure(manager_config config) { impl_->configure(std::move(config)); }

manager_config manager::config() const { return impl_->config(); }

detail::erased_pools manager::pools_for(std::string_view name, backend client) {
    return impl_->pools_for(name, client);
}

void manager::throw_client_mismatch(std::string_view name, backend client) {
    impl_->throw_client_mismatch(name, client);
}

store_ref manager::attach(std::string store, std::string_view name) {
    return impl_->attach(std::move(store), name);
}

close_summary manager::close_all() { return impl_->close_all(); }

manager_stats manager::stats() { return impl_->stats(); }

std::string manager::serve_telemetry(std::string_view address, health_scope health) {
    return impl_->serve_telemetry(address, health);
}

void manager::stop_telemetry() noexcept { impl_->stop_telemetry(); }

std::string manager::telemetry_address() const { return impl_->telemetry_address(); }

connmgr::health manager::health(health_scope scope) { return impl_->health(scope, {}); }

connmgr::health manager::health(const std::vector<std::string>& names) {
    return impl_->health(std::nullopt, names);
}

void manager::open(std::string_view name) { impl_->open(name); }

// ---- store_ref ----------------------------------------------------------------------------

store_ref::store_ref(store_ref&& other) noexcept
    : owner_(std::move(other.owner_)),
      id_(std::exchange(other.id_, 0)),
      store_(std::move(other.store_)),
      database_(std::move(other.database_)) {}

store_ref& store_ref::operator=(store_ref&& other) noexcept {
    if (this != &other) {
        release();
        owner_ = std::move(other.owner_);
        id_ = std::exchange(other.id_, 0);
        store_ = std::move(other.store_);
        database_ = std::move(other.database_);
    }
    return *this;
}

store_ref::~store_ref() { release(); }

void store_ref::release() noexcept {
    const auto id = std::exchange(id_, 0);
    if (id == 0) return;
    if (auto owner = owner_.lock()) owner->detach(id);
    owner_.reset();
}

}  // namespace connmgr
