// The protocol layer shared by both drivers: reply values, RESP encoding through
// redisFormatCommandArgv, and parsing through redisReader with reply-object functions that
// build connmgr::redis::reply directly (no redisReply tree to convert).
#include <connmgr/error.hpp>
#include <connmgr/redis/reply.hpp>
#include <connmgr/redis/reply_parser.hpp>
#include <connmgr/redis/request.hpp>

#include <hiredis/hiredis.h>

#include <algorithm>
#include <cstdlib>
#include <memory>

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

// ---------------------------------------------------------------------------------------------
// Parsing

namespace {

// Top-level replies are heap-allocated and handed to the caller; nested ones are appended to
// their parent's element vector. Elements arrive in order and an array is complete before its
// parent gets the next element, so only the innermost open array grows: the pointers hiredis
// keeps to the arrays still being filled stay valid.
reply* place(const redisReadTask* task, reply&& value) {
    if (task->parent != nullptr) {
        auto* parent = static_cast<reply*>(task->parent->obj);
        auto& elements = parent->elements();
        elements.push_back(std::move(value));
        return &elements.back();
    }
    return new reply(std::move(value));  // NOLINT(cppcoreguidelines-owning-memory)
}

// The declared element count comes from the peer: reserve at most this much up front, so
// "*1000000000\r\n" costs nothing until the elements really arrive.
constexpr std::size_t max_reserved_elements = 1024;

void* create_string(const redisReadTask* task, char* str, std::size_t len) {
    try {
        std::string s(str, len);
        switch (task->type) {
            case REDIS_REPLY_ERROR: return place(task, reply::make_error(std::move(s)));
            case REDIS_REPLY_STATUS: return place(task, reply::make_status(std::move(s)));
            default: return place(task, reply::make_string(std::move(s)));
        }
    } catch (...) {
        return nullptr;  // hiredis reports an out-of-memory error
    }
}

void* create_array(const redisReadTask* task, int elements) {
    try {
        std::vector<reply> slots;
        slots.reserve(
            std::min(static_cast<std::size_t>(elements < 0 ? 0 : elements), max_reserved_elements));
        return place(task, reply::make_array(std::move(slots)));
    } catch (...) {
        return nullptr;
    }
}

void* create_integer(const redisReadTask* task, long long value) {
    try {
        return place(task, reply::make_integer(value));
    } catch (...) {
        return nullptr;
    }
}

void* create_nil(const redisReadTask* task) {
    try {
        return place(task, reply{});
    } catch (...) {
        return nullptr;
    }
}

void free_object(void* obj) { delete static_cast<reply*>(obj); }  // NOLINT

redisReplyObjectFunctions reply_functions{create_string, create_array, create_integer, create_nil,
                                          free_object};

redisReader* as_reader(void* p) { return static_cast<redisReader*>(p); }

}  // namespace

reply_parser::reply_parser() : reader_(redisReaderCreateWithFunctions(&reply_functions)) {
    if (reader_ == nullptr) throw std::bad_alloc();
}

reply_parser::~reply_parser() { redisReaderFree(as_reader(reader_)); }

bool reply_parser::feed(const char* data, std::size_t size) {
    if (!error_.empty()) return false;
    if (redisReaderFeed(as_reader(reader_), data, size) != REDIS_OK) {
        error_ = as_reader(reader_)->errstr;
        if (error_.empty()) error_ = "redis protocol error";
        return false;
    }
    return true;
}

std::optional<reply> reply_parser::next() {
    if (!error_.empty()) return std::nullopt;
    void* obj = nullptr;
    if (redisReaderGetReply(as_reader(reader_), &obj) != REDIS_OK) {
        error_ = as_reader(reader_)->errstr;
        if (error_.empty()) error_ = "redis protocol error";
        return std::nullopt;
    }
    if (obj == nullptr) return std::nullopt;
    std::unique_ptr<reply> owned(static_cast<reply*>(obj));
    return std::move(*owned);
}

}  // namespace connmgr::redis
