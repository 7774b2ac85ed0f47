#pragma once
/// The generic pools over the Redis drivers, compiled once in the library
/// (lib/src/redis/pools.cpp): a user's file that acquires from them instantiates only its own
/// completion handlers, not the pools.
///
/// \par Thread safety
/// See sync_pool and async_pool.

#include <connmgr/async_pool.hpp>
#include <connmgr/redis/async_driver.hpp>
#include <connmgr/redis/sync_driver.hpp>
#include <connmgr/sync_pool.hpp>

#include <chrono>

namespace connmgr::detail {
extern template class sync_pool_impl<redis::sync_driver, std::chrono::steady_clock>;
extern template class async_pool_impl<redis::async_driver, std::chrono::steady_clock>;
}  // namespace connmgr::detail
