#pragma once
// Invariant checks for the fuzz targets: a broken invariant aborts, which libFuzzer reports as a
// crash (and saves the input) and the plain replay runner reports as a failed test.

#include <cstdio>
#include <cstdlib>
#include <string_view>

namespace connmgr::fuzz {

[[noreturn]] inline void invariant_failed(const char* what, std::string_view detail,
                                          const char* file, int line) {
    std::fprintf(stderr, "%s:%d: invariant broken: %s\n  detail: %.*s\n", file, line, what,
                 static_cast<int>(detail.size()), detail.data());
    std::abort();
}

}  // namespace connmgr::fuzz

/// Aborts with `detail` (a string_view-convertible text) when `cond` is false.
#define FUZZ_CHECK(cond, detail) \
    ((cond) ? void() : ::connmgr::fuzz::invariant_failed(#cond, (detail), __FILE__, __LINE__))
