// connmgr serve [--listen 127.0.0.1:9187]: the manager's telemetry endpoint (GET /health,
// /metrics, /stats) until SIGTERM or SIGINT, then close_all and exit 0. /health probes every
// configured database.
#include "command.hpp"

#include <connmgr/connmgr.hpp>

#include <csignal>
#include <iostream>
#include <string>

#include <pthread.h>

namespace {

using namespace connmgr::cli;

int run_serve(const global_options& globals, const std::vector<std::string>& args) {
    std::string listen_at = "127.0.0.1:9187";
    for (std::size_t i = 0; i < args.size(); ++i) {
        if (is_help(args[i]))
            throw help_requested();
        else if (args[i] == "--listen" && i + 1 < args.size())
            listen_at = args[++i];
        else if (args[i].rfind("--listen=", 0) == 0)
            listen_at = args[i].substr(9);
        else
            throw usage_error("unknown argument '" + args[i] + "'");
    }
    try {
        connmgr::parse_listen_address(listen_at);
    } catch (const connmgr::config_error& e) {
        throw usage_error(std::string("--listen: ") + e.what());
    }

    // Blocked before the manager starts its threads, so that they inherit the mask and the
    // signals wait for sigwait below.
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGTERM);
    sigaddset(&stop_signals, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

    auto& m = connmgr::manager::instance();
    m.configure(load(globals).config);
    const std::string bound = m.serve_telemetry(listen_at, connmgr::health_scope::all_configured);
    std::cerr << "connmgr serve: listening on http://" << bound << std::endl;

    int received = 0;
    sigwait(&stop_signals, &received);

    const auto summary = connmgr::close_all();
    std::cerr << "connmgr serve: closed " << summary.pools_closed << " pools, "
              << summary.connections_closed << " connections";
    if (summary.leases_outstanding)
        std::cerr << ", " << summary.leases_outstanding << " leases still out";
    std::cerr << "\n";
    return exit_ok;
}

}  // namespace

CONNMGR_COMMAND(
    serve, "[--listen 127.0.0.1:9187]",
    "serve /health, /metrics and /stats over HTTP until SIGTERM or SIGINT",
    "  --listen ADDR        HOST:PORT to serve on (default 127.0.0.1:9187; port 0 = any "
    "free port)\n",
    run_serve);
