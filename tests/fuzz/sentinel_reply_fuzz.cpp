// Fuzz target: the sentinel reply parser (SENTINEL GET-MASTER-ADDR-BY-NAME, SENTINEL REPLICAS,
// ROLE, +switch-master). Every reply the RESP parser makes of the bytes goes through each of
// them: none may throw, and whatever they accept is something a driver can connect to (a host,
// a port in 1..65535). The raw bytes are also read as a +switch-master payload.

#include "fuzz_check.hpp"
#include "sentinel_protocol.hpp"

#include <connmgr/redis/reply_parser.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace {

using namespace connmgr::redis::detail;

void check_address(const server_address& a, const char* what) {
    FUZZ_CHECK(a.port != 0, what);
    FUZZ_CHECK(!a.name().empty(), what);
}

void check(const connmgr::redis::reply& r) {
    if (auto m = parse_master_addr(r, "svc")) {
        check_address(*m.value, "master address");
    } else {
        FUZZ_CHECK(!m.error.empty(), "a refused master address says why");
    }
    if (auto rs = parse_replicas(r, "svc")) {
        for (const auto& info : *rs.value) {
            check_address(info.address, "replica address");
            FUZZ_CHECK(!info.address.host.empty(), "replica host");
            for (const auto& f : info.flags) FUZZ_CHECK(!f.empty(), "empty flag");
        }
    } else {
        FUZZ_CHECK(!rs.error.empty(), "a refused replica list says why");
    }
    if (auto role = parse_role(r)) {
        if (role.value->master) check_address(*role.value->master, "a replica's master");
    } else {
        FUZZ_CHECK(!role.error.empty(), "a refused ROLE says why");
    }
    const auto event = parse_pubsub(r);
    if (const auto* s = std::get_if<switch_master>(&event)) {
        check_address(s->from, "old master");
        check_address(s->to, "new master");
        FUZZ_CHECK(!s->service.empty(), "service");
    } else if (const auto* bad = std::get_if<malformed>(&event)) {
        FUZZ_CHECK(!bad->error.empty(), "a malformed message says why");
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view bytes(reinterpret_cast<const char*>(data), size);
    connmgr::redis::reply_parser parser;
    parser.feed(bytes.data(), bytes.size());
    for (int i = 0; i < 64; ++i) {
        auto r = parser.next();
        if (!r) break;
        check(*r);
    }
    if (auto s = parse_switch_master(bytes)) {
        check_address(s.value->from, "old master");
        check_address(s.value->to, "new master");
    }
    return 0;
}
