#!/usr/bin/env bash
# Builds the `fuzz` preset (clang, libFuzzer, ASan+UBSan) and runs every fuzz target for
# SECONDS (default 30) from its seed corpus, tests/fuzz/corpus/<target>/. New inputs the fuzzer
# finds go to build/fuzz/corpus/<target>/ (not into the repository). Exits non-zero when a target
# crashes or breaks an invariant; the input is kept in build/fuzz/artifacts/<target>/: check it
# in as tests/fuzz/corpus/<target>/regression-<what>, fix the defect, and the corpus replay
# tests (label unit, in the fuzz and the ordinary build) keep it fixed.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]     targets: url config redis_reply falkordb_reply falkordb_params
#                                             sentinel_reply
#                                             (default: all)
#
# CONNMGR_FUZZ_SEED (default 1) fixes libFuzzer's mutation sequence, so a run from a clean
# build/fuzz/corpus/ (as in CI) is reproducible: a finding in CI is the same finding here. Set it
# to 0 for a random seed when hunting (e.g. CONNMGR_FUZZ_SEED=0 scripts/fuzz.sh 600).
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

seconds=${1:-30}
seed=${CONNMGR_FUZZ_SEED:-1}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(url config redis_reply falkordb_reply falkordb_params sentinel_reply)
case $seconds in *[!0-9]* | '') echo "fuzz.sh: SECONDS must be a whole number, got '$seconds'" >&2; exit 2 ;; esac
case $seed in *[!0-9]* | '') echo "fuzz.sh: CONNMGR_FUZZ_SEED must be a whole number, got '$seed'" >&2; exit 2 ;; esac

cmake --preset fuzz >/dev/null || exit 1
binaries=()
for t in "${targets[@]}"; do
  [ -d "tests/fuzz/corpus/$t" ] || { echo "fuzz.sh: unknown target '$t'" >&2; exit 2; }
  binaries+=("fuzz_$t")
done
cmake --build --preset fuzz -j "$(nproc)" --target "${binaries[@]}" | grep -vE '^\[[0-9]+/[0-9]+\] '
[ "${PIPESTATUS[0]}" -eq 0 ] || { echo "fuzz.sh: build failed" >&2; exit 1; }

failed=()
for t in "${targets[@]}"; do
  work="build/fuzz/corpus/$t" artifacts="build/fuzz/artifacts/$t/"
  mkdir -p "$work" "$artifacts"
  echo "== fuzz $t (${seconds}s)"
  # -max_len: the seeds are small; longer inputs only slow the search down.
  if ! "build/fuzz/tests/fuzz/fuzz_$t" -max_total_time="$seconds" -seed="$seed" -max_len=4096 -timeout=10 \
      -print_final_stats=1 -artifact_prefix="$artifacts" "$work" "tests/fuzz/corpus/$t" \
      >"build/fuzz/$t.log" 2>&1; then
    failed+=("$t")
    grep -E 'invariant broken|detail:|ERROR: |SUMMARY|Test unit written' "build/fuzz/$t.log" | head -20
    echo "fuzz.sh: $t FAILED (full log: build/fuzz/$t.log)"
  else
    grep -E '^stat::number_of_executed_units|^Done' "build/fuzz/$t.log" | tr '\n' ' '
    echo
  fi
done

if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz.sh: FAILED: ${failed[*]}"
  exit 1
fi
echo "fuzz.sh: all ${#targets[@]} targets ran ${seconds}s without a finding"
