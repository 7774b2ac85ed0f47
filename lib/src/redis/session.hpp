#pragma once
// What a borrower did to a Redis connection's session, learnt from the command names it sent
// (internal). The pool hands a connection out in the state it opened it in (DESIGN §5): the
// tracker says whether that state still holds, whether a round trip restores it (DISCARD,
// UNWATCH, SELECT, CLIENT SETNAME), or whether the connection must be closed (subscribed,
// replies switched off, MONITOR, RESET or AUTH changed the identity, a reply left unread).
//
// Watching the outgoing commands costs no round trip, so a lease that only ran GET and SET is
// returned as it is.

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace connmgr::redis::detail {

class session_tracker {
public:
    /// `db` is the database the connect sequence selected.
    explicit session_tracker(int db = 0) noexcept : db_(db), current_db_(db) {}

    /// Which of the commands of one outgoing batch the server will answer (false: CLIENT REPLY
    /// OFF or SKIP suppresses the reply), in order.
    struct answered {
        std::size_t count{0};      ///< replies the server sends for the batch
        std::vector<bool> mask{};  ///< empty when every command is answered
    };

    /// Reads the command names of an encoded batch (RESP arrays of bulk strings, as `request`
    /// builds them) and updates the session state. Bytes it cannot read mark the connection
    /// for closing.
    answered observe(std::string_view payload);

    /// A reply arrived that no command asked for (pub/sub message, a reply the borrower did not
    /// read): the reply stream no longer matches the requests.
    void mark_unread() noexcept { unread_ = true; }

    /// The session cannot be put back cheaply: close the connection on return.
    bool must_close() const noexcept {
        return unread_ || subscribed_ || monitoring_ || identity_changed_ ||
               replies_ != replies::on;
    }
    /// A round trip (restore_commands) puts the session back.
    bool needs_restore() const noexcept {
        return !must_close() && (in_multi_ || watching_ || current_db_ != db_ || renamed_);
    }
    bool clean() const noexcept { return !must_close() && !needs_restore(); }

    /// The commands that restore the session, as {name, args...}; empty when clean.
    std::vector<std::vector<std::string>> restore_commands(const std::string& client_name) const;
    /// restore_commands() succeeded: the session is as the connect sequence left it.
    void restored() noexcept {
        in_multi_ = watching_ = renamed_ = false;
        current_db_ = db_;
    }

private:
    enum class replies { on, off, skip_next };
    void command(std::string_view name, std::string_view arg1, std::string_view arg2,
                 std::size_t argc);

    int db_;
    int current_db_;
    bool in_multi_{false};
    bool watching_{false};
    bool renamed_{false};
    bool subscribed_{false};
    bool monitoring_{false};
    bool identity_changed_{false};
    bool unread_{false};
    replies replies_{replies::on};
};

}  // namespace connmgr::redis::detail
