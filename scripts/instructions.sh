#!/usr/bin/env bash
# User-space instructions per request (valgrind callgrind), connmgr against its reference tool:
# a figure the machine's noise does not move, for comparing changes to the hot paths.
#
#   scripts/instructions.sh [postgres|redis] [sync|async]     (default: postgres async)
#
# Each client runs twice (4 clients, 1000 and 4000 requests each); the difference of the two
# totals divided by the 12000 extra requests leaves out start-up and connection set-up.
# PostgreSQL: `connmgr bench app` (statement_cache 0, one I/O thread) against pgbench's simple
# protocol (-j 1); Redis: `connmgr bench main` GET against redis-benchmark -t get (-P 1).
# Needs the release build (scripts/bench.sh builds it) and the local servers
# (scripts/services.sh start). Takes about a minute.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
backend=${1:-postgres} flavour=${2:-async}
connmgr=${CONNMGR_BIN:-build/release/cmd/connmgr/connmgr}
command -v valgrind >/dev/null || { echo "instructions: valgrind not found (apt-get install valgrind)" >&2; exit 1; }
[ -x "$connmgr" ] || { echo "instructions: $connmgr not built" >&2; exit 1; }
case $flavour in sync|async) ;; *) echo "instructions: flavour is sync or async" >&2; exit 2 ;; esac
eval "$(bash scripts/services.sh env)"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Total instructions of one callgrind run of "$@" (children are not followed).
total() {
  local out="$work/cg.$RANDOM"
  valgrind --tool=callgrind --callgrind-out-file="$out" "$@" >/dev/null 2>&1
  awk '/^(summary|totals):/ { print $2; exit }' "$out"
}
per_request() {  # LOW_TOTAL HIGH_TOTAL
  echo $(( ($2 - $1) / 12000 ))
}

case $backend in
  postgres)
    echo 'SELECT 1;' > "$work/select1.sql"
    pgbench_bin=$(ls /usr/lib/postgresql/*/bin/pgbench | tail -n1)  # not the Perl wrapper
    ours() {
      CONNMGR_RUNTIME__IO_THREADS=1 CONNMGR_DATABASES__APP__POOL__MAX_SIZE=4 \
        CONNMGR_DATABASES__APP__POOL__ASYNC__STATEMENT_CACHE=0 \
        total "$connmgr" --config configs/local.yaml bench app --clients 4 --requests "$1" \
        --flavour "$flavour" --command "SELECT 1"
    }
    theirs() {
      PGPASSWORD=connmgr-secret total "$pgbench_bin" -h 127.0.0.1 -p "${CONNMGR_PG_PORT:-55432}" \
        -U connmgr -n -f "$work/select1.sql" -c 4 -j 1 -t "$1" connmgr_test
    }
    reference="pgbench (simple protocol)"
    ;;
  redis)
    ours() {
      CONNMGR_RUNTIME__IO_THREADS=1 CONNMGR_DATABASES__MAIN__POOL__MAX_SIZE=4 \
        total "$connmgr" --config configs/local.yaml bench main --clients 4 --requests "$1" \
        --flavour "$flavour" --command "GET connmgr:instructions"
    }
    theirs() {
      total redis-benchmark -p "${CONNMGR_REDIS_PORT:-56379}" -c 4 -n $(( $1 * 4 )) -t get -q
    }
    reference="redis-benchmark GET"
    ;;
  *) echo "instructions: backend is postgres or redis" >&2; exit 2 ;;
esac

a=$(ours 1000); b=$(ours 4000)
c=$(theirs 1000); d=$(theirs 4000)
mine=$(per_request "$a" "$b") ref=$(per_request "$c" "$d")
printf '%s %s: %s instructions per request; %s: %s (%s×)\n' "connmgr $backend" "$flavour" \
  "$mine" "$reference" "$ref" "$(awk -v a="$mine" -v b="$ref" 'BEGIN { printf "%.2f", a / b }')"
