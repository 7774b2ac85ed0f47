#include <connmgr/error.hpp>
#include <connmgr/falkordb/result.hpp>

#include "text.hpp"

namespace connmgr::falkordb {

result result::failure(std::string message) {
    result r;
    r.error_ = message.empty() ? std::string("falkordb query failed") : std::move(message);
    return r;
}

const result& result::check() const {
    if (!ok()) throw query_error("", "falkordb query failed: " + error_);
    return *this;
}

std::size_t result::column(std::string_view name) const {
    for (std::size_t i = 0; i < columns_.size(); ++i)
        if (columns_[i] == name) return i;
    throw error(errc::query_failed, detail::cat("falkordb result has no column '", name, "'"));
}

}  // namespace connmgr::falkordb
