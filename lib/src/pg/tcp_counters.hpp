#pragma once
// The kernel's counters of one TCP socket (internal): glibc's `struct tcp_info` stops before
// `tcpi_bytes_sent`, and <linux/tcp.h>, which has it, clashes with <netinet/tcp.h> (pulled in
// by Asio), so the one reading lives in its own file.

#include <chrono>
#include <cstdint>

namespace connmgr::pg::detail {

struct tcp_counters {
    bool ok{false};                           ///< a TCP socket on a kernel that counts bytes
    std::uint64_t bytes_sent{0};              ///< data bytes sent so far
    std::chrono::milliseconds since_sent{0};  ///< since data was last sent
};

tcp_counters read_tcp_counters(int fd) noexcept;

}  // namespace connmgr::pg::detail
