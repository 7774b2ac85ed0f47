// The one instantiation of the generic pools over the Redis drivers (see redis/pools.hpp).
#include <connmgr/redis/pools.hpp>

namespace connmgr::detail {
template class sync_pool_impl<redis::sync_driver, std::chrono::steady_clock>;
template class async_pool_impl<redis::async_driver, std::chrono::steady_clock>;
}  // namespace connmgr::detail
