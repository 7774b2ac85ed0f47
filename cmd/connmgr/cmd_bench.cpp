// connmgr bench NAME [--clients N] [--requests N | --duration 10s] [--flavour sync|async]
//                    [--command "SELECT 1"] [--pipeline N] [--graph G] [--no-warmup]
//                    [--serve ADDR] [--json]
//
// Load through the pools of one database: sync clients are threads, async clients are
// coroutines on the manager's executor. Reports throughput, latency percentiles, errors by
// name and the pool's peaks and waits (DESIGN §8). --serve exposes the run's own pools on the
// manager's telemetry endpoint (/metrics, /health, /stats) while it lasts.
#include "bench_progress.hpp"
#include "bench_report.hpp"
#include "bench_requests.hpp"
#include "command.hpp"

#include <connmgr/error.hpp>
#include <connmgr/manager.hpp>
#include <connmgr/manager_stats.hpp>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include <algorithm>
#include <charconv>
#include <future>
#include <iostream>
#include <optional>
#include <sstream>
#include <thread>

namespace connmgr::cli {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;

constexpr std::string_view synopsis =
    "NAME [--clients N] [--requests N | --duration 10s] [--flavour sync|async] "
    "[--command \"SELECT 1\"] [--pipeline N] [--graph G] [--no-warmup] [--serve ADDR] [--json]";

struct bench_args {
    std::string database;
    std::size_t clients{1};
    std::uint64_t requests{0};  // per client; 0 = run for `duration`
    std::chrono::nanoseconds duration{10s};
    flavour kind{flavour::sync};
    std::optional<std::string> command;
    std::optional<std::string> graph;  // falkordb only
    std::size_t pipeline{1};
    bool warmup{true};
    bool json{false};
    std::optional<std::string> serve;  // telemetry listen address
};

std::uint64_t parse_count(std::string_view option, const std::string& text, std::uint64_t min) {
    std::uint64_t v = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (ec != std::errc{} || end != text.data() + text.size() || v < min)
        throw usage_error(std::string(option) + " expects a whole number >= " +
                          std::to_string(min) + ", got '" + text + "'");
    return v;
}

// "250ms", "10s", "2m", "1h" or a bare number of seconds ("2.5").
std::chrono::nanoseconds parse_duration(const std::string& text) {
    double value = 0;
    const char* first = text.data();
    const char* last = text.data() + text.size();
    const auto [end, ec] = std::from_chars(first, last, value);
    const std::string_view unit(end, static_cast<std::size_t>(last - end));
    double scale = 0;
    if (unit.empty() || unit == "s")
        scale = 1;
    else if (unit == "ms")
        scale = 1e-3;
    else if (unit == "m")
        scale = 60;
    else if (unit == "h")
        scale = 3600;
    if (ec != std::errc{} || scale == 0 || !(value > 0))
        throw usage_error("--duration expects a positive duration such as 10s or 500ms, got '" +
                          text + "'");
    return std::chrono::nanoseconds{static_cast<std::int64_t>(value * scale * 1e9)};
}

bench_args parse(const std::vector<std::string>& args) {
    bench_args out;
    bool requests_given = false;
    bool duration_given = false;
    for (std::size_t i = 0; i < args.size(); ++i) {
        std::string arg = args[i];
        std::optional<std::string> inline_value;
        if (const auto eq = arg.find('='); arg.rfind("--", 0) == 0 && eq != std::string::npos) {
            inline_value = arg.substr(eq + 1);
            arg.resize(eq);
        }
        auto value = [&]() -> std::string {
            if (inline_value) return *inline_value;
            if (i + 1 >= args.size()) throw usage_error(arg + " needs a value");
            return args[++i];
        };
        if (is_help(arg) && !inline_value) {
            throw help_requested();
        } else if (arg == "--clients") {
            out.clients = static_cast<std::size_t>(parse_count(arg, value(), 1));
        } else if (arg == "--requests") {
            out.requests = parse_count(arg, value(), 1);
            requests_given = true;
        } else if (arg == "--duration") {
            out.duration = parse_duration(value());
            duration_given = true;
        } else if (arg == "--flavour" || arg == "--flavor") {
            const std::string f = value();
            if (f == "sync")
                out.kind = flavour::sync;
            else if (f == "async")
                out.kind = flavour::async;
            else
                throw usage_error("--flavour must be sync or async, got '" + f + "'");
        } else if (arg == "--command") {
            out.command = value();
            if (out.command->find_first_not_of(" \t") == std::string::npos)
                throw usage_error("--command must not be empty");
        } else if (arg == "--graph") {
            out.graph = value();
            if (out.graph->empty()) throw usage_error("--graph must not be empty");
        } else if (arg == "--serve") {
            out.serve = value();
            try {
                parse_listen_address(*out.serve);
            } catch (const config_error& e) {
                throw usage_error(std::string("--serve: ") + e.what());
            }
        } else if (arg == "--pipeline") {
            out.pipeline = static_cast<std::size_t>(parse_count(arg, value(), 1));
        } else if (arg == "--no-warmup" && !inline_value) {
            out.warmup = false;
        } else if (arg == "--json" && !inline_value) {
            out.json = true;
        } else if (!arg.empty() && arg[0] == '-') {
            throw usage_error("unknown option '" + args[i] + "'");
        } else if (out.database.empty()) {
            out.database = arg;
        } else {
            throw usage_error("one database NAME expected, got '" + out.database + "' and '" + arg +
                              "'");
        }
    }
    if (out.database.empty()) throw usage_error("missing database NAME");
    if (requests_given && duration_given)
        throw usage_error("--requests and --duration exclude each other");
    return out;
}

std::vector<std::string> split_words(const std::string& text) {
    std::vector<std::string> words;
    std::istringstream in(text);
    for (std::string w; in >> w;) words.push_back(std::move(w));
    return words;
}

/// Where async clients run: spread over the executors of the database's async pool (the
/// manager's I/O threads), else on an io_context of our own.
class async_context {
public:
    explicit async_context(std::vector<asio::any_io_executor> pool_executors)
        : executors_(std::move(pool_executors)) {
        if (!executors_.empty()) return;
        own_.emplace();
        guard_.emplace(own_->get_executor());
        thread_ = std::jthread([this] { own_->run(); });
        executors_.push_back(own_->get_executor());
    }
    ~async_context() {
        if (guard_) guard_->reset();
    }
    const std::vector<asio::any_io_executor>& executors() const { return executors_; }

private:
    std::optional<asio::io_context> own_;
    std::optional<asio::executor_work_guard<asio::io_context::executor_type>> guard_;
    std::jthread thread_;
    std::vector<asio::any_io_executor> executors_;
};

/// The statistics of NAME's pool of one flavour, if that pool is open: from the client's
/// pools when it exposes them, else from the manager's statistics.
std::optional<pool_stats> find_pool(manager& m, const bench::request_factories& factories,
                                    const std::string& database, flavour f) {
    if (factories.pool_stats_of) return factories.pool_stats_of(f);
    manager_stats s = m.stats();
    for (auto& p : s.pools) {
        if (p.flavour != f) continue;
        if (std::find(p.databases.begin(), p.databases.end(), database) != p.databases.end())
            return std::move(p);
    }
    return std::nullopt;
}

/// The passwords of `url`. The library's messages never contain one; they are scrubbed from
/// what bench prints all the same, in case a server or a driver quotes one back.
std::vector<std::string> secrets_of(const db_url& url) {
    std::vector<std::string> out;
    if (url.kind() == backend::postgres) {
        for (const auto& [key, value] : url.pg_params())
            if (key == "password" && !value.empty()) out.push_back(value);
    } else if (!url.redis().password.empty()) {
        out.push_back(url.redis().password);
    }
    return out;
}

std::string scrub(std::string text, const std::vector<std::string>& secrets) {
    for (const auto& secret : secrets)
        for (auto at = text.find(secret); at != std::string::npos; at = text.find(secret, at + 3))
            text.replace(at, secret.size(), "***");
    return text;
}

/// Why one connect to `database` outside its pools (what `connmgr check` does) fails now;
/// "" when it succeeds. Bounded by the database's connect_timeout.
std::string probe_error(manager& m, const std::string& database) {
    try {
        const health h = m.health(std::vector<std::string>{database});
        if (!h.databases.empty() && !h.databases.front().healthy) {
            std::string why = h.databases.front().error;
            while (!why.empty() && (why.back() == '\n' || why.back() == ' ')) why.pop_back();
            for (auto at = why.find('\n'); at != std::string::npos; at = why.find('\n', at + 1))
                why.insert(at + 1, "    ");
            return why.empty() ? "unhealthy" : why;
        }
    } catch (const std::exception& e) {
        return error_text(e);
    }
    return {};
}

/// When the warm-up has waited this long, bench says on stderr what it waits for (then
/// again every warmup_note_every).
constexpr std::chrono::seconds warmup_note_after{2};
constexpr std::chrono::seconds warmup_note_every{10};

bench::wait_totals waits_of(const pool_stats& p) {
    return {.sum = p.wait_seconds_sum,
            .max = p.wait_seconds_max,
            .bounds = p.wait_buckets_le,
            .cumulative = p.wait_buckets};
}

int run_bench(const global_options& globals, const std::vector<std::string>& raw) {
    const bench_args args = parse(raw);
    loaded_config loaded = load(globals);
    const auto db = loaded.config.databases.find(args.database);
    if (db == loaded.config.databases.end()) {
        std::string known;
        for (const auto& [name, _] : loaded.config.databases)
            known += (known.empty() ? "" : ", ") + name;
        throw config_error("unknown database '" + args.database +
                           "' (configured: " + (known.empty() ? "none" : known) + ")");
    }
    const backend kind = db->second.kind();
    if (args.graph && kind != backend::falkordb)
        throw usage_error("--graph is for falkordb databases; '" + args.database + "' is " +
                          std::string(to_string(kind)));
    const pool_options& options =
        args.kind == flavour::sync ? db->second.sync_pool : db->second.async_pool;

    manager& m = manager::instance();
    m.configure(loaded.config);
    if (args.serve) {
        const std::string bound = m.serve_telemetry(*args.serve);
        std::cerr << "connmgr bench: serving http://" << bound << " (/metrics /health /stats)"
                  << std::endl;
    }

    bench::bench_report report;
    report.database = args.database;
    report.backend = std::string(to_string(kind));
    report.flavour = to_string(args.kind);
    report.clients = args.clients;
    report.pipeline = args.pipeline;
    if (args.requests > 0) report.requests_per_client = args.requests;

    bench::request_factories factories;
    if (kind == backend::postgres) {
        report.command = args.command.value_or("SELECT 1");
        factories = bench::postgres_requests(m, args.database, report.command);
    } else if (kind == backend::falkordb) {
        // --command is Cypher, sent with GRAPH.QUERY on graph --graph (DESIGN §8).
        if (args.kind == flavour::async && args.pipeline > 1)
            throw usage_error("--pipeline is for --flavour sync on a falkordb database");
        report.command = args.command.value_or("RETURN 1");
        report.graph = args.graph.value_or("connmgr_bench");
        factories = bench::graph_requests(m, args.database, report.graph, report.command);
    } else {
        report.command = args.command.value_or("PING");
        factories = bench::redis_requests(m, args.database, split_words(report.command));
    }

    std::optional<async_context> async;
    if (args.kind == flavour::async)
        async.emplace(factories.pool_executors ? factories.pool_executors()
                                               : std::vector<asio::any_io_executor>{});
    report.threads = async ? async->executors().size() : args.clients;
    auto run = [&](const bench::run_plan& plan, const bench::run_observer& observe) {
        return args.kind == flavour::sync
                   ? bench::run_sync(plan, factories.sync, bench::classify_failure, observe)
                   : bench::run_async(plan, async->executors(), factories.async,
                                      bench::classify_failure, observe);
    };

    // Warm-up: open as many connections as the run will use (pgbench, too, connects before it
    // starts its clock) by holding that many leases at once. Its waits (for those connects)
    // are not the run's: the report counts the waits after it.
    bench::wait_totals waits_before;
    const std::vector<std::string> secrets = secrets_of(db->second.url);
    if (args.warmup) {
        const std::size_t k =
            std::min<std::size_t>(args.clients, std::max<std::size_t>(options.max_size, 1));
        auto warm = std::async(std::launch::async, [&] {
            if (args.kind == flavour::sync)
                factories.warm_sync(k);
            else
                factories.warm_async(k, async->executors().front());
        });
        // A warm-up that lasts waits for connects that fail or hang: say so, with the
        // server's words (a run against a closed port was silent for 20 s).
        auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(warmup_note_after);
        while (warm.wait_for(wait) != std::future_status::ready) {
            std::string note = "waiting for a connection to " + args.database + " (" +
                               to_string(args.kind) + " pool";
            if (auto p = find_pool(m, factories, args.database, args.kind))
                note += ": " + std::to_string(p->open) + " of " + std::to_string(k) +
                        " connections open, " + std::to_string(p->connecting) + " connecting, " +
                        std::to_string(p->connect_failures_total) + " connect failures so far";
            note += ")";
            const std::string why = probe_error(m, args.database);
            if (warm.wait_for(std::chrono::seconds{0}) == std::future_status::ready) break;
            note += why.empty() ? "; a probe connect succeeds" : "; a probe connect fails: " + why;
            std::cerr << "connmgr bench: " << scrub(note, secrets) << std::endl;
            wait = std::chrono::duration_cast<std::chrono::milliseconds>(warmup_note_every);
        }
        warm.get();
        if (auto p = find_pool(m, factories, args.database, args.kind)) waits_before = waits_of(*p);
    }

    const bench::run_plan plan{.clients = args.clients,
                               .requests_per_client = args.requests,
                               .duration = args.duration,
                               .pipeline = args.pipeline};
    bench::progress_bar progress(bench::progress_bar::stderr_is_terminal(),
                                 args.requests * args.clients, args.duration);
    std::size_t peak_in_use = 0;
    std::size_t peak_waiters = 0;
    const auto observe = [&](std::uint64_t done, std::uint64_t failed,
                             std::chrono::nanoseconds elapsed) {
        if (auto p = find_pool(m, factories, args.database, args.kind)) {
            peak_in_use = std::max(peak_in_use, p->in_use);
            peak_waiters = std::max(peak_waiters, p->waiters);
        }
        progress.update(done, failed, elapsed);
    };
    bench::run_result result = run(plan, observe);
    progress.finish();

    report.requests_ok = result.ok;
    report.errors = std::move(result.errors);
    // The first message of each kind. An async acquire fails with a bare code ("connect
    // failed"): a probe says why.
    std::optional<std::string> probed;
    for (const auto& [name, first] : result.first_errors) {
        std::string message = first.message;
        if (!first.detailed) {
            if (!probed) probed = probe_error(m, args.database);
            if (!probed->empty()) message += "; a probe connect fails: " + *probed;
        }
        report.error_messages[name] = scrub(std::move(message), secrets);
    }
    report.duration_seconds = std::chrono::duration<double>(result.elapsed).count();
    report.latency = std::move(result.latency);
    report.pool.max_size = options.max_size;
    report.pool.peak_in_use = peak_in_use;
    report.pool.peak_waiters = peak_waiters;
    if (auto p = find_pool(m, factories, args.database, args.kind)) {
        report.pool.max_size = p->max_size;
        bench::set_window_waits(report.pool, waits_before, waits_of(*p));
    }

    if (args.json)
        std::cout << bench::serialize(bench::to_json(report)) << std::endl;
    else
        std::cout << bench::to_text(report) << std::flush;
    // Close the pools before exit (a connect still running on a pool thread must not race
    // the process's exit handlers, OpenSSL's among them).
    m.close_all();
    async.reset();
    return report.requests_failed() > 0 ? exit_failure : exit_ok;
}

}  // namespace

constexpr std::string_view options_help =
    "  NAME                 the configured database to load\n"
    "  --clients N          concurrent clients: threads (sync) or coroutines (async); default 1\n"
    "  --requests N         requests per client (excludes --duration)\n"
    "  --duration D         run for D instead (10s, 500ms, 2m); default 10s\n"
    "  --flavour F          sync (default) or async: which of the database's pools\n"
    "  --command C          the request: SQL (default \"SELECT 1\"), a Redis command (default\n"
    "                       PING), or Cypher on a falkordb database (default \"RETURN 1\")\n"
    "  --pipeline N         commands per round trip (default 1)\n"
    "  --graph G            falkordb: the graph --command runs on (default connmgr_bench)\n"
    "  --no-warmup          start the clock with no connection open (default: first open as\n"
    "                       many connections as clients, up to max_size)\n"
    "  --serve ADDR         serve /metrics /health /stats of the run's pools while it lasts\n"
    "  --json               one JSON document on stdout\n";

CONNMGR_COMMAND(bench, synopsis,
                "load through the pools: throughput, latency p50/p95/p99/max, errors, pool peaks",
                options_help, run_bench);

}  // namespace connmgr::cli
