// The compact reply format, as FalkorDB 4 sends it: every value is a pair [type code, payload];
// nodes, edges and properties refer to labels, relationship types and keys by id.
// Recursion follows the reply's own nesting, which redis::reply_parser bounds.
#include <connmgr/error.hpp>
#include <connmgr/falkordb/decoder.hpp>

#include "text.hpp"

#include <charconv>
#include <string_view>

namespace connmgr::falkordb {

namespace {

using detail::cat;

using redis::reply;

// The server's value type codes (ValueType in FalkorDB's resultset_formatter).
enum class code : long long {
    null = 1,
    string = 2,
    integer = 3,
    boolean = 4,
    floating = 5,
    array = 6,
    edge = 7,
    node = 8,
    path = 9,
    map = 10,
    point = 11,
    vectorf32 = 12,
    datetime = 13,
    date = 14,
    time = 15,
    duration = 16,
};

[[noreturn]] void malformed(std::string_view what, const reply& r) {
    std::string shown = r.describe();
    if (shown.size() > 120) shown = shown.substr(0, 120) + "...";
    throw error(errc::query_failed,
                cat("malformed falkordb reply: expected ", what, ", got ", shown));
}

const reply& element(const reply& r, std::size_t i, std::string_view what) {
    if (!r.is_array() || r.size() <= i) malformed(what, r);
    return r[i];
}

const std::vector<reply>& elements(const reply& r, std::string_view what) {
    if (!r.is_array()) malformed(what, r);
    return r.elements();
}

std::int64_t integer(const reply& r, std::string_view what) {
    if (!r.is_integer()) malformed(what, r);
    return r.integer();
}

double number(const reply& r, std::string_view what) {
    if (r.is_integer()) return static_cast<double>(r.integer());
    if (!r.is_string() && !r.is_status()) malformed(what, r);
    const std::string& s = r.str();
    double out = 0;
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    if (ec != std::errc{} || end != s.data() + s.size()) malformed(what, r);
    return out;
}

class decoder {
public:
    explicit decoder(const schema_names& names) : names_(names) {}

    unsigned missing() const noexcept { return missing_; }

    value decode_value(const reply& pair) {
        const auto& parts = elements(pair, "a value as [type, payload]");
        if (parts.size() != 2) malformed("a value as [type, payload]", pair);
        return decode_payload(integer(parts[0], "a value type code"), parts[1]);
    }

private:
    const std::string& name(const std::vector<std::string>& names, std::int64_t id,
                            schema_part part) {
        if (id >= 0 && static_cast<std::size_t>(id) < names.size())
            return names[static_cast<std::size_t>(id)];
        missing_ |= part;
        return unknown_;
    }

