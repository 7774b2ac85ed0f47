// The protocol layer shared by both drivers: reply values and RESP encoding through
// redisFormatCommandArgv. Parsing is our own reader (reply_parser.cpp): hiredis 0.14's
// redisReader refuses replies nested deeper than 7 levels.
#include <connmgr/error.hpp>
#include <connmgr/redis/reply.hpp>
#include <connmgr/redis/request.hpp>

#include <hiredis/hiredis.h>

#include <cstdlib>
#include <new>

namespace connmgr::redis {

std::string_view to_string(reply_type t) noexcept {
    switch (t) {
        case reply_type::nil: return "nil";
        case reply_type::status: return "status";
        case reply_type::error: return "error";
        case reply_type::integer: return "integer";
        case reply_type::string: return "string";
        case reply_type::array: return "array";
    }
    return "unknown";
}

reply reply::make_status(std::string text) {
    reply r;
    r.type_ = reply_type::status;
    r.str_ = std::move(text);
    return r;
}

reply reply::make_error(std::string text) {
    reply r;
    r.type_ = reply_type::error;
    r.str_ = std::move(text);
    return r;
}

reply reply::make_integer(long long value) {
    reply r;
    r.type_ = reply_type::integer;
    r.integer_ = value;
    return r;
}

reply reply::make_string(std::string bytes) {
    reply r;
    r.type_ = reply_type::string;
    r.str_ = std::move(bytes);
    return r;
}

reply reply::make_array(std::size_t size) {
    reply r;
    r.type_ = reply_type::array;
    r.elements_.resize(size);
    return r;
}

reply reply::make_array(std::vector<reply> elements) {
    reply r;
    r.type_ = reply_type::array;
    r.elements_ = std::move(elements);
    return r;
}

namespace {
[[noreturn]] void wrong_type(reply_type want, reply_type got) {
    throw error(errc::query_failed, "redis reply is " + std::string(to_string(got)) + ", not " +
                                        std::string(to_string(want)));
}
}  // namespace

const std::string& reply::str() const {
    if (type_ != reply_type::string && type_ != reply_type::status && type_ != reply_type::error)
        wrong_type(reply_type::string, type_);
    return str_;
}

long long reply::integer() const {
    if (type_ != reply_type::integer) wrong_type(reply_type::integer, type_);
    return integer_;
}

const std::vector<reply>& reply::elements() const {
    if (type_ != reply_type::array) wrong_type(reply_type::array, type_);
    return elements_;
}

std::vector<reply>& reply::elements() {
    if (type_ != reply_type::array) wrong_type(reply_type::array, type_);
    return elements_;
}

std::optional<std::string> reply::as_optional_string() const {
    if (type_ == reply_type::nil) return std::nullopt;
    if (type_ != reply_type::string) wrong_type(reply_type::string, type_);
    return str_;
}

std::string_view reply::error_code() const noexcept {
    if (type_ != reply_type::error) return {};
    std::string_view s = str_;
    return s.substr(0, s.find(' '));
}

std::string reply::describe() const {
    switch (type_) {
        case reply_type::nil: return "(nil)";
        case reply_type::status: return str_;
        case reply_type::error: return "(error) " + str_;
        case reply_type::integer: return "(integer) " + std::to_string(integer_);
        case reply_type::string: return '"' + str_ + '"';
        case reply_type::array: {
            std::string out = "[";
            for (std::size_t i = 0; i < elements_.size(); ++i) {
                if (i != 0) out += ", ";
                out += elements_[i].describe();
            }
            return out + "]";
        }
    }
    return {};
}

// ---------------------------------------------------------------------------------------------
// Encoding

request::request(std::initializer_list<command_args> commands) {
    for (const auto& c : commands) push(c);
}

request::request(const std::vector<std::vector<std::string>>& commands) {
    for (const auto& c : commands) push(c);
}

namespace {
void encode(std::string& out, int argc, const char** argv, const std::size_t* lens) {
    if (argc == 0) throw error(errc::query_failed, "empty redis command");
    char* target = nullptr;
    const int n = redisFormatCommandArgv(&target, argc, argv, lens);
    if (n < 0 || target == nullptr) throw std::bad_alloc();
    out.append(target, static_cast<std::size_t>(n));
    std::free(target);  // NOLINT(cppcoreguidelines-no-malloc): allocated by hiredis
}

// Most commands are short: keep their argument arrays on the stack.
constexpr std::size_t small_argc = 16;
}  // namespace

void request::push(std::span<const std::string_view> args) {
    const char* small_argv[small_argc];
    std::size_t small_lens[small_argc];
    std::vector<const char*> big_argv;
    std::vector<std::size_t> big_lens;
    const char** argv = small_argv;
    std::size_t* lens = small_lens;
    if (args.size() > small_argc) {
        big_argv.resize(args.size());
        big_lens.resize(args.size());
        argv = big_argv.data();
        lens = big_lens.data();
    }
    for (std::size_t i = 0; i < args.size(); ++i) {
        argv[i] = args[i].data();
        lens[i] = args[i].size();
    }
    encode(payload_, static_cast<int>(args.size()), argv, lens);
    ++count_;
}

void request::push(const std::vector<std::string>& args) {
    std::vector<std::string_view> views(args.begin(), args.end());
    push(std::span<const std::string_view>(views));
}

}  // namespace connmgr::redis
