#include <connmgr/pg/params.hpp>

#include <charconv>
#include <cmath>

namespace connmgr::pg {

param to_param(std::nullopt_t) noexcept { return {}; }

param to_param(bool v) { return {std::string(v ? "t" : "f"), false}; }

param to_param(long long v) { return {std::to_string(v), false}; }

param to_param(unsigned long long v) { return {std::to_string(v), false}; }

param to_param(double v) {
    if (std::isnan(v)) return {std::string("NaN"), false};
    if (std::isinf(v)) return {std::string(v > 0 ? "Infinity" : "-Infinity"), false};
    char buf[32];
    // Shortest text that reads back as the same double.
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
    (void)ec;
    return {std::string(buf, end), false};
}

param to_param(std::string_view v) { return {std::string(v), false}; }

param to_param(const bytea& v) { return {v.data, true}; }

}  // namespace connmgr::pg
