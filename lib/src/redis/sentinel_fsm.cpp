#include "sentinel_fsm.hpp"

namespace connmgr::redis::detail {

discovery::discovery(std::vector<sentinel_address> sentinels, std::string service, bool replica,
                     std::optional<server_address> known_master, std::size_t spread)
    : sentinels_(std::move(sentinels)),
      service_(std::move(service)),
      replica_(replica),
      known_(replica ? std::nullopt : std::move(known_master)),
      spread_(spread) {}

std::string discovery::sentinel_name(std::size_t i) const {
    const auto& s = sentinels_[i];
    return server_address{s.host, s.port}.name();
}

discovery_action discovery::ask(std::size_t index, sentinel_query q) {
    index_ = index;
    query_ = q;
    return ask_sentinel{index, q};
}

discovery_action discovery::start() {
    if (known_) {
        candidate_ = *known_;
        from_cache_ = true;
        return connect_to{candidate_};
    }
    if (sentinels_.empty()) return give_up{"no sentinel to ask for service '" + service_ + "'"};
    return ask(0, replica_ ? sentinel_query::replicas : sentinel_query::master_addr);
}

discovery_action discovery::next_sentinel() {
    if (index_ + 1 < sentinels_.size()) return ask(index_ + 1, query_);
    std::string message = "no sentinel gave the " +
                          std::string(query_ == sentinel_query::replicas ? "replicas" : "master") +
                          " of service '" + service_ + "' (tried ";
    for (std::size_t i = 0; i < errors_.size(); ++i) message += (i ? "; " : "") + errors_[i];
    return give_up{message + ")"};
}

discovery_action discovery::on_sentinel_failed(std::string_view error) {
    errors_.push_back(sentinel_name(index_) + ": " + std::string(error));
    return next_sentinel();
}

discovery_action discovery::on_master_addr(const parsed<server_address>& answer) {
    if (!answer) return on_sentinel_failed(answer.error);
    candidate_ = *answer.value;
    named_master_ = candidate_;
    from_cache_ = false;
    return connect_to{candidate_};
}

discovery_action discovery::on_replicas(const parsed<std::vector<replica_info>>& answer) {
    if (!answer) return on_sentinel_failed(answer.error);
    std::vector<const replica_info*> usable;
    for (const auto& r : *answer.value) {
        if (r.usable()) {
            usable.push_back(&r);
        } else {
            facts_.push_back({r.address, server_state::down});
        }
    }
    if (usable.empty()) {  // DESIGN §12: the master when no replica is left
        fallback_to_master_ = true;
        return ask(index_, sentinel_query::master_addr);
    }
    candidate_ = usable[spread_ % usable.size()]->address;
    from_cache_ = false;
    return connect_to{candidate_};
}

discovery_action discovery::on_connect_failed(std::string_view error) {
    facts_.push_back({candidate_, server_state::down});
    if (from_cache_) {  // the master we knew is gone: ask the sentinels who it is now
        from_cache_ = false;
        return ask(0, sentinel_query::master_addr);
    }
    return give_up{candidate_.name() + " (named by sentinel " + sentinel_name(index_) +
                   " for service '" + service_ + "'): " + std::string(error)};
}

discovery_action discovery::on_role(const parsed<role_info>& answer) {
    if (!answer) return give_up{candidate_.name() + ": ROLE: " + answer.error};
    switch (answer.value->role) {
        case role_info::kind::master:
            facts_.push_back({candidate_, server_state::primary});
            return use_connection{candidate_, server_state::primary};
        case role_info::kind::replica:
            facts_.push_back({candidate_, server_state::standby});
            if (replica_ && !fallback_to_master_)
                return use_connection{candidate_, server_state::standby};
            if (!reasked_ && !sentinels_.empty()) {
                // The master we knew (or a sentinel that has not seen the switch yet) is a
                // replica now: ask the sentinels once more, from the first.
                reasked_ = true;
                from_cache_ = false;
                errors_.clear();
                return ask(0, sentinel_query::master_addr);
            }
            return give_up{candidate_.name() + " is a replica (ROLE), although sentinel " +
                           sentinel_name(index_) + " names it the master of '" + service_ +
                           "': a failover is in progress"};
        case role_info::kind::sentinel: break;
    }
    return give_up{candidate_.name() + " is a sentinel, not a data server of '" + service_ + "'"};
}

void service_view::on_master(const server_address& address) { master_ = address; }

std::vector<learned> service_view::on_switch_master(const switch_master& event) {
    if (event.service != service_) return {};
    if (master_ != event.to) ++failovers_;
    master_ = event.to;
    return {{event.from, server_state::standby}, {event.to, server_state::primary}};
}

std::vector<learned> service_view::on_not_master(const server_address& server) {
    if (master_ == server) master_.reset();
    return {{server, server_state::standby}};
}

void service_view::forget(const server_address& server) {
    if (master_ == server) master_.reset();
}

}  // namespace connmgr::redis::detail
