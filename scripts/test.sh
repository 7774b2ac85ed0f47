#!/usr/bin/env bash
# The whole test run, from a clean clone on a fresh Debian 12 machine:
# install dependencies, build, start the local servers, run every ctest label (plain build),
# the unit and integration labels under AddressSanitizer+UBSan, the stress, async-pool
# and manager tests under ThreadSanitizer, each fuzz target for 20 s (scripts/fuzz.sh), then stop
# the servers, even when tests fail. Exits non-zero on any failure.
#
#   scripts/test.sh            everything
#   CONNMGR_TEST_QUICK=1 scripts/test.sh   plain build only (no sanitizer builds, no fuzzing)
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
started=$(date +%s)
elapsed() { echo "+$(( $(date +%s) - started )) s"; }  # in each stage's header: where CI's time goes

bash scripts/install-deps.sh || exit 1

export CCACHE_DIR=${CCACHE_DIR:-$HOME/.cache/ccache}
jobs=$(nproc)

build() {   # build PRESET [TARGET...]
  local preset=$1; shift
  echo "== build ($preset) [$(elapsed)]"
  cmake --preset "$preset" >/dev/null || return 1
  local targets=()
  [ $# -gt 0 ] && targets=(--target "$@")
  cmake --build --preset "$preset" -j "$jobs" "${targets[@]}" | grep -vE '^\[[0-9]+/[0-9]+\] '
  return "${PIPESTATUS[0]}"
}

failures=()
run_ctest() {   # run_ctest PRESET-DIR NAME ARGS...
  local dir=$1 name=$2; shift 2
  echo "== ctest $name [$(elapsed)]"
  ctest --test-dir "build/$dir" --output-on-failure --no-tests=error "$@" || failures+=("$name")
}

build dev || { echo "test.sh: build failed"; exit 1; }

bash scripts/services.sh start || { echo "test.sh: could not start the local servers"; exit 1; }
trap 'bash scripts/services.sh stop' EXIT
eval "$(bash scripts/services.sh env)"

run_ctest dev unit -L unit -j "$jobs"
run_ctest dev integration -L integration
# The multi-server topologies run only for the fault label, whose failover tests need them.
for topology in pg-ha sentinel; do
  bash scripts/services.sh start "$topology" || failures+=("$topology start")
done
eval "$(bash scripts/services.sh env)"
run_ctest dev fault -L fault
bash scripts/services.sh stop pg-ha sentinel || true
if ctest --test-dir build/dev -N -L load | grep -q 'Total Tests: [1-9]'; then
  run_ctest dev load -L load
fi

if [ -z "${CONNMGR_TEST_QUICK:-}" ]; then
  # Known leaks in third-party libraries only, each with its reason (tests/lsan.supp).
  export LSAN_OPTIONS="suppressions=$ROOT/tests/lsan.supp${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
  if build asan; then
    # Not the fault label: its 4.5 minutes under ASan kept the whole run over its 35-minute
    # budget, and its code paths (reconnects, timeouts) are the integration tests' too.
    run_ctest asan "unit+integration (asan)" -L 'unit|integration' -j "$jobs"
  else
    failures+=("asan build")
  fi
  # The concurrency proof: the stress tests, the async-pool unit tests and the manager's
  # integration tests (real servers) on 2 I/O threads; TSan builds only their binaries.
  if build tsan pool_stress_test pool_test manager_integration_tests; then
    run_ctest tsan "stress (tsan)" -R Stress
    export CONNMGR_RUNTIME__IO_THREADS=2
    # Not ManagerFork: TSan cannot follow a child that starts threads after a multi-threaded fork.
    run_ctest tsan "async pool + manager (tsan, io_threads 2)" \
      -R '^(AsyncPool|DatabasePools|Manager[A-Za-z]*)\.' -E '^ManagerFork\.'
    unset CONNMGR_RUNTIME__IO_THREADS
  else
    failures+=("tsan build")
  fi
  # 20 s per target (scripts/fuzz.sh's own default is 30): the seed corpus is replayed in
  # full either way, and the 50 s saved keep the whole run inside its 35-minute budget.
  echo "== fuzz (20 s per target) [$(elapsed)]"
  bash scripts/fuzz.sh 20 || failures+=("fuzz")
fi

echo "== test.sh finished in $(( $(date +%s) - started )) s"
if [ ${#failures[@]} -gt 0 ]; then
  echo "test.sh: FAILED: ${failures[*]}"
  exit 1
fi
echo "test.sh: all passed"
