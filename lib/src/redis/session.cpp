#include "session.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <optional>

namespace connmgr::redis::detail {

namespace {

bool iequals(std::string_view a, std::string_view b) noexcept {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return std::toupper(static_cast<unsigned char>(x)) ==
                      std::toupper(static_cast<unsigned char>(y));
           });
}

// Reads the RESP that `request` writes: "*<n>\r\n" then n times "$<len>\r\n<bytes>\r\n".
class resp_cursor {
public:
    explicit resp_cursor(std::string_view in) noexcept : in_(in) {}

    bool done() const noexcept { return pos_ >= in_.size(); }

    std::optional<std::size_t> header(char kind) noexcept {
        if (pos_ >= in_.size() || in_[pos_] != kind) return std::nullopt;
        const auto end = in_.find("\r\n", pos_);
        if (end == std::string_view::npos) return std::nullopt;
        std::size_t n = 0;
        const char* first = in_.data() + pos_ + 1;
        const char* last = in_.data() + end;
        auto [p, ec] = std::from_chars(first, last, n);
        if (ec != std::errc{} || p != last) return std::nullopt;
        pos_ = end + 2;
        return n;
    }

    std::optional<std::string_view> bulk() noexcept {
        auto len = header('$');
        if (!len || pos_ + *len + 2 > in_.size()) return std::nullopt;
        auto out = in_.substr(pos_, *len);
        pos_ += *len + 2;
        return out;
    }

private:
    std::string_view in_;
    std::size_t pos_{0};
};

}  // namespace

session_tracker::answered session_tracker::observe(std::string_view payload) {
    answered out;
    resp_cursor cur(payload);
    std::size_t index = 0;
    bool silent_seen = false;
    while (!cur.done()) {
        auto argc = cur.header('*');
        if (!argc || *argc == 0) {
            unread_ = true;  // not what request encodes: trust nothing that follows
            return out;
        }
        std::string_view args[3];
        for (std::size_t i = 0; i < *argc; ++i) {
            auto a = cur.bulk();
            if (!a) {
                unread_ = true;
                return out;
            }
            if (i < 3) args[i] = *a;
        }
        // CLIENT REPLY OFF/SKIP is itself unanswered; ON is answered whatever came before.
        const bool reply_switch = iequals(args[0], "CLIENT") && iequals(args[1], "REPLY");
        bool answers = replies_ == replies::on;
        if (replies_ == replies::skip_next) replies_ = replies::on;
        command(args[0], args[1], args[2], *argc);
        if (reply_switch) answers = iequals(args[2], "ON");
        if (answers) ++out.count;
        if (!answers && !silent_seen) {  // every command before this one was answered
            silent_seen = true;
            out.mask.assign(index, true);
        }
        if (silent_seen) out.mask.push_back(answers);
        ++index;
    }
    return out;
}

void session_tracker::command(std::string_view name, std::string_view arg1, std::string_view arg2,
                              std::size_t argc) {
    if (iequals(name, "MULTI")) {
        in_multi_ = true;
    } else if (iequals(name, "EXEC") || iequals(name, "DISCARD")) {
        in_multi_ = false;
        watching_ = false;
    } else if (iequals(name, "WATCH")) {
        watching_ = true;
    } else if (iequals(name, "UNWATCH")) {
        watching_ = false;
    } else if (iequals(name, "SELECT") && argc >= 2) {
        int n = -1;
        auto [p, ec] = std::from_chars(arg1.data(), arg1.data() + arg1.size(), n);
        // An unreadable number leaves the db unknown: restore it whatever it was.
        current_db_ = ec == std::errc{} && p == arg1.data() + arg1.size() ? n : -1;
    } else if (iequals(name, "SUBSCRIBE") || iequals(name, "PSUBSCRIBE") ||
               iequals(name, "SSUBSCRIBE")) {
        subscribed_ = true;
    } else if (iequals(name, "MONITOR")) {
        monitoring_ = true;
    } else if (iequals(name, "RESET") || iequals(name, "AUTH") || iequals(name, "HELLO")) {
        // RESET de-authenticates and selects db 0; AUTH and HELLO change who we are (or the
        // protocol): the connect sequence would have to run again.
        identity_changed_ = true;
    } else if (iequals(name, "CLIENT")) {
        if (iequals(arg1, "REPLY")) {
            if (iequals(arg2, "OFF")) {
                replies_ = replies::off;
            } else if (iequals(arg2, "SKIP")) {
                if (replies_ == replies::on) replies_ = replies::skip_next;
            } else if (iequals(arg2, "ON")) {
                replies_ = replies::on;
            }
        } else if (iequals(arg1, "SETNAME")) {
            renamed_ = true;
        } else if (iequals(arg1, "TRACKING")) {
            identity_changed_ = true;  // invalidation messages would arrive unasked
        }
    }
}

std::vector<std::vector<std::string>> session_tracker::restore_commands(
    const std::string& client_name) const {
    std::vector<std::vector<std::string>> out;
    if (in_multi_) {
        out.push_back({"DISCARD"});  // also unwatches
    } else if (watching_) {
        out.push_back({"UNWATCH"});
    }
    if (current_db_ != db_) out.push_back({"SELECT", std::to_string(db_)});
    if (renamed_) out.push_back({"CLIENT", "SETNAME", client_name});
    return out;
}

}  // namespace connmgr::redis::detail
