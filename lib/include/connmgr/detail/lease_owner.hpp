#pragma once
/// The type-erased return path of a lease: both pools implement it, so one lease type serves
/// both.
///
/// \par Thread safety
/// give_back() and holder() are called from any thread; implementations synchronize.

#include <string_view>

namespace connmgr::detail {

template <class Connection>
class lease_owner {
public:
    /// Takes back the connection of `token` (the pool's slot). Never throws.
    virtual void give_back(void* token, bool broken) noexcept = 0;
    /// The store name the lease was acquired for.
    virtual std::string_view holder(const void* token) const noexcept = 0;

protected:
    ~lease_owner() = default;
};

}  // namespace connmgr::detail
