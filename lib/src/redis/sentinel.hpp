#pragma once
// Redis Sentinel for the drivers (DESIGN §12): the I/O shell around sentinel_fsm.hpp.
//
// - `sentinel_service`, one per service (sentinel list, service name, sentinel credentials)
//   and process: the service_view under a lock, the server ids seen, and the `+switch-master`
//   subscription, kept on one sentinel by a thread of the service's own and re-made on another
//   when lost (after subscribing it asks for the master again, so a switch missed meanwhile is
//   noticed). What it learns goes to the server table, whose listeners retire the old master's
//   connections in every pool of the service.
// - `sentinel_link`, one per driver: the service, and the driver's connect parameters per data
//   server (its timeouts, the data servers' credentials, db and TLS).
// - `sentinel_connect`, the connect coroutine both drivers run: discovery through the
//   sentinels, the connect, ROLE.

#include "core.hpp"
#include "sentinel_fsm.hpp"

#include <connmgr/detail/server_table.hpp>
#include <connmgr/url.hpp>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace connmgr::redis::detail {

class sentinel_service : public std::enable_shared_from_this<sentinel_service> {
public:
    /// The process-wide service for `url` (a Sentinel URL), made on first use; its
    /// subscription starts then.
    static std::shared_ptr<sentinel_service> of(const db_url& url, const pool_options& options);

    sentinel_service(const db_url& url, const pool_options& options);
    ~sentinel_service();
    sentinel_service(const sentinel_service&) = delete;
    sentinel_service& operator=(const sentinel_service&) = delete;

    const sentinel_options& options() const noexcept { return options_; }
    /// Connect parameters for sentinel `i` (its credentials, db 0, TLS when sentinel_tls).
    const std::shared_ptr<const connect_params>& sentinel_params(std::size_t i) const {
        return sentinel_params_[i];
    }

    /// A discovery for one connect, from what the service knows now.
    discovery start_discovery(bool replica);
    /// Applies what a connect learned (the server table, the master it confirmed).
    void apply(const discovery& d, const std::optional<use_connection>& used);
    /// A READONLY / MASTERDOWN reply on a connection to `server`.
    void not_master(const server_address& server);
    /// A `+switch-master` heard (or a master change found after re-subscribing).
    void on_switch(const switch_master& event);

    /// The server table's id of `address` (remembered as one of the service's servers).
    std::uint32_t id_of(const server_address& address);
    bool knows(std::uint32_t id) const;
    std::vector<std::uint32_t> servers() const;
    std::size_t failovers() const;

private:
    void learn(const std::vector<learned>& facts);
    void start_subscription();
    boost::asio::awaitable<void> subscribe_loop();

    sentinel_options options_;
    std::vector<std::shared_ptr<const connect_params>> sentinel_params_;
    mutable std::mutex mutex_;
    service_view view_;
    std::set<std::uint32_t> ids_;
    std::vector<std::uint32_t> order_;

    boost::asio::io_context io_{1};
    std::shared_ptr<core> subscriber_;  // on io_'s thread only
    bool stopping_{false};              // on io_'s thread only
    std::thread thread_;
};

class sentinel_link {
public:
    sentinel_link(const db_url& url, std::shared_ptr<const connect_params> base,
                  const pool_options& options);

    const std::shared_ptr<sentinel_service>& service() const noexcept { return service_; }
    bool replica() const noexcept { return replica_; }
    const connect_params& base() const noexcept { return *base_; }
    /// The driver's parameters for a connection to `address`.
    std::shared_ptr<const connect_params> params_for(const server_address& address);

    /// Which state changes retire a server for this driver's pool: a master pool leaves a
    /// server that is no longer primary; a replica pool one that is down.
    std::function<bool(std::uint32_t, server_state)> retire_rule() const;

private:
    std::shared_ptr<sentinel_service> service_;
    std::shared_ptr<const connect_params> base_;
    bool replica_{false};
    std::mutex mutex_;
    std::map<std::string, std::shared_ptr<const connect_params>> by_server_;
};

struct sentinel_connected {
    connect_result result;
    std::shared_ptr<core> connection;  // set on success
    std::uint32_t server{0};
};

/// One connect through the sentinels, on `ex`, within `deadline`. `inline_start`: a sync
/// driver's connection (its thread runs `ex`).
boost::asio::awaitable<sentinel_connected> sentinel_connect(std::shared_ptr<sentinel_link> link,
                                                            boost::asio::any_io_executor ex,
                                                            steady_time deadline,
                                                            bool inline_start);

}  // namespace connmgr::redis::detail