    value decode_payload(std::int64_t type, const reply& p) {
        switch (static_cast<code>(type)) {
            case code::null: return nullptr;
            case code::string:
                if (!p.is_string() && !p.is_status()) malformed("a string", p);
                return p.str();
            case code::integer: return integer(p, "an integer");
            case code::boolean:
                if (p.is_integer()) return p.integer() != 0;
                if (!p.is_string() && !p.is_status()) malformed("a boolean", p);
                if (p.str() == "true") return true;
                if (p.str() == "false") return false;
                malformed("a boolean", p);
            case code::floating: return number(p, "a double");
            case code::array: {
                array out;
                out.reserve(p.size());
                for (const auto& e : elements(p, "an array")) out.push_back(decode_value(e));
                return out;
            }
            case code::edge: return decode_edge(p);
            case code::node: return decode_node(p);
            case code::path: return decode_path(p);
            case code::map: {
                const auto& e = elements(p, "a map");
                if (e.size() % 2 != 0) malformed("a map as [key, value, ...]", p);
                map out;
                out.entries.reserve(e.size() / 2);
                for (std::size_t i = 0; i < e.size(); i += 2) {
                    if (!e[i].is_string() && !e[i].is_status()) malformed("a map key", e[i]);
                    out.entries.emplace_back(e[i].str(), decode_value(e[i + 1]));
                }
                return out;
            }
            case code::point:
                return point{
                    number(element(p, 0, "a point as [latitude, longitude]"), "latitude"),
                    number(element(p, 1, "a point as [latitude, longitude]"), "longitude")};
            case code::vectorf32: {
                vectorf32 out;
                out.reserve(p.size());
                for (const auto& e : elements(p, "a vectorf32"))
                    out.push_back(static_cast<float>(number(e, "a vectorf32 element")));
                return out;
            }
            case code::datetime:
                return datetime{std::chrono::sys_seconds(
                    std::chrono::seconds(integer(p, "a datetime (seconds)")))};
            case code::date:
                return date{std::chrono::floor<std::chrono::days>(std::chrono::sys_seconds(
                    std::chrono::seconds(integer(p, "a date (seconds)"))))};
            case code::time: {
                // Seconds since the epoch of a time on 1900-01-01: keep the time of day.
                constexpr std::int64_t day = 86'400;
                const std::int64_t s = integer(p, "a time (seconds)") % day;
                return time{std::chrono::seconds(s < 0 ? s + day : s)};
            }
            case code::duration:
                return duration{std::chrono::seconds(integer(p, "a duration (seconds)"))};
        }
        throw error(errc::query_failed,
                    cat("malformed falkordb reply: unknown value type code ", type));
    }

    map decode_properties(const reply& p) {
        map out;
        const auto& props = elements(p, "properties");
        out.entries.reserve(props.size());
        for (const auto& prop : props) {
            const auto& kv = elements(prop, "a property as [key id, type, value]");
            if (kv.size() != 3) malformed("a property as [key id, type, value]", prop);
            const std::string& key = name(names_.property_keys, integer(kv[0], "a property key id"),
                                          schema_property_keys);
            out.entries.emplace_back(key, decode_payload(integer(kv[1], "a property type"), kv[2]));
        }
        return out;
    }

    node decode_node(const reply& p) {
        const auto& e = elements(p, "a node as [id, labels, properties]");
        if (e.size() != 3) malformed("a node as [id, labels, properties]", p);
        node n;
        n.id = integer(e[0], "a node id");
        for (const auto& l : elements(e[1], "node labels"))
            n.labels.push_back(name(names_.labels, integer(l, "a label id"), schema_labels));
        n.properties = decode_properties(e[2]);
        return n;
    }

    edge decode_edge(const reply& p) {
        const auto& e = elements(p, "an edge as [id, type, source, destination, properties]");
        if (e.size() != 5) malformed("an edge as [id, type, source, destination, properties]", p);
        edge out;
        out.id = integer(e[0], "an edge id");
        out.type = name(names_.relationship_types, integer(e[1], "a relationship type id"),
                        schema_relationship_types);
        out.source = integer(e[2], "an edge source id");
        out.destination = integer(e[3], "an edge destination id");
        out.properties = decode_properties(e[4]);
        return out;
    }

    path decode_path(const reply& p) {
        const auto& e = elements(p, "a path as [nodes, edges]");
        if (e.size() != 2) malformed("a path as [nodes, edges]", p);
        path out;
        for (auto& n : decode_list(e[0], "path nodes")) {
            if (n.type() != value_type::node) malformed("a node in a path", e[0]);
            out.nodes.push_back(n.as_node());
        }
        for (auto& x : decode_list(e[1], "path edges")) {
            if (x.type() != value_type::edge) malformed("an edge in a path", e[1]);
            out.edges.push_back(x.as_edge());
        }
        return out;
    }

    array decode_list(const reply& pair, std::string_view what) {
        value v = decode_value(pair);
        if (v.type() != value_type::array) malformed(what, pair);
        return v.as_array();
    }

