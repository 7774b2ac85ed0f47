// Fuzz target: the Cypher parameter encoder. The input bytes describe parameters (names,
// values of every kind, strings with quotes, backslashes and NUL bytes, any double) and the
// query text. What the encoder refuses is exactly what params.hpp says it refuses; what it
// sends reads back, with a reader of the literal grammar written here, as the very parameters
// given followed by the query unchanged: a string cannot end its literal early (no injection).

#include "fuzz_check.hpp"

#include <connmgr/error.hpp>
#include <connmgr/falkordb/params.hpp>

#include <charconv>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

namespace {

namespace fdb = connmgr::falkordb;

// Reads the fuzzer's bytes front to back; zeros once they run out.
class source {
public:
    source(const std::uint8_t* data, std::size_t size) : data_(data), size_(size) {}
    std::uint8_t byte() { return at_ < size_ ? data_[at_++] : 0; }
    template <class T>
    T raw() {
        unsigned char buf[sizeof(T)] = {};
        for (auto& b : buf) b = byte();
        T out;
        std::memcpy(&out, buf, sizeof out);
        return out;
    }
    std::string text(std::size_t max) {
        std::string out;
        const std::size_t n = byte() % (max + 1);
        for (std::size_t i = 0; i < n && at_ < size_; ++i) out += static_cast<char>(byte());
        return out;
    }
    std::string rest() {
        std::string out(reinterpret_cast<const char*>(data_) + at_, size_ - at_);
        at_ = size_;
        return out;
    }

private:
    const std::uint8_t* data_;
    std::size_t size_;
    std::size_t at_{0};
};

bool is_identifier(std::string_view s) {
    const auto alpha = [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
    };
    if (s.empty() || !alpha(s[0])) return false;
    for (const char c : s)
        if (!alpha(c) && !(c >= '0' && c <= '9')) return false;
    return true;
}

// A value from the bytes, and whether params.hpp says the encoder must refuse it.
fdb::value make_value(source& in, int depth, bool& refused) {
    switch (in.byte() % (depth < 4 ? 10 : 6)) {
        case 0: return nullptr;
        case 1: return (in.byte() & 1U) != 0;
        case 2: return in.raw<std::int64_t>();
        case 3: {
            const auto d = in.raw<double>();
            if (!std::isfinite(d)) refused = true;
            return d;
        }
        case 4: {
            std::string s = in.text(12);
            if (s.find('\0') != std::string::npos) refused = true;
            return s;
        }
        case 5: refused = true; return fdb::point{1.5, 2.5};
        case 6: {
            fdb::array a;
            for (int n = in.byte() % 4; n > 0; --n) a.push_back(make_value(in, depth + 1, refused));
            return a;
        }
        case 7: {
            fdb::map m;
            for (int n = in.byte() % 4; n > 0; --n) {
                std::string key = in.text(6);
                if (!is_identifier(key)) refused = true;
                m.entries.emplace_back(std::move(key), make_value(in, depth + 1, refused));
            }
            return m;
        }
        case 8: refused = true; return fdb::node{};
        default: refused = true; return fdb::vectorf32{1.0F};
    }
}

// The reader: the literal grammar of params.hpp, strictly (the separators as encoded).
class reader {
public:
    explicit reader(std::string_view text) : text_(text) {}
    std::string_view rest() const { return text_.substr(at_); }
    bool take(std::string_view s) {
        if (rest().substr(0, s.size()) != s) return false;
        at_ += s.size();
        return true;
    }
    std::optional<std::string> name() {
        std::size_t n = 0;
        while (at_ + n < text_.size() && text_[at_ + n] != '=' && text_[at_ + n] != ':') ++n;
        std::string out(text_.substr(at_, n));
        at_ += n;
        if (!is_identifier(out)) return std::nullopt;
        return out;
    }
    std::optional<fdb::value> literal() {
        if (take("null")) return fdb::value(nullptr);
        if (take("true")) return fdb::value(true);
        if (take("false")) return fdb::value(false);
        if (take("\"")) return string();
        if (take("[")) return list();
        if (take("{")) return object();
        return number();
    }

private:
    std::optional<fdb::value> string() {
        std::string out;
        while (at_ < text_.size()) {
            const char c = text_[at_++];
            if (c == '"') return fdb::value(std::move(out));
            if (c == '\\') {
                if (at_ == text_.size()) return std::nullopt;
                const char e = text_[at_++];
                if (e != '\\' && e != '"') return std::nullopt;
                out += e;
            } else {
                out += c;
            }
        }
        return std::nullopt;
    }
    std::optional<fdb::value> list() {
        fdb::array out;
        if (take("]")) return fdb::value(std::move(out));
        do {
            auto v = literal();
            if (!v) return std::nullopt;
            out.push_back(std::move(*v));
        } while (take(", "));
        if (!take("]")) return std::nullopt;
        return fdb::value(std::move(out));
    }
    std::optional<fdb::value> object() {
        fdb::map out;
        if (take("}")) return fdb::value(std::move(out));
        do {
            auto k = name();
            if (!k || !take(": ")) return std::nullopt;
            auto v = literal();
            if (!v) return std::nullopt;
            out.entries.emplace_back(std::move(*k), std::move(*v));
        } while (take(", "));
        if (!take("}")) return std::nullopt;
        return fdb::value(std::move(out));
    }
    std::optional<fdb::value> number() {
        std::size_t n = 0;
        while (at_ + n < text_.size() &&
               std::string_view("+-0123456789.e").find(text_[at_ + n]) != std::string_view::npos)
            ++n;
        const std::string_view t = text_.substr(at_, n);
        at_ += n;
        const char* end = t.data() + t.size();
        if (t.find_first_of(".e") == std::string_view::npos) {
            std::int64_t i = 0;
            const auto r = std::from_chars(t.data(), end, i);
            if (t.empty() || r.ec != std::errc{} || r.ptr != end) return std::nullopt;
            return fdb::value(i);
        }
        double d = 0;
        const auto r = std::from_chars(t.data(), end, d);
        if (r.ec != std::errc{} || r.ptr != end) return std::nullopt;
        return fdb::value(d);
    }

