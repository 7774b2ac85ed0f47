// The one instantiation of the generic pools over the PostgreSQL drivers (see pg/pools.hpp).
#include <connmgr/pg/pools.hpp>

namespace connmgr::detail {
template class sync_pool_impl<pg::sync_driver, std::chrono::steady_clock>;
template class async_pool_impl<pg::async_driver, std::chrono::steady_clock>;
}  // namespace connmgr::detail
