#include <connmgr/error.hpp>
#include <connmgr/falkordb/params.hpp>

#include "text.hpp"

#include <charconv>
#include <cmath>

namespace connmgr::falkordb {

namespace {

using detail::cat;

[[noreturn]] void refuse(const std::string& what) {
    throw error(errc::invalid_argument, "falkordb parameter refused: " + what);
}

bool is_identifier(std::string_view name) {
    if (name.empty()) return false;
    const auto alpha = [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
    };
    if (!alpha(name[0])) return false;
    for (const char c : name)
        if (!alpha(c) && !(c >= '0' && c <= '9')) return false;
    return true;
}

void check_name(std::string_view name, std::string_view what) {
    if (!is_identifier(name))
        refuse(
            cat(what, " '",
                name.find('\0') == std::string_view::npos ? name : std::string_view("<with NUL>"),
                "' is not an identifier ([A-Za-z_][A-Za-z0-9_]*)"));
}

void append_string(std::string& out, const std::string& s) {
    if (s.find('\0') != std::string::npos) refuse("a string holds a NUL byte");
    out += '"';
    for (const char c : s) {
        if (c == '\\' || c == '"') out += '\\';
        out += c;
    }
    out += '"';
}

void append_double(std::string& out, double d) {
    if (!std::isfinite(d)) refuse(cat(d, " is not a finite double"));
    char buf[64];
    const auto [end, ec] = std::to_chars(buf, buf + sizeof buf, d);  // shortest exact form
    std::string text(buf, end);
    if (const auto e = text.find("e+"); e != std::string::npos) text.erase(e + 1, 1);
    // "1" would read back as an integer.
    if (text.find_first_of(".e") == std::string::npos) text += ".0";
    out += text;
}

void append(std::string& out, const value& v) {
    switch (v.type()) {
        case value_type::null: out += "null"; return;
        case value_type::boolean: out += v.as_bool() ? "true" : "false"; return;
        case value_type::integer: out += std::to_string(v.as_integer()); return;
        case value_type::floating: append_double(out, v.as_double()); return;
        case value_type::string: append_string(out, v.as_string()); return;
        case value_type::array: {
            out += '[';
            bool first = true;
            for (const auto& e : v.as_array()) {
                if (!first) out += ", ";
                first = false;
                append(out, e);
            }
            out += ']';
            return;
        }
        case value_type::map: {
            out += '{';
            bool first = true;
            for (const auto& [k, e] : v.as_map().entries) {
                check_name(k, "map key");
                if (!first) out += ", ";
                first = false;
                out += k;
                out += ": ";
                append(out, e);
            }
            out += '}';
            return;
        }
        default:
            refuse(cat("a ", to_string(v.type()),
                       " cannot be sent as a parameter (build it in Cypher)"));
    }
}

}  // namespace

std::string encode_literal(const value& v) {
    std::string out;
    append(out, v);
    return out;
}

std::string encode_query(std::string_view cypher, const params& parameters) {
    if (cypher.find('\0') != std::string_view::npos) refuse("the query holds a NUL byte");
    if (parameters.empty()) return std::string(cypher);
    std::string out = "CYPHER";
    for (const auto& [name, v] : parameters) {
        check_name(name, "name");
        out += ' ';
        out += name;
        out += '=';
        append(out, v);
    }
    out += ' ';
    out += cypher;
    return out;
}

}  // namespace connmgr::falkordb
