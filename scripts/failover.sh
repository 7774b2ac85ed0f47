#!/usr/bin/env bash
# The PostgreSQL failover table of README.md (issue 21): runs tests/fault/pg_failover_test.cpp
# RUNS times (default 5) against the pg-ha topology of scripts/services.sh (started if down,
# stopped afterwards if this script started it) and prints one Markdown row per scenario and
# flavour: failed requests by kind (the worst run), and the time from the promotion (or the
# standby's stop) to the first successful request, p50 and max over the runs, measured from the
# moment the helper's command returned and from the moment it started (an upper bound that
# includes the helper's own wait, about 0.3 s for `pg_ctl promote -w`).
#
#   scripts/failover.sh [RUNS]            needs a dev build (cmake --build --preset dev)
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
runs=${1:-5}
[[ $runs =~ ^[1-9][0-9]*$ ]] || { echo "failover.sh: RUNS must be a positive number, got '$runs'" >&2; exit 2; }
bin=build/dev/tests/pg_failover_fault_tests
[ -x "$bin" ] || { echo "failover.sh: $bin is missing: cmake --build --preset dev --target pg_failover_fault_tests" >&2; exit 2; }

started=()
for s in postgres pg-ha; do
  if ! bash scripts/services.sh status "$s" >/dev/null 2>&1; then
    bash scripts/services.sh start "$s" >/dev/null
    started+=("$s")
  fi
done
cleanup() { for s in "${started[@]}"; do bash scripts/services.sh stop "$s" >/dev/null 2>&1 || true; done; }
trap cleanup EXIT
eval "$(bash scripts/services.sh env)"

log=$(mktemp)
for i in $(seq 1 "$runs"); do
  echo "failover.sh: run $i of $runs" >&2
  "$bin" >>"$log" 2>&1 || { grep -E 'Failure|FAILED' -A3 "$log" >&2; echo "failover.sh: run $i failed (log $log)" >&2; exit 1; }
done

python3 - "$log" "$runs" <<'EOF'
import re, sys, statistics
rows = {}
for line in open(sys.argv[1]):
    m = re.match(r'FAILOVER (\S+) (sync|async): requests=(\d+) (.*) to_first_ok=(-?\d+)ms command_start_to_first_ok=(-?\d+)ms', line)
    if not m: continue
    key = (m.group(1), m.group(2))
    r = rows.setdefault(key, {'failed': {}, 'gap': [], 'upper': [], 'requests': []})
    r['requests'].append(int(m.group(3)))
    failed = {k: int(v) for k, v in re.findall(r'(?<!\S)([a-z_]+)=(\d+)(?![\dm])', m.group(4)) if k != 'ok'}
    for k, v in failed.items(): r['failed'][k] = max(r['failed'].get(k, 0), v)
    r['gap'].append(int(m.group(5))); r['upper'].append(int(m.group(6)))
print(f"{sys.argv[2]} runs; max_size 8, 8 writers (reads: 8 readers + 2 writers), query_timeout 1 s")
print()
print("| scenario | flavour | failed requests, worst run (by kind) | to first success p50 / max | from the command's start p50 / max |")
print("|---|---|---|---|---|")
for (scenario, flavour), r in rows.items():
    failed = ", ".join(f"{k} {v}" for k, v in sorted(r['failed'].items())) or "0"
    p50 = statistics.median(r['gap']); up = statistics.median(r['upper'])
    print(f"| {scenario} | {flavour} | {failed} | {p50:.0f} / {max(r['gap'])} ms | {up:.0f} / {max(r['upper'])} ms |")
EOF
rm -f "$log"
