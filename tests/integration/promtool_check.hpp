#pragma once
// `promtool check metrics` on an exposition, shared by the tests that render /metrics.

#include <unistd.h>

#include <array>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>

namespace connmgr::test {

/// The one lint finding the OpenTelemetry names of DESIGN §7 force: the gauge
/// `db_client_connection_count` (db.client.connection.count) ends in "_count", which promtool's
/// linter reserves for histograms and summaries. It is a naming hint, not a parse error.
inline constexpr const char* otel_count_lint =
    "db_client_connection_count non-histogram and non-summary metrics should not have \"_count\" "
    "suffix";

/// What promtool objects to in `text`: "" when it parses and its only lint finding is
/// otel_count_lint; else promtool's output and exit status. nullopt without promtool.
inline std::optional<std::string> promtool_problems(const std::string& text) {
    if (std::system("command -v promtool >/dev/null 2>&1") != 0) return std::nullopt;
    static std::atomic<int> serial{0};
    const std::string file = "/tmp/connmgr_promtool_" + std::to_string(::getpid()) + "_" +
                             std::to_string(serial++) + ".prom";
    std::ofstream(file) << text;
    std::string out;
    const std::string command = "promtool check metrics < " + file + " 2>&1; echo rc=$?";
    if (FILE* p = ::popen(command.c_str(), "r")) {
        std::array<char, 4096> buf{};
        std::size_t n;
        while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0) out.append(buf.data(), n);
        ::pclose(p);
    }
    std::remove(file.c_str());
    // rc 0: clean; rc 3: lint findings only (the text parsed); anything else: an error.
    const bool lint_only = out.find("rc=3") != std::string::npos;
    if (out.find("rc=0") != std::string::npos) return std::string{};
    if (!lint_only) return out;
    std::istringstream lines(out);
    for (std::string line; std::getline(lines, line);)
        if (!line.empty() && line.rfind("rc=", 0) != 0 && line != otel_count_lint) return out;
    return std::string{};
}

}  // namespace connmgr::test
