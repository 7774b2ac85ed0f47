#pragma once
/// The process-wide table of servers (DESIGN §12): one entry per `host:port` that any
/// multi-server database names, shared by every database naming it, with the state last learned
/// of it and when. Drivers learn states from connects and from failover signals; a change of
/// state is told to every listener (the pools of each database naming that server), which
/// retire their connections to it when the new state does not fit their target.
///
/// \par Thread safety
/// Every member is safe to call from any thread at once. Listeners are called outside the
/// table's lock, on the thread that learned the change, and must not block.

#include <connmgr/detail/pool_actions.hpp>  // server_id

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace connmgr {

/// What a server was last seen to be. `read_only`: a primary whose sessions are read-only
/// (default_transaction_read_only on), the switchover case.
enum class server_state { unknown, primary, standby, read_only, down };

/// "unknown", "primary", "standby", "read_only", "down".
const char* to_string(server_state s) noexcept;

}  // namespace connmgr

namespace connmgr::detail {

struct server_info {
    std::string name;  ///< "host:port"
    server_state state{server_state::unknown};
    std::chrono::steady_clock::time_point learned{};  ///< when state was learned (epoch: never)
    std::string error;                                ///< why it is down, when it is
};

class server_table {
public:
    using listener = std::function<void(server_id, server_state before, server_state now)>;

    static server_table& instance();

    /// The id of `host_port` (never 0), made on first use.
    server_id intern(std::string_view host_port);
    server_info get(server_id id) const;
    /// Records what was learned of `id` now; listeners hear of a change of state.
    void learn(server_id id, server_state state, std::string error = {});
    /// A listener until the returned handle is destroyed.
    [[nodiscard]] std::shared_ptr<void> subscribe(listener l);

    server_table();
    ~server_table();
    server_table(const server_table&) = delete;
    server_table& operator=(const server_table&) = delete;

private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

}  // namespace connmgr::detail