    const schema_names& names_;
    unsigned missing_{0};
    const std::string unknown_;
};

std::int64_t stat_count(std::string_view text, const std::string& line) {
    std::int64_t n = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
    if (ec != std::errc{} || end != text.data() + text.size())
        throw error(errc::query_failed, cat("malformed falkordb statistics line '", line, "'"));
    return n;
}

}  // namespace

query_stats parse_stats(const reply& lines) {
    query_stats s;
    for (const auto& l : elements(lines, "statistics lines")) {
        if (!l.is_string() && !l.is_status()) malformed("a statistics line", l);
        const std::string& line = l.str();
        const auto colon = line.find(": ");
        const std::string_view key = std::string_view(line).substr(0, colon);
        const std::string_view text = colon == std::string::npos
                                          ? std::string_view{}
                                          : std::string_view(line).substr(colon + 2);
        std::int64_t* field = nullptr;
        if (key == "Labels added")
            field = &s.labels_added;
        else if (key == "Labels removed")
            field = &s.labels_removed;
        else if (key == "Nodes created")
            field = &s.nodes_created;
        else if (key == "Nodes deleted")
            field = &s.nodes_deleted;
        else if (key == "Properties set")
            field = &s.properties_set;
        else if (key == "Properties removed")
            field = &s.properties_removed;
        else if (key == "Relationships created")
            field = &s.relationships_created;
        else if (key == "Relationships deleted")
            field = &s.relationships_deleted;
        else if (key == "Indices created")
            field = &s.indices_created;
        else if (key == "Indices deleted")
            field = &s.indices_deleted;
        if (field != nullptr) {
            *field = stat_count(text, line);
        } else if (key == "Cached execution") {
            s.cached_execution = stat_count(text, line) != 0;
        } else if (key == "Query internal execution time") {
            double ms = 0;
            const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), ms);
            if (ec != std::errc{} || end == text.data())
                throw error(errc::query_failed,
                            cat("malformed falkordb statistics line '", line, "'"));
            s.execution_time = std::chrono::duration<double, std::milli>(ms);
        } else {
            s.other.emplace_back(std::string(key), std::string(text));
        }
    }
    return s;
}

decoded decode_compact(const reply& r, const schema_names& names) {
    if (r.is_error()) return {result::failure(r.str()), 0};
    const auto& parts = elements(r, "a reply as [header, rows, statistics] or [statistics]");
    // A query that fails while running sends what it has, then the error.
    if (!parts.empty() && parts.back().is_error()) return {result::failure(parts.back().str()), 0};
    if (parts.size() == 1) return {result({}, {}, parse_stats(parts[0])), 0};
    if (parts.size() != 3) malformed("a reply as [header, rows, statistics] or [statistics]", r);

    std::vector<std::string> columns;
    for (const auto& col : elements(parts[0], "a header")) {
        const reply& n = element(col, 1, "a column as [type, name]");
        if (!n.is_string() && !n.is_status()) malformed("a column name", n);
        columns.push_back(n.str());
    }
    decoder d(names);
    std::vector<row> rows;
    rows.reserve(parts[1].size());
    for (const auto& raw : elements(parts[1], "rows")) {
        const auto& cells = elements(raw, "a row");
        if (cells.size() != columns.size())
            malformed(cat("a row of ", columns.size(), " values"), raw);
        row out;
        out.reserve(cells.size());
        for (const auto& cell : cells) out.push_back(d.decode_value(cell));
        rows.push_back(std::move(out));
    }
    // The statistics first: a malformed reply is refused as such, not after a schema refresh.
    query_stats stats = parse_stats(parts[2]);
    if (d.missing() != 0) return {std::nullopt, d.missing()};
    return {result(std::move(columns), std::move(rows), std::move(stats)), 0};
}

std::vector<std::string> decode_procedure_names(const reply& r) {
    const decoded d = decode_compact(r, {});
    if (!d.value) malformed("procedure output without schema references", r);
    d.value->check();
    std::vector<std::string> out;
    out.reserve(d.value->size());
    for (const auto& cells : *d.value) {
        if (cells.size() != 1) malformed("one name per row", r);
        out.push_back(cells[0].as_string());
    }
    return out;
}

}  // namespace connmgr::falkordb
