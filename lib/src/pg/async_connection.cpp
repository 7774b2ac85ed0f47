#include "async_conn_impl.hpp"

#include <connmgr/detail/one_thread.hpp>
#include <connmgr/error.hpp>

#include <boost/asio/associated_executor.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/container/small_vector.hpp>

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>
#include <algorithm>
#include <cctype>
#include <cstring>

#include <utility>

namespace connmgr::pg {

namespace asio = boost::asio;
using boost::system::error_code;

namespace detail {

namespace {

std::string trimmed(const char* text) {
    std::string s = text != nullptr ? text : "";
    while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
    return s;
}

constexpr steady_time no_deadline = steady_time::max();

// The protocol's limit on bound parameters; libpq refuses more before sending anything.
constexpr std::size_t max_params = 65535;

// Whether a statement may be prepared under a cached name. Not: COPY (kept off pipeline mode,
// where libpq cannot run it), and what drops prepared statements itself (DISCARD, DEALLOCATE).
bool cacheable(const query& q) {
    if (q.params.size() > max_params) return false;
    std::size_t i = 0;
    while (i < q.sql.size() && std::isspace(static_cast<unsigned char>(q.sql[i])) != 0) ++i;
    auto starts = [&](std::string_view word) {
        if (q.sql.size() - i < word.size()) return false;
        for (std::size_t k = 0; k < word.size(); ++k)
            if (std::toupper(static_cast<unsigned char>(q.sql[i + k])) != word[k]) return false;
        return true;
    };
    return !starts("COPY") && !starts("DISCARD") && !starts("DEALLOCATE");
}

template <class Handler, class... Args>
auto bound_call(Handler handler, Args... args) {
    return [h = std::move(handler), ... a = std::move(args)]() mutable {
        std::move(h)(std::move(a)...);
    };
}

// Runs a completion handler on its own executor (the coroutine's, for awaitables): `known`
// when the caller gave it, else asked of the handler, or the connection's strand when it has
// none.
template <class Handler, class... Args>
void complete(Handler handler, const asio::any_io_executor& known,
              const asio::any_io_executor& fallback, Args... args) {
    if (known) {
        asio::dispatch(known, bound_call(std::move(handler), std::move(args)...));
        return;
    }
    auto ex = asio::get_associated_executor(handler, fallback);
    asio::dispatch(ex, bound_call(std::move(handler), std::move(args)...));
}

using io_strand = asio::strand<asio::io_context::executor_type>;
using any_strand = asio::strand<asio::any_io_executor>;

asio::any_io_executor make_connection_strand(const asio::any_io_executor& ex) {
    // One of the manager's threads: its context already runs one handler at a time.
    if (connmgr::detail::runs_on_one_thread(ex)) return ex;
    if (const auto* io = ex.target<asio::io_context::executor_type>())
        return asio::make_strand(*io);
    return asio::make_strand(ex);
}

}  // namespace

async_conn_impl::async_conn_impl(asio::any_io_executor ex, std::chrono::milliseconds query_timeout,
                                 std::size_t statement_cache)
    : strand_(make_connection_strand(ex)),
      sock_(strand_),
      timer_(strand_),
      query_timeout_(query_timeout),
      cache_(statement_cache) {}

async_conn_impl::~async_conn_impl() { close(); }

bool async_conn_impl::on_strand() const noexcept {
    if (const auto* io = strand_.target<asio::io_context::executor_type>())
        return io->running_in_this_thread();
    if (const auto* s = strand_.target<io_strand>()) return s->running_in_this_thread();
    if (const auto* s = strand_.target<any_strand>()) return s->running_in_this_thread();
    return false;
}

bool async_conn_impl::assign_socket() noexcept {
    drop_socket();
    const int fd = PQsocket(conn_);
    if (fd < 0) return false;
    // Asio waits on a duplicate that it owns, never on libpq's descriptor: libpq closes its own
    // on EOF (inside PQconsumeInput) or between connect attempts, and the number can then go
    // to another connection at once; deregistering it later would remove that connection's
    // registration from the reactor and its waits would never complete. The duplicate keeps
    // its number until this connection closes it.
    const int mine = ::fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (mine < 0) return false;
    error_code ec;
    sock_.assign(mine, ec);
    if (ec) {
        ::close(mine);
        return false;
    }
    return true;
}

void async_conn_impl::drop_socket() noexcept {
    error_code ignored;
    if (sock_.is_open()) sock_.close(ignored);
}

void async_conn_impl::close() noexcept {
    // Returned (or destroyed) while a request is in flight on the strand: libpq's connection
    // belongs to that request, so finish it there; it is broken from now on.
    if (busy_ && !on_strand()) {
        broken_ = true;
        try {
            asio::post(strand_, [weak = weak_from_this()] {
                if (auto self = weak.lock()) self->close();
            });
            return;
        } catch (...) {  // no memory for the hop: close here
        }
    }
    if (conn_ == nullptr) return;
    ++op_id_;
    timer_.cancel();
    PQfinish(conn_);  // sends Terminate; the server sees the end once our duplicate closes too
    drop_socket();
    conn_ = nullptr;
    broken_ = true;
}

bool async_conn_impl::is_broken() const noexcept {
    if (broken_ || conn_ == nullptr || PQstatus(conn_) != CONNECTION_OK) return true;
    if (busy_) return false;
    // Probed (or drained by a request) within the last millisecond: the answer holds. The
    // pool asks on every return, right after the lease's last request; a goodbye arriving in
    // that window is as late as one arriving just after a probe.
    const auto now = std::chrono::steady_clock::now();
    if (now - last_probe_ < probe_reuse) return false;
    // An idle connection receives nothing but the server's goodbye (or a rare notice): if the
    // socket is readable, read it now so a terminated backend is noticed before reuse.
    pollfd p{PQsocket(conn_), POLLIN, 0};
    if (::poll(&p, 1, 0) > 0) {
        auto* self = const_cast<async_conn_impl*>(this);
        if (PQconsumeInput(conn_) == 0 || PQstatus(conn_) != CONNECTION_OK) {
            self->broken_ = true;
            return true;
        }
    }
    last_probe_ = now;
    return false;
}

bool async_conn_impl::is_idle() const noexcept {
    return conn_ != nullptr && !broken_ && !busy_ && PQstatus(conn_) == CONNECTION_OK &&
           PQtransactionStatus(conn_) == PQTRANS_IDLE;
}

bool async_conn_impl::in_transaction() const noexcept {
    if (conn_ == nullptr || broken_ || busy_ || PQstatus(conn_) != CONNECTION_OK) return false;
    const auto t = PQtransactionStatus(conn_);
    return t == PQTRANS_INTRANS || t == PQTRANS_INERROR;
}

int async_conn_impl::backend_pid() const noexcept {
    return conn_ != nullptr ? PQbackendPID(conn_) : 0;
}

// ---- connect -------------------------------------------------------------------------------

void async_conn_impl::start_connect(const conn_params& params, steady_time deadline,
                                    connect_done done) {
    std::vector<const char*> keys;
    std::vector<const char*> values;
    for (const auto& [k, v] : params) {
        keys.push_back(k.c_str());
        values.push_back(v.c_str());
    }
    keys.push_back(nullptr);
    values.push_back(nullptr);
    connect_done_ = std::move(done);
    // Host names are resolved here, blocking: give IP addresses (or hostaddr) where it matters.
    conn_ = PQconnectStartParams(keys.data(), values.data(), 0);
    asio::dispatch(strand_, [self = shared_from_this(), deadline] {
        if (self->conn_ == nullptr)
            return self->connect_finish(make_error_code(errc::connect_failed), "out of memory");
        if (PQstatus(self->conn_) == CONNECTION_BAD)
            return self->connect_finish(make_error_code(errc::connect_failed),
                                        trimmed(PQerrorMessage(self->conn_)));
        auto id = ++self->op_id_;
        // PQconnectPoll never times out by itself.
        self->timer_.expires_at(deadline);
        self->timer_.async_wait([self, id](error_code ec) {
            if (ec || id != self->op_id_ || !self->connect_done_) return;
            self->connect_timed_out_ = true;
            if (self->waits_ > 0)
                self->sock_.cancel();
            else
                self->connect_finish(make_error_code(errc::connect_failed), "timed out");
        });
        // libpq: behave as if PQconnectPoll had asked to wait for writing.
        self->connect_step(PGRES_POLLING_WRITING);
    });
}

void async_conn_impl::connect_step(PostgresPollingStatusType status) {
    switch (status) {
        case PGRES_POLLING_OK:
            if (PQsetnonblocking(conn_, 1) != 0 || !assign_socket())
                return connect_finish(make_error_code(errc::connect_failed),
                                      trimmed(PQerrorMessage(conn_)));
            cancel_target_ = cancel_target_of(conn_);
            return connect_finish({}, {});
        case PGRES_POLLING_FAILED:
            return connect_finish(make_error_code(errc::connect_failed),
                                  trimmed(PQerrorMessage(conn_)));
        default: break;
    }
    // The socket may change between steps (another host, another address): wrap it afresh.
    if (!assign_socket()) return connect_finish(make_error_code(errc::connect_failed), "no socket");
    ++waits_;
    auto wait = status == PGRES_POLLING_READING ? asio::posix::stream_descriptor::wait_read
                                                : asio::posix::stream_descriptor::wait_write;
    sock_.async_wait(wait, [self = shared_from_this()](error_code ec) {
        --self->waits_;
        if (!self->connect_done_) return;
        if (self->connect_timed_out_)
            return self->connect_finish(make_error_code(errc::connect_failed), "timed out");
        if (ec) return self->connect_finish(make_error_code(errc::connect_failed), ec.message());
        self->connect_step(PQconnectPoll(self->conn_));
    });
}

void async_conn_impl::connect_finish(error_code ec, std::string message) {
    ++op_id_;
    timer_.cancel();
    auto done = std::move(connect_done_);
    connect_done_ = nullptr;
    if (ec) close();
    if (done) done(ec, std::move(message));
}

// ---- requests ------------------------------------------------------------------------------

bool async_conn_impl::begin(std::unique_ptr<operation> op, steady_time deadline, bool claimed) {
    error_code ec;
    if (!claimed) {
        ec = asio::error::in_progress;
    } else if (broken_ || conn_ == nullptr || PQstatus(conn_) != CONNECTION_OK) {
        ec = make_error_code(errc::connection_lost);
        busy_ = false;
    }
    if (ec) {
        // Fail this request only; an operation already running is untouched.
        auto err =
            make_error_data("08003", ec == asio::error::in_progress
                                         ? "another operation is in progress on this connection"
                                         : "the connection is closed or broken");
        switch (op->what) {
            case kind::query:
                complete(std::move(*op->query_handler), op->handler_executor, strand_, ec,
                         result(err));
                break;
            case kind::pipeline:
                complete(std::move(*op->pipeline_handler), op->handler_executor, strand_, ec,
                         std::vector<result>(op->expected, result(err)));
                break;
            case kind::ping: op->ping_handler(ec); break;
        }
        return false;
    }
    op_ = std::move(op);
    auto id = ++op_id_;
    if (deadline != no_deadline) {
        timer_.expires_at(deadline);
        timer_.async_wait([self = shared_from_this(), id](error_code e) {
            if (!e) self->on_timer(id);
        });
    }
    return true;
}

bool async_conn_impl::send(const query& q, const char* prepared) {
    // Without parameters and outside pipeline mode, the simple protocol: one Query message
    // instead of Parse/Bind/Describe/Execute/Sync, as pgbench's default and psycopg do. The
    // server's work per SELECT 1 falls by about a fifth (16 clients: 33.7k -> 37-38k req/s).
    // A text of several statements then runs as PQexec runs it: the last result, or the
    // first error.
    if (prepared == nullptr && q.params.empty() && PQpipelineStatus(conn_) == PQ_PIPELINE_OFF)
        return PQsendQuery(conn_, q.sql.c_str()) != 0;
    // On the stack for the usual handful of parameters: no allocation per statement.
    boost::container::small_vector<const char*, 8> values;
    boost::container::small_vector<int, 8> lengths;
    boost::container::small_vector<int, 8> formats;
    for (const auto& p : q.params) {
        values.push_back(p.value ? p.value->data() : nullptr);
        lengths.push_back(p.value ? static_cast<int>(p.value->size()) : 0);
        formats.push_back(p.binary ? 1 : 0);
    }
    const int n = static_cast<int>(q.params.size());
    if (prepared != nullptr)
        return PQsendQueryPrepared(conn_, prepared, n, values.data(), lengths.data(),
                                   formats.data(), 0) != 0;
    return PQsendQueryParams(conn_, q.sql.c_str(), n, nullptr, values.data(), lengths.data(),
                             formats.data(), 0) != 0;
}

bool async_conn_impl::send_pipeline() {
    operation& op = *op_;
    op.steps.clear();
    op.index = 0;
    op.syncs = 0;
    if (PQenterPipelineMode(conn_) == 0) return false;
    if (!cache_.enabled()) {
        for (const auto& q : op.queries)
            if (!send(q)) return false;
    } else {
        // Names first, so that what they evict is deallocated in this same round trip and the
        // server never holds more than the cache's capacity after a request.
        struct plan {
            const query* q;
            std::string name;  // empty: unnamed
            bool cached;
        };
        boost::container::small_vector<plan, 4> plans;
        for (const auto& q : op.queries) {
            if (!cacheable(q)) {
                plans.push_back({&q, {}, false});
            } else if (const std::string* name = cache_.find(q.sql)) {
                plans.push_back({&q, *name, true});
            } else {
                plans.push_back({&q, cache_.insert(q.sql), false});
            }
        }
        // Inside a transaction a failed DEALLOCATE would abort it: those wait for later.
        if (cache_.has_stale() && PQtransactionStatus(conn_) == PQTRANS_IDLE) {
            auto stale = cache_.take_stale();
            std::size_t sent = 0;
            for (auto& name : stale) {
                // Evicted by a later statement of this same request: not prepared yet.
                const bool new_here = std::any_of(plans.begin(), plans.end(), [&](const plan& p) {
                    return !p.cached && p.name == name;
                });
                if (new_here) {
                    cache_.add_stale(std::move(name));
                    continue;
                }
                if (!send(query{"DEALLOCATE \"" + name + "\""})) return false;
                op.steps.push_back({step::role::deallocate, 0, std::move(name), false});
                ++sent;
            }
            if (sent > 0) {
                if (PQpipelineSync(conn_) == 0) return false;
                ++op.syncs;
            }
        }
        for (std::size_t i = 0; i < plans.size(); ++i) {
            const plan& p = plans[i];
            if (p.name.empty()) {
                if (!send(*p.q)) return false;
                op.steps.push_back({step::role::statement, i, {}, false});
                continue;
            }
            if (!p.cached) {
                // Parse and run in the same round trip.
                if (PQsendPrepare(conn_, p.name.c_str(), p.q->sql.c_str(),
                                  static_cast<int>(p.q->params.size()), nullptr) == 0)
                    return false;
                ++prepared_total_;
                op.steps.push_back({step::role::prepare, i, p.name, false});
            }
            if (!send(*p.q, p.name.c_str())) return false;
            op.steps.push_back({step::role::statement, i, p.name, p.cached});
        }
    }
    if (PQpipelineSync(conn_) == 0) return false;
    ++op.syncs;
    return true;
}

bool async_conn_impl::retry_invalidated() {
    operation& op = *op_;
    if (op.steps.empty() || op.lost || op.cancel_sent) return false;
    bool first = true;  // the first failed statement of the request
    bool retry = false;
    for (const auto& s : op.steps) {
        if (s.what != step::role::statement || s.target >= op.results.size()) continue;
        const auto& r = op.results[s.target];
        if (!r || r->ok) continue;
        const bool gone = r->sqlstate == "26000";
        const bool changed =
            r->sqlstate == "0A000" &&
            r->message.find("cached plan must not change result type") != std::string::npos;
        if (s.cached && (gone || changed)) {
            cache_.forget(op.queries[s.target].sql, s.name, changed);
            // Nothing of the request ran before it, and its failure rolled back the implicit
            // transaction: running it again cannot apply anything twice.
            if (first && s.target == 0) retry = true;
        }
        first = false;
    }
    if (!retry || op.retried || PQtransactionStatus(conn_) != PQTRANS_IDLE) return false;
    op.retried = true;
    op.pipelined = true;
    op.results.clear();
    if (!send_pipeline()) {
        lose(trimmed(PQerrorMessage(conn_)));
        return true;
    }
    flush_step();
    return true;
}

void async_conn_impl::note_command(const PGresult* r) noexcept {
    if (cache_.size() == 0 && !cache_.has_stale()) return;
    const char* status = PQcmdStatus(const_cast<PGresult*>(r));
    if (std::strcmp(status, "DISCARD ALL") == 0 || std::strcmp(status, "DEALLOCATE ALL") == 0)
        cache_.clear();
}

void async_conn_impl::start_query(
    query q, asio::any_io_executor ex,
    asio::any_completion_handler<async_connection::query_signature> h) {
    // Claimed here, before the hop to the strand: a lease returned right after starting an
    // operation is then seen busy and is not handed to the next borrower.
    const bool claimed = !busy_.exchange(true);
    asio::dispatch(strand_, [self = shared_from_this(), q = std::move(q), ex = std::move(ex),
                             h = std::move(h), claimed]() mutable {
        auto op = self->take_operation();
        op->what = kind::query;
        op->query_handler.emplace(std::move(h));
        op->handler_executor = std::move(ex);
        auto deadline = self->query_timeout_.count() > 0
                            ? std::chrono::steady_clock::now() + self->query_timeout_
                            : no_deadline;
        if (self->cache_.enabled() && cacheable(q)) {
            const std::string* name = self->cache_.find(q.sql);
            // A hit with nothing to deallocate: Bind/Execute/Sync outside pipeline mode, whose
            // extra sync result would cost libpq two allocations per request.
            const bool direct =
                name != nullptr &&
                !(self->cache_.has_stale() && PQtransactionStatus(self->conn_) == PQTRANS_IDLE);
            op->queries.push_back(std::move(q));
            if (direct) op->steps.push_back({step::role::statement, 0, *name, true});
            op->pipelined = !direct;
            if (!self->begin(std::move(op), deadline, claimed)) return;
            if (direct) {
                const operation& o = *self->op_;
                if (!self->send(o.queries[0], o.steps[0].name.c_str()))
                    return self->lose(trimmed(PQerrorMessage(self->conn_)));
            } else if (!self->send_pipeline()) {
                return self->lose(trimmed(PQerrorMessage(self->conn_)));
            }
            return self->flush_step();
        }
        if (!self->begin(std::move(op), deadline, claimed)) return;
        if (!self->send(q)) {
            if (PQstatus(self->conn_) != CONNECTION_OK)
                return self->lose(trimmed(PQerrorMessage(self->conn_)));
            self->op_->results.push_back(make_error_data("", trimmed(PQerrorMessage(self->conn_))));
            return self->finish();
        }
        self->flush_step();
    });
}

void async_conn_impl::start_pipeline(
    std::vector<query> qs, asio::any_io_executor ex,
    asio::any_completion_handler<async_connection::pipeline_signature> h) {
    const bool claimed = !busy_.exchange(true);
    asio::dispatch(strand_, [self = shared_from_this(), qs = std::move(qs), ex = std::move(ex),
                             h = std::move(h), claimed]() mutable {
        auto op = self->take_operation();
        op->what = kind::pipeline;
        op->pipelined = true;
        op->expected = qs.size();
        op->queries = std::move(qs);
        op->pipeline_handler.emplace(std::move(h));
        op->handler_executor = std::move(ex);
        auto deadline = self->query_timeout_.count() > 0
                            ? std::chrono::steady_clock::now() + self->query_timeout_
                            : no_deadline;
        if (!self->begin(std::move(op), deadline, claimed)) return;
        if (self->op_->queries.empty()) return self->finish();
        if (!self->send_pipeline()) return self->lose(trimmed(PQerrorMessage(self->conn_)));
        self->flush_step();
    });
}

void async_conn_impl::start_ping(steady_time deadline, std::function<void(error_code)> done) {
    // An empty query: one round trip, nothing parsed or planned on the server.
    start_command("", deadline, std::move(done));
}

void async_conn_impl::start_command(std::string sql, steady_time deadline,
                                    std::function<void(error_code)> done) {
    const bool claimed = !busy_.exchange(true);
    asio::dispatch(strand_, [self = shared_from_this(), sql = std::move(sql), deadline,
                             done = std::move(done), claimed]() mutable {
        auto op = self->take_operation();
        op->what = kind::ping;
        op->ping_handler = std::move(done);
        if (!self->begin(std::move(op), deadline, claimed)) return;
        if (!self->send(query{std::move(sql)}))
            return self->lose(trimmed(PQerrorMessage(self->conn_)));
        self->flush_step();
    });
}

void async_conn_impl::flush_step() {
    int r = PQflush(conn_);
    if (r < 0) return lose(trimmed(PQerrorMessage(conn_)));
    if (r == 0) {
        // The answer cannot be there yet unless libpq already holds it (read while flushing):
        // wait for readability instead of a recv() that would only say EAGAIN.
        if (PQisBusy(conn_) == 0) return read_step();
        return wait_readable();
    }
    // Output is blocked. Wait for read *or* write: a server stuck sending results we do not read
    // would never drain our output (a large pipeline deadlocks on a write-only wait).
    waits_ = 2;
    auto on_ready = [self = shared_from_this()](error_code) {
        if (--self->waits_ == 1) {
            self->sock_.cancel();  // the other wait; continue once it is back
            return;
        }
        if (self->op_->lost) return self->finish();
        if (PQconsumeInput(self->conn_) == 0)
            return self->lose(trimmed(PQerrorMessage(self->conn_)));
        self->flush_step();
    };
    sock_.async_wait(asio::posix::stream_descriptor::wait_write, on_ready);
    sock_.async_wait(asio::posix::stream_descriptor::wait_read, on_ready);
}

void async_conn_impl::read_step() {
    if (PQconsumeInput(conn_) == 0) return lose(trimmed(PQerrorMessage(conn_)));
    for (;;) {
        if (copy_out_) {
            // The data of a refused COPY TO STDOUT: read and dropped, without spinning.
            char* row = nullptr;
            int n = 0;
            while ((n = PQgetCopyData(conn_, &row, 1)) > 0) PQfreemem(row);
            if (n == 0) return wait_readable();
            if (n == -2) return lose(trimmed(PQerrorMessage(conn_)));
            copy_out_ = false;  // over: the statement's own result follows
        }
        if (PQisBusy(conn_) != 0) break;
        PGresult* r = PQgetResult(conn_);
        if (r != nullptr) {
            const auto status = PQresultStatus(r);
            if (status == PGRES_COPY_OUT || status == PGRES_COPY_IN || status == PGRES_COPY_BOTH) {
                PQclear(r);
                if (refuse_copy(status)) continue;
                return;
            }
        }
        if (op_->pipelined) {
            const std::size_t commands =
                op_->steps.empty() ? op_->queries.size() : op_->steps.size();
            if (r == nullptr) {
                if (op_->index < commands) {
                    ++op_->index;
                    continue;
                }
                break;
            }
            if (PQresultStatus(r) == PGRES_PIPELINE_SYNC) {
                PQclear(r);
                if (--op_->syncs > 0) continue;  // the deallocations' own sync
                PQexitPipelineMode(conn_);
                if (retry_invalidated()) return;
                return finish();
            }
            store(r);
        } else {
            if (r == nullptr) {
                if (retry_invalidated()) return;
                return finish();
            }
            store(r);
        }
    }
    if (PQstatus(conn_) != CONNECTION_OK) return lose(trimmed(PQerrorMessage(conn_)));
    wait_readable();
}

bool async_conn_impl::refuse_copy(ExecStatusType status) {
    if (status == PGRES_COPY_BOTH) {
        lose("COPY BOTH (replication) is not supported by async_query / async_pipeline");
        return false;
    }
    const bool out = status == PGRES_COPY_OUT;
    store(make_error_data("0A000", std::string(out ? "COPY ... TO STDOUT" : "COPY ... FROM STDIN") +
                                       " is not supported by async_query / async_pipeline: "
                                       "use a sync lease (pqxx::stream_from / stream_to)"));
    if (out) {
        copy_out_ = true;
        return true;
    }
    // End the COPY with an error: the server aborts the statement and answers as usual.
    if (PQputCopyEnd(conn_, "refused by connmgr: COPY FROM STDIN through async_query") < 0) {
        lose(trimmed(PQerrorMessage(conn_)));
        return false;
    }
    flush_step();
    return false;
}

void async_conn_impl::wait_readable() {
    waits_ = 1;
    sock_.async_wait(asio::posix::stream_descriptor::wait_read,
                     [self = shared_from_this()](error_code ec) {
                         self->waits_ = 0;
                         if (self->op_->lost) return self->finish();
                         if (ec) return self->lose(ec.message());
                         self->read_step();
                     });
}

void async_conn_impl::store(PGresult* r) {
    if (r != nullptr) note_command(r);
    store(make_result_data(r));
}

void async_conn_impl::store(std::shared_ptr<result_data> d) {
    if (op_->pipelined) {
        std::size_t target = op_->index;
        if (!op_->steps.empty()) {
            if (op_->index >= op_->steps.size()) return;
            const step& s = op_->steps[op_->index];
            if (s.what == step::role::deallocate) return;  // a failure here changes nothing
            if (s.what == step::role::prepare) {
                if (d->ok) return;
                // Not prepared (a syntax error, an aborted pipeline): its error is the
                // statement's, and the name holds nothing.
                cache_.forget(op_->queries[s.target].sql, s.name, false);
            }
            target = s.target;
        }
        if (op_->results.size() <= target) op_->results.resize(target + 1);
        auto& slot = op_->results[target];
        if (!slot || slot->ok) slot = std::move(d);  // keep the first error
    } else {
        op_->results.push_back(std::move(d));
    }
}

void async_conn_impl::on_timer(std::uint64_t id) {
    if (id != op_id_ || !busy_) return;
    if (op_->what == kind::ping) return lose("no answer to the validation query in time");
    if (op_->cancel_sent)
        return lose("no answer within " + std::to_string(cancel_grace.count()) +
                    "ms of cancelling a statement past query_timeout (" +
                    std::to_string(query_timeout_.count()) + "ms)");
    op_->cancel_sent = true;
    // A non-blocking cancel with its own deadline: a frozen server cannot hold this thread.
    cancel_in_flight_ = true;
    const auto until = std::chrono::steady_clock::now() + cancel_grace;
    async_cancel(strand_, cancel_target_, until,
                 [self = shared_from_this()](bool) { self->cancel_finished(); });
    timer_.expires_at(until);
    timer_.async_wait([self = shared_from_this(), id](error_code e) {
        if (!e) self->on_timer(id);
    });
}

void async_conn_impl::lose(std::string reason) {
    broken_ = true;
    op_->lost = true;
    op_->lost_reason = std::move(reason);
    if (waits_ > 0)
        sock_.cancel();  // the wait handler finishes
    else
        finish();
}

void async_conn_impl::cancel_finished() {
    cancel_in_flight_ = false;
    if (std::exchange(finish_deferred_, false)) finish();
}

std::unique_ptr<async_conn_impl::operation> async_conn_impl::take_operation() {
    if (spare_) return std::move(spare_);
    return std::make_unique<operation>();
}

void async_conn_impl::recycle(std::unique_ptr<operation> op) noexcept {
    if (spare_) return;  // a request started from inside the completion took a fresh one
    // Field by field, keeping the vectors' capacity (and never assigning a handler).
    op->what = kind::query;
    op->pipelined = false;
    op->retried = false;
    op->expected = 1;
    op->index = 0;
    op->syncs = 0;
    op->queries.clear();
    op->steps.clear();
    op->results.clear();
    op->query_handler.reset();
    op->pipeline_handler.reset();
    op->ping_handler = nullptr;
    op->handler_executor = {};
    op->cancel_sent = false;
    op->lost = false;
    op->lost_reason.clear();
    spare_ = std::move(op);
}

void async_conn_impl::finish() {
    if (cancel_in_flight_) {
        finish_deferred_ = true;
        return;
    }
    ++op_id_;
    timer_.cancel();
    copy_out_ = false;
    // The request read everything the server had sent: as good as a probe (written before
    // busy_ is released, so a returning thread that sees it idle sees this too).
    last_probe_ = std::chrono::steady_clock::now();
    busy_ = false;
    std::unique_ptr<operation> done = std::move(op_);
    operation& op = *done;
    error_code ec;
    if (op.lost || conn_ == nullptr || PQstatus(conn_) != CONNECTION_OK) {
        broken_ = true;
        ec = make_error_code(op.cancel_sent ? errc::query_timeout : errc::connection_lost);
        auto why = op.lost_reason.empty() && conn_ != nullptr ? trimmed(PQerrorMessage(conn_))
                                                              : op.lost_reason;
        if (!server_.empty() && !op.cancel_sent)
            why += " (server " + server_ + "; its connections are being replaced)";
        auto lost = make_error_data(
            "08006",
            (op.cancel_sent ? "query_timeout: connection closed: " : "connection lost: ") + why);
        op.results.resize(std::max<std::size_t>(op.expected, 1));
        for (auto& r : op.results)
            if (!r || r->ok) r = lost;
    } else {
        for (const auto& r : op.results)
            if (r && !r->ok) ec = make_error_code(errc::query_failed);
        // A read-only error from a server that now reports itself of the wrong kind for the
        // pool's target: a switchover (the user's own BEGIN READ ONLY does not change it).
        if (ec && !server_.empty()) {
            const auto state = session_state(conn_);
            if (!fits(goal_, state))
                for (const auto& r : op.results)
                    if (r && !r->ok && r->sqlstate == "25006")
                        r->message += " (server " + server_ + " now reports itself " +
                                      to_string(state) + "; its connections are being replaced)";
        }
        // Cancelled past query_timeout: the server answered the cancel in time (57014) and the
        // connection stays usable. A statement that finished just before the cancel landed
        // succeeded and says so.
        if (ec && op.cancel_sent) {
            ec = make_error_code(errc::query_timeout);
            auto timed_out = make_error_data(
                "57014", "query_timeout (" + std::to_string(query_timeout_.count()) +
                             "ms) exceeded: the statement was cancelled");
            for (auto& r : op.results)
                if (r && !r->ok && r->sqlstate == "57014") r = timed_out;
        }
    }
    switch (op.what) {
        case kind::query: {
            std::shared_ptr<result_data> pick;
            for (const auto& r : op.results)
                if (!pick || (pick->ok && r)) pick = r;  // the first error, else the last result
            complete(std::move(*op.query_handler), op.handler_executor, strand_, ec,
                     pick ? result(pick) : result());
            break;
        }
        case kind::pipeline: {
            std::vector<result> out;
            out.reserve(op.expected);
            op.results.resize(op.expected);
            for (auto& r : op.results)
                out.emplace_back(r ? result(r) : result(make_error_data("", "no result")));
            complete(std::move(*op.pipeline_handler), op.handler_executor, strand_, ec,
                     std::move(out));
            break;
        }
        case kind::ping: op.ping_handler(ec); break;
    }
    recycle(std::move(done));
}

}  // namespace detail

async_connection::async_connection(std::shared_ptr<detail::async_conn_impl> impl) noexcept
    : impl_(std::move(impl)) {}

async_connection::~async_connection() {
    if (impl_) impl_->close();
}

bool async_connection::is_broken() const noexcept { return impl_->is_broken(); }
bool async_connection::is_idle() const noexcept { return impl_->is_idle(); }
int async_connection::backend_pid() const noexcept { return impl_->backend_pid(); }
void async_connection::mark_broken() noexcept { impl_->mark_broken(); }
std::size_t async_connection::cached_statements() const noexcept {
    return impl_->cached_statements();
}
std::uint64_t async_connection::statements_prepared() const noexcept {
    return impl_->statements_prepared();
}

void async_connection::start_query(query q, asio::any_io_executor ex,
                                   asio::any_completion_handler<query_signature> h) {
    impl_->start_query(std::move(q), std::move(ex), std::move(h));
}

void async_connection::start_pipeline(std::vector<query> qs, asio::any_io_executor ex,
                                      asio::any_completion_handler<pipeline_signature> h) {
    impl_->start_pipeline(std::move(qs), std::move(ex), std::move(h));
}

}  // namespace connmgr::pg
