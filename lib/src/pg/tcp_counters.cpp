#include "tcp_counters.hpp"

#include <linux/tcp.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstddef>

namespace connmgr::pg::detail {

tcp_counters read_tcp_counters(int fd) noexcept {
    tcp_info info{};
    socklen_t size = sizeof info;
    if (::getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &size) != 0) return {};
    // Kernels before 4.19 return a shorter struct without the byte counter.
    if (size < offsetof(tcp_info, tcpi_bytes_sent) + sizeof info.tcpi_bytes_sent) return {};
    return {true, info.tcpi_bytes_sent, std::chrono::milliseconds(info.tcpi_last_data_sent)};
}

}  // namespace connmgr::pg::detail
