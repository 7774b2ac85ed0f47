#pragma once
/// Pieces both pool shells share beside the policy core.
///
/// \par Thread safety
/// conn_slot is guarded by its pool's lock, like every slot.

#include <connmgr/close_summary.hpp>
#include <connmgr/detail/pool_state.hpp>
#include <connmgr/pool_params.hpp>
#include <connmgr/pool_stats.hpp>

#include <memory>
#include <string>

namespace connmgr::detail {

/// A slot holding one open connection of type `Connection`.
template <class Connection, class Clock>
struct conn_slot final : slot<Clock> {
    std::unique_ptr<Connection> conn;
};

template <class Clock>
typename pool_state<Clock>::settings core_settings(const pool_params& p, std::size_t parallel,
                                                   unsigned max_bypass) {
    return {p.pool, p.retry, p.breaker, parallel, max_bypass};
}

template <class Clock>
void fill_stats(pool_stats& st, const pool_state<Clock>& core, const pool_params& p, flavour f) {
    st.databases = {p.database};
    st.url = p.url;
    st.backend = p.backend;
    st.flavour = f;
    core.fill(st);
    for (auto& l : core.leases(Clock::now()))
        st.leases.push_back({std::move(l.holder), std::chrono::duration<double>(l.age).count()});
}

/// The summary of one pool's close, from what was still leased when the drain ended.
template <class Clock>
close_summary make_summary(const pool_state<Clock>& core, std::uint64_t closed_before, bool first) {
    close_summary s;
    if (!first) return s;
    pool_stats st;
    core.fill(st);
    s.pools_closed = 1;
    s.connections_closed = static_cast<std::size_t>(st.closed_total - closed_before);
    for (auto& h : core.leased_holders()) {
        ++s.leases_outstanding;
        ++s.leases_by_store[h];
    }
    return s;
}

inline std::string connect_message(const pool_params& p, const std::string& driver_message) {
    return "could not connect to " + p.database + " (" + p.url + "): " + driver_message;
}

}  // namespace connmgr::detail
