#pragma once
// What Redis Sentinel and the servers it watches answer, read from parsed RESP replies
// (DESIGN §12, Redis Sentinel): SENTINEL GET-MASTER-ADDR-BY-NAME, SENTINEL REPLICAS, ROLE and
// the `+switch-master` pub/sub message. Socket-free: the drivers feed replies from their
// reply_parser; tests and the `sentinel_reply` fuzz target feed them directly. Nothing here
// throws: a reply of an unexpected shape is an error naming what was expected.

#include <connmgr/redis/reply.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace connmgr::redis::detail {

/// A data server as the sentinels name it.
struct server_address {
    std::string host;
    std::uint16_t port{0};
    /// "host:port" ("[v6]:port" for an IPv6 address): the server table's key.
    std::string name() const;
    friend bool operator==(const server_address&, const server_address&) = default;
};

/// A value, or why the reply did not give one.
template <class T>
struct parsed {
    std::optional<T> value;
    std::string error;  ///< set when value is empty
    explicit operator bool() const noexcept { return value.has_value(); }
};

/// SENTINEL GET-MASTER-ADDR-BY-NAME: `[host, port]`; nil when the sentinel does not monitor
/// `service` (the error says so); an error reply passes through as the sentinel's words.
parsed<server_address> parse_master_addr(const reply& r, std::string_view service);

/// One replica of SENTINEL REPLICAS (a flat field/value list per replica).
struct replica_info {
    server_address address;
    std::vector<std::string> flags;  ///< "slave", "s_down", "o_down", "disconnected", ...
    /// Neither s_down, o_down nor disconnected (DESIGN §12's healthy replica).
    bool usable() const noexcept;
    friend bool operator==(const replica_info&, const replica_info&) = default;
};

/// SENTINEL REPLICAS (alias SLAVES): every replica with an address; an entry without `ip` or a
/// valid `port` is skipped (it cannot be connected to), a reply that is not a list of lists is
/// an error.
parsed<std::vector<replica_info>> parse_replicas(const reply& r, std::string_view service);

/// ROLE on a data server (or a sentinel).
struct role_info {
    enum class kind { master, replica, sentinel };
    kind role{kind::master};
    std::optional<server_address> master;  ///< a replica's master
    std::string link;                      ///< a replica's link state: "connected", "connect", ...
    friend bool operator==(const role_info&, const role_info&) = default;
};

parsed<role_info> parse_role(const reply& r);

/// `+switch-master <service> <old-ip> <old-port> <new-ip> <new-port>`.
struct switch_master {
    std::string service;
    server_address from;
    server_address to;
    friend bool operator==(const switch_master&, const switch_master&) = default;
};

/// What a reply on a subscribed sentinel connection is.
struct subscribed {
    std::string channel;
    long long count{0};
    friend bool operator==(const subscribed&, const subscribed&) = default;
};
struct other_message {  ///< a message on another channel (ignored)
    std::string channel;
    friend bool operator==(const other_message&, const other_message&) = default;
};
struct malformed {
    std::string error;
    friend bool operator==(const malformed&, const malformed&) = default;
};
using pubsub_event = std::variant<subscribed, switch_master, other_message, malformed>;

/// A reply read on a connection subscribed to `+switch-master` (and `+promoted-slave`, which
/// the failover leader publishes when the replica it chose has become the master, before its
/// `+switch-master`: it is read as the same switch).
pubsub_event parse_pubsub(const reply& r);

/// The payload of a `+promoted-slave` message:
/// `slave <name> <ip> <port> @ <service> <old-ip> <old-port>`.
parsed<switch_master> parse_promoted(std::string_view payload);

/// The payload of a `+switch-master` message alone.
parsed<switch_master> parse_switch_master(std::string_view payload);

}  // namespace connmgr::redis::detail
