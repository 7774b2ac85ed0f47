#include <connmgr/error.hpp>
#include <connmgr/falkordb/value.hpp>

#include "text.hpp"

namespace connmgr::falkordb {

std::string_view to_string(value_type t) noexcept {
    switch (t) {
        case value_type::null: return "null";
        case value_type::boolean: return "boolean";
        case value_type::integer: return "integer";
        case value_type::floating: return "double";
        case value_type::string: return "string";
        case value_type::array: return "array";
        case value_type::map: return "map";
        case value_type::node: return "node";
        case value_type::edge: return "edge";
        case value_type::path: return "path";
        case value_type::point: return "point";
        case value_type::vectorf32: return "vectorf32";
        case value_type::datetime: return "datetime";
        case value_type::date: return "date";
        case value_type::time: return "time";
        case value_type::duration: return "duration";
    }
    return "unknown";
}

map::map(std::initializer_list<std::pair<std::string, value>> init) : entries(init) {}

const value* map::find(std::string_view key) const noexcept {
    for (const auto& [k, v] : entries)
        if (k == key) return &v;
    return nullptr;
}

const value& map::at(std::string_view key) const {
    if (const value* v = find(key)) return *v;
    throw error(errc::query_failed, detail::cat("falkordb map has no key '", key, "'"));
}

bool operator==(const map& a, const map& b) { return a.entries == b.entries; }

template <class T>
const T& value::get(value_type want) const {
    if (const T* p = std::get_if<T>(&v_)) return *p;
    throw error(errc::query_failed,
                detail::cat("falkordb value is ", to_string(type()), ", not ", to_string(want)));
}

bool value::as_bool() const { return get<bool>(value_type::boolean); }
std::int64_t value::as_integer() const { return get<std::int64_t>(value_type::integer); }
double value::as_double() const {
    if (const auto* i = std::get_if<std::int64_t>(&v_)) return static_cast<double>(*i);
    return get<double>(value_type::floating);
}
const std::string& value::as_string() const { return get<std::string>(value_type::string); }
const array& value::as_array() const { return get<array>(value_type::array); }
const map& value::as_map() const { return get<map>(value_type::map); }
const node& value::as_node() const { return get<node>(value_type::node); }
const edge& value::as_edge() const { return get<edge>(value_type::edge); }
const path& value::as_path() const { return get<path>(value_type::path); }
const point& value::as_point() const { return get<point>(value_type::point); }
const vectorf32& value::as_vectorf32() const { return get<vectorf32>(value_type::vectorf32); }
const datetime& value::as_datetime() const { return get<datetime>(value_type::datetime); }
const date& value::as_date() const { return get<date>(value_type::date); }
const time& value::as_time() const { return get<time>(value_type::time); }
const duration& value::as_duration() const { return get<duration>(value_type::duration); }

namespace {

std::string describe_map(const map& m) {
    std::string out = "{";
    for (std::size_t i = 0; i < m.entries.size(); ++i) {
        if (i != 0) out += ", ";
        out += m.entries[i].first + ": " + m.entries[i].second.describe();
    }
    return out + "}";
}

std::string describe_node(const node& n) {
    std::string out = "(";
    for (const auto& l : n.labels) out += ":" + l;
    if (!n.properties.empty()) out += (n.labels.empty() ? "" : " ") + describe_map(n.properties);
    return out + ")";
}

std::string describe_edge(const edge& e) {
    std::string out = "[:" + e.type;
    if (!e.properties.empty()) out += " " + describe_map(e.properties);
    return out + "]";
}

std::string iso_day(std::chrono::sys_days d) {
    const std::chrono::year_month_day ymd{d};
    return detail::cat(detail::padded(static_cast<int>(ymd.year()), 4), '-',
                       detail::padded(static_cast<unsigned>(ymd.month()), 2), '-',
                       detail::padded(static_cast<unsigned>(ymd.day()), 2));
}

std::string clock_time(std::chrono::seconds s) {
    const std::chrono::hh_mm_ss t{s};
    return detail::cat(detail::padded(t.hours().count(), 2), ':',
                       detail::padded(t.minutes().count(), 2), ':',
                       detail::padded(t.seconds().count(), 2));
}

}  // namespace

std::string value::describe() const {
    switch (type()) {
        case value_type::null: return "null";
        case value_type::boolean: return as_bool() ? "true" : "false";
        case value_type::integer: return std::to_string(as_integer());
        case value_type::floating: return detail::cat(std::get<double>(v_));
        case value_type::string: return '"' + as_string() + '"';
        case value_type::array: {
            std::string out = "[";
            const auto& a = as_array();
            for (std::size_t i = 0; i < a.size(); ++i) {
                if (i != 0) out += ", ";
                out += a[i].describe();
            }
            return out + "]";
        }
        case value_type::map: return describe_map(as_map());
        case value_type::node: return describe_node(as_node());
        case value_type::edge: return describe_edge(as_edge());
        case value_type::path: {
            const auto& p = as_path();
            std::string out;
            for (std::size_t i = 0; i < p.nodes.size(); ++i) {
                if (i != 0 && i - 1 < p.edges.size())
                    out += "-" + describe_edge(p.edges[i - 1]) + "-";
                out += describe_node(p.nodes[i]);
            }
            return out;
        }
        case value_type::point:
            return detail::cat("point({latitude: ", as_point().latitude,
                               ", longitude: ", as_point().longitude, "})");
        case value_type::vectorf32: {
            std::string out = "vecf32([";
            const auto& v = as_vectorf32();
            for (std::size_t i = 0; i < v.size(); ++i) out += detail::cat(i != 0 ? ", " : "", v[i]);
            return out + "])";
        }
        case value_type::datetime: {
            const auto t = as_datetime().value;
            const auto day = std::chrono::floor<std::chrono::days>(t);
            return "localdatetime('" + iso_day(day) + "T" + clock_time(t - day) + "')";
        }
        case value_type::date: return "date('" + iso_day(as_date().value) + "')";
        case value_type::time: return "localtime('" + clock_time(as_time().since_midnight) + "')";
        case value_type::duration:
            return detail::cat("duration(", as_duration().value.count(), "s)");
    }
    return {};
}

}  // namespace connmgr::falkordb
