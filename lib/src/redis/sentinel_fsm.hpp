#pragma once
// Following a Sentinel-watched master (DESIGN §12, Redis Sentinel), as two socket-free
// machines the drivers carry out:
//
// - `discovery`, one per connect: which sentinel to ask (in the URL's order, the next one when
//   one fails), which server to connect to, and whether the server's ROLE makes the new
//   connection usable. It ends in `use_connection` or `give_up` (whose message names every
//   sentinel tried with its error).
// - `service_view`, one per service and process: the master last named (so a connect skips the
//   sentinels while the master is known), the round-robin counter of role=replica, and what a
//   `+switch-master` or a failover signal (READONLY, MASTERDOWN, a failed connect) says of
//   which server: those facts go to the server table, whose listeners retire the connections
//   of a server that no longer fits a pool.
//
// Neither does I/O, holds a lock, or reads a clock: tests drive them as scripts.

#include "sentinel_protocol.hpp"

#include <connmgr/detail/server_table.hpp>  // server_state
#include <connmgr/url.hpp>

#include <cstddef>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace connmgr::redis::detail {

enum class sentinel_query { master_addr, replicas };

/// Send `SENTINEL GET-MASTER-ADDR-BY-NAME` (or `SENTINEL REPLICAS`) to sentinel `index`.
struct ask_sentinel {
    std::size_t index{0};
    sentinel_query query{sentinel_query::master_addr};
    friend bool operator==(const ask_sentinel&, const ask_sentinel&) = default;
};
/// Open a connection to `address` (AUTH, SELECT as usual), then send ROLE.
struct connect_to {
    server_address address;
    friend bool operator==(const connect_to&, const connect_to&) = default;
};
/// The connection is what was asked for: hand it out, tagged with `address`.
struct use_connection {
    server_address address;
    server_state state{server_state::unknown};
    friend bool operator==(const use_connection&, const use_connection&) = default;
};
/// This connect fails with `message` (the connect error the pool reports).
struct give_up {
    std::string message;
    friend bool operator==(const give_up&, const give_up&) = default;
};
using discovery_action = std::variant<ask_sentinel, connect_to, use_connection, give_up>;

/// A fact for the server table.
struct learned {
    server_address address;
    server_state state{server_state::unknown};
    friend bool operator==(const learned&, const learned&) = default;
};

class discovery {
public:
    /// `known_master`: the master the service_view knows (skips the sentinels; ignored for
    /// role=replica). `spread`: the replica round-robin counter for this connect.
    discovery(std::vector<sentinel_address> sentinels, std::string service, bool replica,
              std::optional<server_address> known_master, std::size_t spread);

    discovery_action start();
    /// The sentinel being asked could not be reached or asked (connect, AUTH, I/O, timeout).
    discovery_action on_sentinel_failed(std::string_view error);
    discovery_action on_master_addr(const parsed<server_address>& answer);
    discovery_action on_replicas(const parsed<std::vector<replica_info>>& answer);
    /// The data server could not be connected to (a transient failure).
    discovery_action on_connect_failed(std::string_view error);
    /// ROLE's answer on the new connection.
    discovery_action on_role(const parsed<role_info>& answer);

    /// What this connect learned of servers so far (for the server table).
    const std::vector<learned>& facts() const noexcept { return facts_; }
    /// The master a sentinel named during this connect, if one did.
    const std::optional<server_address>& named_master() const noexcept { return named_master_; }

private:
    discovery_action ask(std::size_t index, sentinel_query q);
    discovery_action next_sentinel();
    std::string sentinel_name(std::size_t i) const;

    std::vector<sentinel_address> sentinels_;
    std::string service_;
    bool replica_{false};
    std::optional<server_address> known_;
    std::size_t spread_{0};

    std::size_t index_{0};
    sentinel_query query_{sentinel_query::master_addr};
    server_address candidate_;
    bool from_cache_{false};
    bool fallback_to_master_{false};  // role=replica with no usable replica
    bool reasked_{false};             // the sentinels were asked again after a ROLE mismatch
    std::vector<std::string> errors_;
    std::vector<learned> facts_;
    std::optional<server_address> named_master_;
};

/// What connmgr knows of one service. Not thread-safe: the shell holds a lock around it.
class service_view {
public:
    explicit service_view(std::string service) : service_(std::move(service)) {}

    const std::string& service() const noexcept { return service_; }
    const std::optional<server_address>& master() const noexcept { return master_; }
    /// The round-robin counter for the next role=replica connect.
    std::size_t next_spread() noexcept { return spread_++; }

    /// A connect confirmed (or a sentinel named) `address` as the master.
    void on_master(const server_address& address);
    /// `+switch-master`: the new master is primary, the old one standby (Sentinel turns it into
    /// a replica, or it is down): its connections are retired. Empty for another service, or a
    /// switch already known.
    std::vector<learned> on_switch_master(const switch_master& event);
    /// A READONLY or MASTERDOWN reply on a connection to `server`: it is no longer a master.
    std::vector<learned> on_not_master(const server_address& server);
    /// The master could not be reached: ask the sentinels on the next connect.
    void forget(const server_address& server);
    /// How many switches were seen (connmgr_failovers_total).
    std::size_t failovers() const noexcept { return failovers_; }

private:
    std::string service_;
    std::optional<server_address> master_;
    std::size_t spread_{0};
    std::size_t failovers_{0};
};

}  // namespace connmgr::redis::detail