    std::string_view text_;
    std::size_t at_{0};
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    source in(data, size);
    bool refused = false;
    fdb::params params;
    for (int n = in.byte() % 4; n > 0; --n) {
        std::string name = in.text(6);
        if (!is_identifier(name)) refused = true;
        fdb::value v = make_value(in, 0, refused);
        params.emplace_back(std::move(name), std::move(v));
    }
    const std::string cypher = in.rest();
    if (cypher.find('\0') != std::string::npos) refused = true;

    std::string sent;
    try {
        sent = fdb::encode_query(cypher, params);
    } catch (const connmgr::error& e) {
        FUZZ_CHECK(e.code() == connmgr::errc::invalid_argument, e.what());
        FUZZ_CHECK(refused, e.what());
        FUZZ_CHECK(std::string_view(e.what()).find('\0') == std::string_view::npos, e.what());
        return 0;
    }
    FUZZ_CHECK(!refused, sent);
    if (params.empty()) {
        FUZZ_CHECK(sent == cypher, sent);
        return 0;
    }
    reader r(sent);
    FUZZ_CHECK(r.take("CYPHER"), sent);
    for (const auto& [name, v] : params) {
        FUZZ_CHECK(r.take(" "), sent);
        const auto read_name = r.name();
        FUZZ_CHECK(read_name == name && r.take("="), sent);
        const auto read = r.literal();
        FUZZ_CHECK(read.has_value(), sent);
        FUZZ_CHECK(*read == v, sent + " | expected " + v.describe());
    }
    FUZZ_CHECK(r.take(" ") && r.rest() == cypher, sent);
    return 0;
}
