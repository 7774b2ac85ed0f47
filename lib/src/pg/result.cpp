#include "result_data.hpp"

#include <connmgr/error.hpp>

#include <charconv>
#include <limits>
#include <stdexcept>
#include <system_error>

namespace connmgr::pg {

namespace detail {

std::shared_ptr<result_data> make_result_data(PGresult* r) {
    auto d = std::make_shared<result_data>();
    d->res = r;
    if (r == nullptr) return d;
    switch (PQresultStatus(r)) {
        case PGRES_COMMAND_OK:
        case PGRES_TUPLES_OK:
        case PGRES_EMPTY_QUERY:
        case PGRES_SINGLE_TUPLE:
        case PGRES_PIPELINE_SYNC: break;
        case PGRES_PIPELINE_ABORTED:
            d->ok = false;
            d->message = "pipeline aborted: an earlier statement of the pipeline failed";
            break;
        default: {
            d->ok = false;
            const char* state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
            d->sqlstate = state != nullptr ? state : "";
            const char* msg = PQresultErrorMessage(r);
            d->message = msg != nullptr ? msg : "";
            while (!d->message.empty() && (d->message.back() == '\n' || d->message.back() == ' '))
                d->message.pop_back();
            break;
        }
    }
    return d;
}

std::shared_ptr<result_data> make_error_data(std::string sqlstate, std::string message) {
    auto d = std::make_shared<result_data>();
    d->ok = false;
    d->sqlstate = std::move(sqlstate);
    d->message = std::move(message);
    return d;
}

}  // namespace detail

namespace {

const std::string empty_string;

PGresult* res_of(const detail::result_data* d) { return d != nullptr ? d->res : nullptr; }

void check_cell(const detail::result_data* d, std::size_t r, std::size_t c) {
    PGresult* res = res_of(d);
    if (res == nullptr || r >= static_cast<std::size_t>(PQntuples(res)) ||
        c >= static_cast<std::size_t>(PQnfields(res)))
        throw std::out_of_range("pg::result: no cell (" + std::to_string(r) + ", " +
                                std::to_string(c) + ")");
}

template <class T>
T parse_number(std::string_view text) {
    T value{};
    const char* first = text.data();
    const char* last = first + text.size();
    auto [ptr, ec] = std::from_chars(first, last, value);
    if (ec != std::errc{} || ptr != last)
        throw std::invalid_argument("pg::result: cannot convert '" + std::string(text) + "'");
    return value;
}

std::size_t index_of(const detail::result_data* d, std::string_view name) {
    PGresult* res = res_of(d);
    int n = res != nullptr ? PQnfields(res) : 0;
    for (int c = 0; c < n; ++c)
        if (name == PQfname(res, c)) return static_cast<std::size_t>(c);
    throw std::out_of_range("pg::result: no column named '" + std::string(name) + "'");
}

}  // namespace

bool field::is_null() const {
    check_cell(d_, row_, col_);
    return PQgetisnull(d_->res, static_cast<int>(row_), static_cast<int>(col_)) != 0;
}

std::string_view field::view() const {
    check_cell(d_, row_, col_);
    int r = static_cast<int>(row_);
    int c = static_cast<int>(col_);
    return {PQgetvalue(d_->res, r, c), static_cast<std::size_t>(PQgetlength(d_->res, r, c))};
}

std::string_view field::name() const {
    check_cell(d_, row_, col_);
    return PQfname(d_->res, static_cast<int>(col_));
}

namespace {
std::string_view non_null(const field& f) {
    if (f.is_null())
        throw std::logic_error("pg::result: value of column '" + std::string(f.name()) +
                               "' is NULL");
    return f.view();
}
}  // namespace

template <>
long long field::as<long long>() const {
    return parse_number<long long>(non_null(*this));
}
template <>
long field::as<long>() const {
    return parse_number<long>(non_null(*this));
}
template <>
int field::as<int>() const {
    return parse_number<int>(non_null(*this));
}
template <>
unsigned field::as<unsigned>() const {
    return parse_number<unsigned>(non_null(*this));
}
template <>
double field::as<double>() const {
    auto text = non_null(*this);
    // from_chars does not know PostgreSQL's spellings of the special values.
    if (text == "NaN") return std::numeric_limits<double>::quiet_NaN();
    if (text == "Infinity") return std::numeric_limits<double>::infinity();
    if (text == "-Infinity") return -std::numeric_limits<double>::infinity();
    return parse_number<double>(text);
}
template <>
float field::as<float>() const {
    return static_cast<float>(as<double>());
}
template <>
bool field::as<bool>() const {
    auto text = non_null(*this);
    if (text == "t" || text == "true") return true;
    if (text == "f" || text == "false") return false;
    throw std::invalid_argument("pg::result: not a boolean: '" + std::string(text) + "'");
}
template <>
std::string field::as<std::string>() const {
    return std::string(non_null(*this));
}
template <>
std::string_view field::as<std::string_view>() const {
    return non_null(*this);
}
template <>
bytea field::as<bytea>() const {
    auto text = non_null(*this);
    std::size_t length = 0;
    unsigned char* raw =
        PQunescapeBytea(reinterpret_cast<const unsigned char*>(text.data()), &length);
    if (raw == nullptr) throw std::bad_alloc();
    bytea out{std::string(reinterpret_cast<const char*>(raw), length)};
    PQfreemem(raw);
    return out;
}

field row::operator[](std::size_t column) const {
    check_cell(d_, row_, column);
    return {d_, row_, column};
}

field row::operator[](std::string_view column_name) const {
    return (*this)[index_of(d_, column_name)];
}

std::size_t row::size() const noexcept {
    PGresult* res = res_of(d_);
    return res != nullptr ? static_cast<std::size_t>(PQnfields(res)) : 0;
}

bool result::ok() const noexcept { return d_ == nullptr || d_->ok; }
const std::string& result::sqlstate() const noexcept { return d_ ? d_->sqlstate : empty_string; }
const std::string& result::error_message() const noexcept {
    return d_ ? d_->message : empty_string;
}

const result& result::check() const {
    if (!ok()) throw query_error(sqlstate(), error_message());
    return *this;
}

std::size_t result::size() const noexcept {
    PGresult* res = res_of(d_.get());
    return res != nullptr ? static_cast<std::size_t>(PQntuples(res)) : 0;
}

std::size_t result::columns() const noexcept {
    PGresult* res = res_of(d_.get());
    return res != nullptr ? static_cast<std::size_t>(PQnfields(res)) : 0;
}

std::string_view result::column_name(std::size_t column) const {
    if (column >= columns())
        throw std::out_of_range("pg::result: no column " + std::to_string(column));
    return PQfname(d_->res, static_cast<int>(column));
}

std::size_t result::column_index(std::string_view name) const { return index_of(d_.get(), name); }

std::size_t result::affected_rows() const noexcept {
    PGresult* res = res_of(d_.get());
    if (res == nullptr) return 0;
    std::string_view n = PQcmdTuples(res);
    std::size_t v = 0;
    std::from_chars(n.data(), n.data() + n.size(), v);
    return v;
}

std::string_view result::command_status() const noexcept {
    PGresult* res = res_of(d_.get());
    return res != nullptr ? PQcmdStatus(res) : "";
}

row result::operator[](std::size_t r) const {
    if (r >= size()) throw std::out_of_range("pg::result: no row " + std::to_string(r));
    return {d_.get(), r};
}

}  // namespace connmgr::pg
