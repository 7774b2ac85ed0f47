#pragma once
// What a pg::result shares: the libpq result and the error it carries (internal).

#include <connmgr/pg/result.hpp>

#include <libpq-fe.h>

#include <memory>
#include <string>

namespace connmgr::pg::detail {

struct result_data {
    PGresult* res{nullptr};  // owned
    bool ok{true};
    std::string sqlstate;
    std::string message;

    result_data() = default;
    result_data(const result_data&) = delete;
    result_data& operator=(const result_data&) = delete;
    ~result_data() {
        if (res != nullptr) PQclear(res);
    }
};

/// Takes ownership of `r` (may be null: an empty, successful result).
std::shared_ptr<result_data> make_result_data(PGresult* r);

/// A failed result with no server response (e.g. "pipeline aborted", a send error).
std::shared_ptr<result_data> make_error_data(std::string sqlstate, std::string message);

}  // namespace connmgr::pg::detail
