#pragma once
/// Fork detection: a child process must never use or close its parent's sockets.
///
/// A pthread_atfork child handler bumps a global generation; pools stamp every connection with
/// the generation it was made in and compare on acquire and on return (one relaxed load).
///
/// \par Thread safety
/// Safe from any thread.

#include <atomic>
#include <cstdint>

namespace connmgr::detail {

extern std::atomic<std::uint64_t> fork_generation_counter;

/// Registers the atfork handler once per process; pools call it on construction.
void register_fork_handler() noexcept;

inline std::uint64_t fork_generation() noexcept {
    return fork_generation_counter.load(std::memory_order_relaxed);
}

}  // namespace connmgr::detail
