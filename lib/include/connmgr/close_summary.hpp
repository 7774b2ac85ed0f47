#pragma once
/// What closing one pool (or all of them) did.
///
/// \par Thread safety
/// A plain value: copy freely; concurrent reads are safe.

#include <cstddef>
#include <map>
#include <string>

namespace connmgr {

struct close_summary {
    std::size_t pools_closed{0};        ///< pools that were open and are now closed
    std::size_t connections_closed{0};  ///< connections closed while draining
    std::size_t leases_outstanding{0};  ///< leases still out when the drain timeout passed
    /// Outstanding leases by holder (store name; "" when the acquirer gave none).
    std::map<std::string, std::size_t> leases_by_store;

    close_summary& operator+=(const close_summary& other) {
        pools_closed += other.pools_closed;
        connections_closed += other.connections_closed;
        leases_outstanding += other.leases_outstanding;
        for (const auto& [store, n] : other.leases_by_store) leases_by_store[store] += n;
        return *this;
    }
    friend bool operator==(const close_summary&, const close_summary&) = default;
};

}  // namespace connmgr
