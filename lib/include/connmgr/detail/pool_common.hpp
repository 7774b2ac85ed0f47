#pragma once
/// Pieces both pool shells share beside the policy core: the slot type, how the core is
/// configured, stats and close summaries, and the clock conversion for real waits.
///
/// \par Thread safety
/// conn_slot is guarded by its pool's lock, like every slot; the functions are pure.

#include <connmgr/close_summary.hpp>
#include <connmgr/detail/pool_state.hpp>
#include <connmgr/detail/server_table.hpp>
#include <connmgr/pool_params.hpp>
#include <connmgr/pool_stats.hpp>

#include <chrono>
#include <memory>
#include <string>

namespace connmgr::detail {

/// A slot holding one open connection of type `Connection`.
template <class Connection, class Clock>
struct conn_slot final : slot<Clock> {
    std::unique_ptr<Connection> conn;
};

template <class Clock>
typename pool_state<Clock>::settings core_settings(const pool_params& p, connmgr::flavour f,
                                                   std::size_t parallel, unsigned max_bypass) {
    return {p.pool, p.retry, p.breaker, parallel, max_bypass, p.database, p.url, f};
}

template <class Clock>
void fill_stats(pool_stats& st, const pool_state<Clock>& core, const pool_params& p,
                const std::vector<server_id>& servers = {}) {
    st.databases = {p.database};
    st.url = p.url;
    st.backend = p.backend;
    st.flavour = core.config().flavour;
    st.role = p.role;
    core.fill(st);
    if (!servers.empty()) {
        const auto open = core.open_by_server();
        auto& table = server_table::instance();
        for (auto id : servers) {
            const auto info = table.get(id);
            std::size_t n = 0;
            for (const auto& [server, count] : open)
                if (server == id) n = count;
            st.servers.push_back({info.name, to_string(info.state), n});
        }
    }
    for (auto& l : core.leases(Clock::now()))
        st.leases.push_back({std::move(l.holder), std::chrono::duration<double>(l.age).count()});
}

/// The summary of one pool's close, from what was still leased when the drain ended.
template <class Clock>
close_summary make_summary(const pool_state<Clock>& core, std::uint64_t closed_before) {
    close_summary s;
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

/// The steady_clock moment of a core time point, for real waits. A test Clock only stamps the
/// core: its time points map to "that much later than now" in real time.
template <class Clock>
std::chrono::steady_clock::time_point to_steady(typename Clock::time_point t) {
    using steady = std::chrono::steady_clock;
    if constexpr (std::is_same_v<Clock, steady>) {
        return t;
    } else {
        if (t == Clock::time_point::max()) return steady::time_point::max();
        const auto left = std::chrono::duration_cast<steady::duration>(t - Clock::now());
        const auto now = steady::now();
        if (left > steady::time_point::max() - now) return steady::time_point::max();
        return now + left;
    }
}

}  // namespace connmgr::detail
