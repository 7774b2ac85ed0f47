#pragma once
// The state of one non-blocking libpq connection on Asio (internal).

#include <connmgr/driver.hpp>
#include <connmgr/pg/async_connection.hpp>
#include <connmgr/pg/sync_driver.hpp>

#include "cancel.hpp"
#include "hosts.hpp"
#include "result_data.hpp"
#include "statement_cache.hpp"

#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>

#include <libpq-fe.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace connmgr::pg::detail {

class async_conn_impl : public std::enable_shared_from_this<async_conn_impl> {
public:
    using connect_done = std::function<void(boost::system::error_code, std::string message)>;

    /// `statement_cache`: how many prepared statements to keep (0 = none, unnamed statements).
    async_conn_impl(boost::asio::any_io_executor ex, std::chrono::milliseconds query_timeout,
                    std::size_t statement_cache);
    ~async_conn_impl();
    async_conn_impl(const async_conn_impl&) = delete;
    async_conn_impl& operator=(const async_conn_impl&) = delete;

    void start_connect(const conn_params& params, steady_time deadline, connect_done done);
    /// `ex`: the handler's executor when the caller knew it (see async_connection), else empty.
    void start_query(query q, boost::asio::any_io_executor ex,
                     boost::asio::any_completion_handler<async_connection::query_signature> h);
    void start_pipeline(
        std::vector<query> qs, boost::asio::any_io_executor ex,
        boost::asio::any_completion_handler<async_connection::pipeline_signature> h);
    void start_ping(steady_time deadline, std::function<void(boost::system::error_code)> done);
    /// One statement whose result only matters as success or failure (validation, restore);
    /// no cancel on its deadline: the connection is declared lost.
    void start_command(std::string sql, steady_time deadline,
                       std::function<void(boost::system::error_code)> done);
    /// A transaction is open or failed (on a connection that is not busy).
    bool in_transaction() const noexcept;

    bool is_broken() const noexcept;
    bool is_idle() const noexcept;
    /// A connection of a multi-host database (DESIGN §12): its server and its pool's target,
    /// so that an error that signals a failover names the server.
    void set_server(std::string name, target goal) {
        server_ = std::move(name);
        goal_ = goal;
    }
    /// The libpq connection (null once closed), for parameter statuses and host.
    const PGconn* raw() const noexcept { return conn_; }
    int backend_pid() const noexcept;
    /// Statements prepared on the server and cached now / prepared in total (between
    /// operations only: the strand changes them).
    std::size_t cached_statements() const noexcept { return cache_.size(); }
    std::uint64_t statements_prepared() const noexcept { return prepared_total_; }
    void mark_broken() noexcept { broken_ = true; }
    /// PQfinish, then closes Asio's duplicate of the socket. Idempotent.
    void close() noexcept;

private:
    enum class kind { query, pipeline, ping };
    // What one command sent in pipeline mode is for: the caller's statement, or the cache's own
    // Parse / DEALLOCATE around it.
    struct step {
        enum class role : std::uint8_t { statement, prepare, deallocate };
        role what{role::statement};
        std::size_t target{0};  // the caller's statement it belongs to
        std::string name;       // the prepared statement it runs, prepares or deallocates
        bool cached{false};     // statement: run under a name prepared by an earlier request
    };
    struct operation {
        kind what{kind::query};
        bool pipelined{false};       // sent in pipeline mode (async_pipeline, or the cache's steps)
        bool retried{false};         // re-sent once after the server invalidated a statement
        std::size_t expected{1};     // statements whose results are awaited
        std::size_t index{0};        // pipeline: the command whose results come now
        int syncs{0};                // pipeline: sync points still to come
        std::vector<query> queries;  // query / pipeline: kept for a re-send
        std::vector<step> steps;     // empty: one command per statement, in order
        std::vector<std::shared_ptr<result_data>> results;
        // Boost 1.81's any_completion_handler move-assignment re-wraps the handler endlessly:
        // only ever move-construct these (emplace), never assign.
        std::optional<boost::asio::any_completion_handler<async_connection::query_signature>>
            query_handler;
        std::optional<boost::asio::any_completion_handler<async_connection::pipeline_signature>>
            pipeline_handler;
        std::function<void(boost::system::error_code)> ping_handler;
        boost::asio::any_io_executor handler_executor;  // empty: ask the handler
        bool cancel_sent{false};  // query_timeout passed: a cancel request went out
        bool lost{false};
        std::string lost_reason;
    };

