#include <connmgr/redis/redis_client.hpp>

namespace connmgr {

redis_client::pools_type& redis_client::pools() const {
    if (!pools_) throw error(errc::invalid_config, "redis_client is empty (not from a manager)");
    return *pools_;
}

redis_client::sync_lease redis_client::acquire_live() {
    auto pool = pools().sync();
    std::size_t retries = pools().config().sync_pool.max_size + 1;
    for (;;) {
        auto l = pool->acquire();
        if (retries == 0 || !l->is_broken()) return l;
        // Closed by the server while idle; nothing was sent on it, so borrowing
        // another one is not a replay.
        --retries;
        l.mark_broken();
    }
}

redis_client::sync_lease redis_client::acquire() { return acquire_live(); }

redis::reply redis_client::command(const std::vector<std::string>& args) {
    redis::request req;
    req.push(args);
    return command(req);
}

redis::reply redis_client::command(const redis::request& req) {
    auto l = acquire_live();
    try {
        return l->command(req);
    } catch (const query_error&) {
        throw;  // an error reply: the connection is fine
    } catch (...) {
        if (l->is_broken()) l.mark_broken();
        throw;
    }
}

std::vector<redis::reply> redis_client::pipeline(const redis::request& req) {
    auto l = acquire_live();
    try {
        return l->pipeline(req);
    } catch (...) {
        if (l->is_broken()) l.mark_broken();
        throw;
    }
}

}  // namespace connmgr
