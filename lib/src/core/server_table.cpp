#include <connmgr/detail/server_table.hpp>

#include <map>
#include <mutex>
#include <vector>

namespace connmgr {

const char* to_string(server_state s) noexcept {
    switch (s) {
        case server_state::unknown: return "unknown";
        case server_state::primary: return "primary";
        case server_state::standby: return "standby";
        case server_state::read_only: return "read_only";
        case server_state::down: return "down";
    }
    return "unknown";
}

}  // namespace connmgr

namespace connmgr::detail {

struct server_table::impl {
    mutable std::mutex mutex;
    std::map<std::string, server_id, std::less<>> ids;
    std::vector<server_info> servers;  // index id - 1
    // Listeners are held weakly: a database's pools unsubscribe by dropping the handle.
    std::vector<std::weak_ptr<listener>> listeners;
};

server_table::server_table() : impl_(std::make_unique<impl>()) {}
server_table::~server_table() = default;

server_table& server_table::instance() {
    static server_table* table = new server_table;  // never destroyed: used until exit
    return *table;
}

server_id server_table::intern(std::string_view host_port) {
    std::lock_guard lock(impl_->mutex);
    if (auto it = impl_->ids.find(host_port); it != impl_->ids.end()) return it->second;
    impl_->servers.push_back({std::string(host_port), server_state::unknown, {}, {}});
    const auto id = static_cast<server_id>(impl_->servers.size());
    impl_->ids.emplace(std::string(host_port), id);
    return id;
}

server_info server_table::get(server_id id) const {
    std::lock_guard lock(impl_->mutex);
    if (id == 0 || id > impl_->servers.size()) return {};
    return impl_->servers[id - 1];
}

void server_table::learn(server_id id, server_state state, std::string error) {
    server_state before;
    std::vector<std::shared_ptr<listener>> tell;
    {
        std::lock_guard lock(impl_->mutex);
        if (id == 0 || id > impl_->servers.size()) return;
        auto& s = impl_->servers[id - 1];
        before = s.state;
        s.state = state;
        s.learned = std::chrono::steady_clock::now();
        s.error = state == server_state::down ? std::move(error) : std::string();
        if (before == state) return;
        for (auto it = impl_->listeners.begin(); it != impl_->listeners.end();) {
            if (auto l = it->lock()) {
                tell.push_back(std::move(l));
                ++it;
            } else {
                it = impl_->listeners.erase(it);
            }
        }
    }
    for (auto& l : tell) (*l)(id, before, state);
}

std::shared_ptr<void> server_table::subscribe(listener l) {
    auto held = std::make_shared<listener>(std::move(l));
    std::lock_guard lock(impl_->mutex);
    impl_->listeners.push_back(held);
    return held;
}

}  // namespace connmgr::detail