    // connect
    void connect_step(PostgresPollingStatusType status);
    void connect_finish(boost::system::error_code ec, std::string message);

    // requests
    bool begin(std::unique_ptr<operation> op, steady_time deadline, bool claimed);
    /// One statement; by `prepared` name when given, else unnamed with its SQL text (the simple
    /// protocol when it has no parameters and no pipeline is open).
    bool send(const query& q, const char* prepared = nullptr);
    /// Every statement of op_ in pipeline mode, through the statement cache when it is on,
    /// after the deallocation of evicted statements (their own sync: a failure there touches
    /// nothing else).
    bool send_pipeline();
    /// A cached statement the server no longer has, or whose result type changed: forgotten;
    /// re-sent once when it was the first statement and no transaction is open. True: re-sent.
    bool retry_invalidated();
    /// DISCARD ALL / DEALLOCATE ALL ran: the server holds no prepared statement any more.
    void note_command(const PGresult* r) noexcept;
    void flush_step();
    void read_step();
    void wait_readable();
    void store(PGresult* r);
    void store(std::shared_ptr<result_data> d);
    // A COPY reached through async_query: recorded as an error and ended (FROM STDIN) or its
    // data drained (TO STDOUT). True when reading goes on at once.
    bool refuse_copy(ExecStatusType status);
    void on_timer(std::uint64_t id);
    void lose(std::string reason);
    void cancel_finished();
    void finish();
    /// The operation object of a request: the one the last request left (its vectors keep
    /// their capacity), so a steady stream of requests allocates none.
    std::unique_ptr<operation> take_operation();
    void recycle(std::unique_ptr<operation> op) noexcept;
    bool assign_socket() noexcept;
    void drop_socket() noexcept;

    /// Serializes the connection's work: the executor itself on one of the manager's threads
    /// (one thread runs that context: detail::runs_on_one_thread), else a strand, of the
    /// concrete io_context executor when it is one: Boost 1.81's strand over an
    /// any_io_executor heap-allocates the answer to its "blocking?" query on every hop
    /// (callgrind: 4 allocations per request).
    boost::asio::any_io_executor strand_;
    bool on_strand() const noexcept;
    boost::asio::posix::stream_descriptor sock_;
    boost::asio::steady_timer timer_;
    std::chrono::milliseconds query_timeout_;
    PGconn* conn_{nullptr};
    std::string server_;  // "" unless multi-host
    target goal_{target::any};
    cancel_target cancel_target_;
    std::atomic<bool> broken_{false};   // also set by threads that return or mark the lease
    std::atomic<bool> busy_{false};     // claimed by the thread that starts an operation
    bool copy_out_{false};              // draining the rows of a refused COPY TO STDOUT
    std::uint64_t op_id_{0};            // timers of finished operations are ignored
    int waits_{0};                      // readiness waits in flight (flush waits on read and write)
    std::unique_ptr<operation> op_;     // the request in flight
    std::unique_ptr<operation> spare_;  // the last finished one, for the next request
    // is_broken(): when the socket was last found quiet (a probe, or a request that drained
    // it), and how long that answer holds.
    static constexpr std::chrono::milliseconds probe_reuse{1};
    mutable std::chrono::steady_clock::time_point last_probe_{};
    statement_cache cache_;
    std::uint64_t prepared_total_{0};
    connect_done connect_done_;
    bool connect_timed_out_{false};
    // A cancel request is still on its way (bounded by its own deadline). The operation
    // completes only after it is done: closing the connection while its cancel is in flight
    // crashes PgBouncer 1.18 (seen here).
    bool cancel_in_flight_{false};
    bool finish_deferred_{false};
};

}  // namespace connmgr::pg::detail
