// The RESP2 reader both Redis drivers share (see reply_parser.hpp for why it is our own).
// Each element (a line, or a bulk header with its payload) is consumed only once it has fully
// arrived, so a reply split at any byte resumes where it stopped without re-reading what was
// already assembled: the partially filled arrays wait on `stack_`.
#include <connmgr/redis/reply_parser.hpp>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <string_view>

namespace connmgr::redis {

namespace {

// Lengths and integers are at most 20 characters; anything longer is not a number.
constexpr std::size_t max_number_line = 32;
// An array declared huge must not reserve memory before its elements arrive.
constexpr std::size_t max_reserve = 1024;

// The offending bytes as a C-like literal, cut short, for error messages.
std::string printable(std::string_view bytes) {
    constexpr std::size_t shown = 40;
    std::string out = "\"";
    for (const char ch : bytes.substr(0, shown)) {
        const auto c = static_cast<unsigned char>(ch);
        if (c == '"' || c == '\\') {
            out += '\\';
            out += ch;
        } else if (c == '\r') {
            out += "\\r";
        } else if (c == '\n') {
            out += "\\n";
        } else if (c >= 0x20 && c < 0x7f) {
            out += ch;
        } else {
            static constexpr char hex[] = "0123456789abcdef";
            out += "\\x";
            out += hex[c >> 4U];
            out += hex[c & 0xfU];
        }
    }
    out += '"';
    if (bytes.size() > shown) out += "...";
    return out;
}

}  // namespace

bool reply_parser::feed(const char* data, std::size_t size) {
    if (!error_.empty()) return false;
    compact();
    buf_.append(data, size);
    return true;
}

void reply_parser::compact() {
    if (pos_ == buf_.size()) {
        buf_.clear();
        pos_ = 0;
    } else if (pos_ >= 4096 && pos_ * 2 >= buf_.size()) {
        buf_.erase(0, pos_);
        pos_ = 0;
    }
}

void reply_parser::fail(std::string message) {
    error_ = std::move(message);
    stack_.clear();
}

std::size_t reply_parser::line_end() {
    // Resume the search one byte early: a CR may have arrived without its LF.
    std::size_t from = pos_ + (scanned_ == 0 ? 0 : scanned_ - 1);
    while (from < buf_.size()) {
        const void* cr = std::memchr(buf_.data() + from, '\r', buf_.size() - from);
        if (cr == nullptr) break;
        const auto at = static_cast<std::size_t>(static_cast<const char*>(cr) - buf_.data());
        if (at + 1 >= buf_.size()) break;
        if (buf_[at + 1] == '\n') {
            scanned_ = at - pos_;
            return at;
        }
        from = at + 1;
    }
    scanned_ = buf_.size() - pos_;
    return std::string::npos;
}

bool reply_parser::parse_length(std::string_view digits, long long& value, const char* what) {
    const char* first = digits.data();
    const char* last = first + digits.size();
    const auto [end, ec] = std::from_chars(first, last, value);
    if (digits.empty() || ec != std::errc{} || end != last) {
        fail(std::string("redis protocol error: ") + what + " " + printable(digits) +
             " is not an integer");
        return false;
    }
    return true;
}

reply_parser::step reply_parser::read_element(std::optional<reply>& out) {
    if (pos_ >= buf_.size()) return step::need_more;
    const char type = buf_[pos_];
    const bool numeric = type == ':' || type == '$' || type == '*';
    if (!numeric && type != '+' && type != '-') {
        fail("redis protocol error: unexpected reply type byte " +
             printable(std::string_view(&buf_[pos_], 1)) + " at " +
             printable(std::string_view(buf_).substr(pos_)));
        return step::failed;
    }
    const std::size_t limit = numeric ? max_number_line : limits_.max_line_length;
    const std::size_t end = line_end();
    if (end == std::string::npos) {
        // A line of `limit` bytes may be buffered with its '\r' before the '\n' arrives: only
        // more than that is too long (found by the split-feed fuzz check).
        const std::size_t pending = buffered() - 1;  // after the type byte
        const bool may_still_end = pending == limit + 1 && buf_.back() == '\r';
        if (pending > limit && !may_still_end) {
            fail("redis protocol error: no CRLF within " + std::to_string(limit) + " bytes after " +
                 printable(std::string_view(buf_).substr(pos_)));
            return step::failed;
        }
        return step::need_more;
    }
    const std::string_view line(buf_.data() + pos_ + 1, end - pos_ - 1);
    if (line.size() > limit) {
        fail("redis protocol error: line of " + std::to_string(line.size()) +
             " bytes exceeds the limit of " + std::to_string(limit) + ": " + printable(line));
        return step::failed;
    }
    std::size_t next = end + 2;
    long long n = 0;
    switch (type) {
        case '+': out = reply::make_status(std::string(line)); break;
        case '-': out = reply::make_error(std::string(line)); break;
        case ':':
            if (!parse_length(line, n, "integer reply")) return step::failed;
            out = reply::make_integer(n);
            break;
        case '$': {
            if (!parse_length(line, n, "bulk length")) return step::failed;
            if (n == -1) {
                out = reply{};
                break;
            }
            if (n < 0 || static_cast<unsigned long long>(n) > limits_.max_bulk_length) {
                fail("redis protocol error: bulk length " + std::to_string(n) +
                     (n < 0 ? " is negative"
                            : " exceeds the limit of " + std::to_string(limits_.max_bulk_length)));
                return step::failed;
            }
            const auto len = static_cast<std::size_t>(n);
            if (buf_.size() - next < len + 2) return step::need_more;
            if (buf_[next + len] != '\r' || buf_[next + len + 1] != '\n') {
                fail("redis protocol error: bulk string of " + std::to_string(len) +
                     " bytes not followed by CRLF but " +
                     printable(std::string_view(buf_).substr(next + len, 2)));
                return step::failed;
            }
            out = reply::make_string(buf_.substr(next, len));
            next += len + 2;
            break;
        }
        default: {  // '*'
            if (!parse_length(line, n, "array length")) return step::failed;
            if (n == -1) {
                out = reply{};
                break;
            }
            if (n < 0 || static_cast<unsigned long long>(n) > limits_.max_array_elements) {
                fail("redis protocol error: array length " + std::to_string(n) +
                     (n < 0
                          ? " is negative"
                          : " exceeds the limit of " + std::to_string(limits_.max_array_elements)));
                return step::failed;
            }
            if (n == 0) {
                out = reply::make_array(std::vector<reply>{});
                break;
            }
            if (stack_.size() >= limits_.max_depth) {
                fail("redis protocol error: reply nested deeper than " +
                     std::to_string(limits_.max_depth) + " levels");
                return step::failed;
            }
            const auto count = static_cast<std::size_t>(n);
            std::vector<reply> elements;
            elements.reserve(std::min(count, max_reserve));
            stack_.push_back(frame{reply::make_array(std::move(elements)), count});
            break;
        }
    }
    pos_ = next;
    scanned_ = 0;
    return step::done;
}

std::optional<reply> reply_parser::next() {
    if (!error_.empty()) return std::nullopt;
    for (;;) {
        std::optional<reply> element;
        const step s = read_element(element);
        if (s != step::done) return std::nullopt;
        if (!element) continue;  // an array opened; its elements follow
        bool complete = true;
        while (!stack_.empty()) {
            frame& top = stack_.back();
            auto& elements = top.array.elements();
            elements.push_back(std::move(*element));
            if (elements.size() < top.expected) {
                complete = false;
                break;
            }
            element = std::move(top.array);
            stack_.pop_back();
        }
        if (complete) return element;
    }
}

}  // namespace connmgr::redis
