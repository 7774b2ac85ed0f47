#!/usr/bin/env bash
# The side-by-side benchmark of DESIGN §10, in one run on this machine: every connmgr figure
# beside its reference tool's and their ratio (connmgr / reference, throughput).
#
#   scripts/bench.sh [--quick] [--no-build]
#
#   PostgreSQL SELECT 1: `connmgr bench` sync and async without the statement cache vs
#     pgbench -n -f select1.sql -c N -j 2 (simple protocol), async with its statement cache
#     (the default) and async pipelined (16 per round trip) vs pgbench -M prepared, at
#     N = 1, 16, 64,
#     and vs pgbench -C (a new connection per request) at N = 1, 16.
#   Redis PING/GET/SET: `connmgr bench` sync and async vs redis-benchmark -c N at N = 1, 16, 64;
#     pipelined (--pipeline 16, 16 clients) vs redis-benchmark -P 16 -c 16.
#   FalkorDB `RETURN 1` and a one-hop MATCH on a small graph: `connmgr bench` sync and async vs
#     redis-benchmark sending the same GRAPH.QUERY and vs the official JavaScript client
#     (`falkordb` on npm, on Node) at N = 1, 16, 50 concurrent clients (when FalkorDB is
#     installed; skipped with a note otherwise).
#   The pool microbenchmarks (Google Benchmark binaries under build/release/tests) when built.
#
# Beside each throughput: the client's CPU time per request (user + system of the whole client
# process, from its own accounting through /usr/bin/time, divided by the requests it made), for
# connmgr and for the reference tool; and the load average before and after the run, so that a
# run on a busy machine shows it. Async runs say how many I/O threads their clients used.
#
# Prints a Markdown table on stdout and writes the same figures as JSON to
# .run/bench/bench-<time>.json (and .run/bench/latest.json, latest.md).
# Takes about 4 minutes; --quick or CONNMGR_BENCH_QUICK=1 makes every run 1-3 s (CI).
# CONNMGR_BENCH_SECONDS overrides the length of one PostgreSQL run (default 4) and
# CONNMGR_BENCH_REDIS_SECONDS that of one Redis run (default 3). CONNMGR_BENCH_CLIENTS lists
# the client counts (default "1 16 64"), CONNMGR_BENCH_GRAPH_CLIENTS FalkorDB's (default
# "1 16 50"); CONNMGR_BENCH_OUT the output directory (default
# .run/bench).
# Starts the local servers (scripts/services.sh) when they are not up, and then stops them at
# the end; servers that were already up are left running.
# Exit status: 0, or 1 when a run failed, produced errors or unparseable output.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

log() { printf 'bench: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

quick=${CONNMGR_BENCH_QUICK:-}
build=1
while [ $# -gt 0 ]; do
  case $1 in
    --quick) quick=1 ;;
    --no-build) build=0 ;;
    -h|--help) sed -n '2,27p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
  shift
done

for tool in jq pgbench redis-benchmark /usr/bin/time; do
  command -v "$tool" >/dev/null || die "$tool not found (scripts/install-deps.sh; jq: apt-get install jq)"
done

if [ -n "$quick" ]; then
  # pgbench counts its connection set-up in -T: 64 SCRAM logins need more than 1 s here.
  pg_seconds=3 redis_seconds=1 micro_min_time=0.05
else
  pg_seconds=${CONNMGR_BENCH_SECONDS:-4} redis_seconds=${CONNMGR_BENCH_REDIS_SECONDS:-3}
  micro_min_time=0.5
fi
read -r -a clients_list <<< "${CONNMGR_BENCH_CLIENTS:-1 16 64}"
read -r -a graph_clients_list <<< "${CONNMGR_BENCH_GRAPH_CLIENTS:-1 16 50}"
for n in "${clients_list[@]}" "${graph_clients_list[@]}"; do
  [[ $n =~ ^[1-9][0-9]*$ ]] || die "CONNMGR_BENCH_CLIENTS / _GRAPH_CLIENTS: '$n' is not a client count"
done
pipeline=16

# ---- build ------------------------------------------------------------------------------
if [ "$build" = 1 ]; then
  log "building the release preset"
  cmake --preset release >/dev/null
  if ! cmake --build --preset release -j "${CONNMGR_BUILD_JOBS:-$(nproc)}" \
       | { grep -vE '^\[[0-9]+/[0-9]+\] ' || true; }; then
    die "release build failed"
  fi
fi
connmgr=${CONNMGR_BIN:-build/release/cmd/connmgr/connmgr}
[ -x "$connmgr" ] || die "$connmgr not built (run without --no-build)"

# ---- servers ----------------------------------------------------------------------------
started=()
stop_started() {
  if [ ${#started[@]} -gt 0 ]; then bash scripts/services.sh stop "${started[@]}" || true; fi
}
trap stop_started EXIT
for s in postgres redis falkordb; do
  if ! bash scripts/services.sh status "$s" >/dev/null 2>&1; then
    bash scripts/services.sh start "$s" || die "could not start $s"
    started+=("$s")
  fi
done
eval "$(bash scripts/services.sh env)"

# ---- configuration ----------------------------------------------------------------------
# The databases of configs/local.yaml; each run sizes its pool (both flavours) to its client
# count through CONNMGR_* overrides, as pgbench opens one connection per client.
config=${CONNMGR_BENCH_CONFIG:-configs/local.yaml}
pg_db=${CONNMGR_BENCH_PG_DB:-app}
redis_db=${CONNMGR_BENCH_REDIS_DB:-main}
[ -f "$config" ] || die "$config not found"

out_dir=${CONNMGR_BENCH_OUT:-.run/bench}
mkdir -p "$out_dir"
stamp=$(date -u +%Y%m%d-%H%M%S)
work=$(mktemp -d "$out_dir/tmp.XXXXXX")
trap 'rm -rf "$work"; stop_started' EXIT
echo 'SELECT 1;' > "$work/select1.sql"
rows="$work/rows.jsonl"
: > "$rows"
# Runs happen in subshells ($(...)), so failures are counted in a file.
fail() { echo x >> "$work/failures"; }
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
log "load average before: $load_before"

# Runs a client under /usr/bin/time; its user + system seconds go to $work/cpu.
timed() { /usr/bin/time -f '%U %S' -o "$work/cpu" "$@"; }
# Microseconds of client CPU per request: timed()'s figure divided by REQUESTS.
cpu_us_per_request() {  # REQUESTS
  awk -v n="$1" '{ if (n > 0) printf "%.2f", ($1 + $2) * 1e6 / n }' "$work/cpu" 2>/dev/null || true
}

# Extra environment for the next connmgr_bench runs (e.g. a statement cache override).
extra_env=()
# One `connmgr bench --json` run; prints its JSON (or nothing when it produced none).
connmgr_bench() {  # DB CLIENTS SECONDS FLAVOUR PIPELINE COMMAND [EXTRA ARGS...]
  local db=$1 clients=$2 seconds=$3 flavour=$4 pipe=$5 command=$6 up json rc=0
  local extra=("${@:7}")
  up=$(echo "$db" | tr '[:lower:]' '[:upper:]')
  json=$(timed env ${extra_env[@]+"${extra_env[@]}"} "CONNMGR_DATABASES__${up}__POOL__MAX_SIZE=$clients" \
             "CONNMGR_DATABASES__${up}__POOL__SYNC__MAX_SIZE=$clients" \
             "CONNMGR_DATABASES__${up}__POOL__ASYNC__MAX_SIZE=$clients" \
         "$connmgr" --config "$config" bench "$db" --clients "$clients" --duration "${seconds}s" \
           --flavour "$flavour" --pipeline "$pipe" --command "$command" ${extra[@]+"${extra[@]}"} --json \
           2>"$work/stderr") || rc=$?
  if ! echo "$json" | jq -e 'has("requests_ok")' >/dev/null 2>&1; then
    log "connmgr bench $db $flavour c=$clients '$command' failed (exit $rc): $(tail -3 "$work/stderr")"
    fail
    echo 'null'
    return
  fi
  if [ "$rc" != 0 ]; then
    log "connmgr bench $db $flavour c=$clients '$command' had errors: $(echo "$json" | jq -c .errors)"
    fail
  fi
  local requests cpu
  requests=$(echo "$json" | jq '.requests_ok + ([.errors[]] | add // 0)')
  cpu=$(cpu_us_per_request "$requests")
  echo "$json" | jq -c --arg cpu "$cpu" '. + {cpu_us_per_request: ($cpu | tonumber? // null)}'
}

# Appends one comparison row.
row() {  # SECTION WORKLOAD CLIENTS CONNMGR_JSON REF_TOOL REF_COMMAND REF_TPS [REF_P50_MS REF_P99_MS REF_CPU_US]
  jq -nc --arg section "$1" --arg workload "$2" --argjson clients "$3" --argjson connmgr "$4" \
    --arg tool "$5" --arg command "$6" --arg tps "$7" --arg p50 "${8:-}" --arg p99 "${9:-}" \
    --arg cpu "${10:-}" '
    ($tps | tonumber? // null) as $ref
    | {section: $section, workload: $workload, clients: $clients, connmgr: $connmgr,
       reference: {tool: $tool, command: $command, throughput_per_second: $ref,
                   p50_ms: ($p50 | tonumber? // null), p99_ms: ($p99 | tonumber? // null),
                   cpu_us_per_request: ($cpu | tonumber? // null)},
       ratio: (if $connmgr != null and $ref != null and $ref > 0
               then ($connmgr.throughput_per_second / $ref * 10000 | round / 10000) else null end)}' \
    >> "$rows"
}

# ---- PostgreSQL -------------------------------------------------------------------------
pg_host=127.0.0.1 pg_port=${CONNMGR_PG_PORT:-55432} pg_user=connmgr pg_name=connmgr_test
pgbench_tps() {  # CLIENTS SECONDS EXTRA...  -> "tps cpu_us_per_request" (one retry: the server is shared)
  local clients=$1 seconds=$2 attempt tps done; shift 2
  for attempt in 1 2; do
    PGPASSWORD=connmgr-secret timed pgbench -h $pg_host -p $pg_port -U $pg_user -n \
      -f "$work/select1.sql" -c "$clients" -j 2 -T "$seconds" "$@" $pg_name >"$work/pgbench.log" 2>&1 || true
    tps=$(sed -n 's/^tps = \([0-9.]*\).*/\1/p' "$work/pgbench.log" | head -n1)
    done=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "$work/pgbench.log" | head -n1)
    if [ -n "$tps" ]; then echo "$tps $(cpu_us_per_request "${done:-0}")"; return 0; fi
    log "pgbench -c $clients $* (attempt $attempt): $(grep -m2 -iE 'error|fatal' "$work/pgbench.log" | tr '\n' ' ')"
  done
  return 1
}
pgbench_cmd() { echo "pgbench -n -f select1.sql -c $1 -j 2 -T $2${3:+ $3}"; }

for n in "${clients_list[@]}"; do
  log "PostgreSQL SELECT 1, $n client(s)"
  simple="" simple_cpu="" prepared="" prepared_cpu="" fresh="" fresh_cpu=""
  read -r simple simple_cpu < <(pgbench_tps "$n" "$pg_seconds"; echo) || true
  read -r prepared prepared_cpu < <(pgbench_tps "$n" "$pg_seconds" -M prepared; echo) || true
  [ -n "$simple" ] && [ -n "$prepared" ] || { log "pgbench failed at c=$n"; fail; }
  sync=$(connmgr_bench "$pg_db" "$n" "$pg_seconds" sync 1 "SELECT 1")
  # The async path with its prepared-statement cache (the default) against -M prepared, and
  # without it against the simple protocol: each against the tool doing the same work.
  async=$(connmgr_bench "$pg_db" "$n" "$pg_seconds" async 1 "SELECT 1")
  extra_env=("CONNMGR_DATABASES__$(echo "$pg_db" | tr '[:lower:]' '[:upper:]')__POOL__ASYNC__STATEMENT_CACHE=0")
  async_unprepared=$(connmgr_bench "$pg_db" "$n" "$pg_seconds" async 1 "SELECT 1")
  extra_env=()
  piped=$(connmgr_bench "$pg_db" "$n" "$pg_seconds" async $pipeline "SELECT 1")
  row postgres "SELECT 1, sync" "$n" "$sync" "pgbench simple" "$(pgbench_cmd "$n" "$pg_seconds")" \
    "$simple" "" "" "$simple_cpu"
  row postgres "SELECT 1, async, statement_cache 0" "$n" "$async_unprepared" "pgbench simple" \
    "$(pgbench_cmd "$n" "$pg_seconds")" "$simple" "" "" "$simple_cpu"
  row postgres "SELECT 1, async, statement cache" "$n" "$async" "pgbench prepared" \
    "$(pgbench_cmd "$n" "$pg_seconds" "-M prepared")" "$prepared" "" "" "$prepared_cpu"
  row postgres "SELECT 1, async pipeline $pipeline" "$n" "$piped" "pgbench prepared" \
    "$(pgbench_cmd "$n" "$pg_seconds" "-M prepared")" "$prepared" "" "" "$prepared_cpu"
  if [ "$n" -le 16 ]; then
    read -r fresh fresh_cpu < <(pgbench_tps "$n" "$pg_seconds" -C; echo) || true
    row postgres "SELECT 1, sync (pooled)" "$n" "$sync" "pgbench -C (new connection per request)" \
      "$(pgbench_cmd "$n" "$pg_seconds" -C)" "$fresh" "" "" "$fresh_cpu"
  fi
done

# ---- Redis ------------------------------------------------------------------------------
redis_port=${CONNMGR_REDIS_PORT:-56379}
key="connmgr:bench:$$"
declare -A redis_command=([PING]="PING" [GET]="GET $key" [SET]="SET $key xxx")
# redis-benchmark needs a request count: aim at ~redis_seconds per test at this machine's rate.
redis_requests() {  # CLIENTS PIPELINE
  local rate=20000
  [ "$1" -gt 1 ] && rate=50000
  [ "$2" -gt 1 ] && rate=500000
  echo $((rate * redis_seconds))
}
# redis-benchmark --csv: the -q figures plus latency percentiles. One test per process, so its
# CPU time is that test's. PING is PING_MBULK (the inline PING_INLINE has no Redis client peer).
redis_reference() {  # CLIENTS PIPELINE TEST -> "rps p50 p99 cpu_us_per_request"
  local requests line
  requests=$(redis_requests "$1" "$2")
  line=$(timed redis-benchmark -h 127.0.0.1 -p $redis_port -t "$3" -c "$1" -n "$requests" -P "$2" --csv 2>/dev/null \
    | tr -d '"' | awk -F, -v t="$4" 'NR > 1 && $1 == t { print $2, $5, $7 }') || true
  [ -n "$line" ] && echo "$line $(cpu_us_per_request "$requests")"
}
redis_ref_cmd() {
  local p=""; [ "$2" -gt 1 ] && p=" -P $2"
  echo "redis-benchmark -p $redis_port -t $3 -c $1 -n $(redis_requests "$1" "$2")$p"
}

"$connmgr" --config "$config" bench "$redis_db" --clients 1 --requests 1 --command "SET $key xxx" --json >/dev/null 2>&1 || true
for n in "${clients_list[@]}" "pipelined"; do
  clients=$n pipe=1 label=""
  if [ "$n" = pipelined ]; then clients=16 pipe=$pipeline label=", pipeline $pipeline"; fi
  log "Redis PING/GET/SET, $clients client(s)$label"
  for cmd in PING GET SET; do
    ref_name=$cmd test=${cmd,,}; [ $cmd = PING ] && ref_name=PING_MBULK test=ping_mbulk
    rps="" p50="" p99="" cpu=""
    read -r rps p50 p99 cpu < <(redis_reference "$clients" "$pipe" "$test" "$ref_name"; echo) || true
    [ -n "$rps" ] || { log "redis-benchmark $ref_name failed at c=$clients"; fail; }
    for f in sync async; do
      j=$(connmgr_bench "$redis_db" "$clients" "$redis_seconds" $f "$pipe" "${redis_command[$cmd]}")
      row redis "$cmd, $f$label" "$clients" "$j" "redis-benchmark $ref_name" \
        "$(redis_ref_cmd "$clients" "$pipe" "$test")" "${rps:-}" "${p50:-}" "${p99:-}" "${cpu:-}"
    done
  done
done

# ---- FalkorDB ---------------------------------------------------------------------------
graph_db=${CONNMGR_BENCH_GRAPH_DB:-graph}
falkordb_port=${CONNMGR_FALKORDB_PORT:-56390}
graph_name=connmgr_bench_social
js_bench=tests/bench/falkordb_js_bench.cjs
declare -A graph_query=([RETURN1]="RETURN 1"
                        [MATCH1]="MATCH (p:Person {id: 7})-[:KNOWS]->(f) RETURN f.id")
declare -A graph_label=([RETURN1]="RETURN 1" [MATCH1]="one-hop MATCH")
graph_requests() {  # CLIENTS -> a request count for ~redis_seconds at this machine's rate
  local rate=3000; [ "$1" -gt 1 ] && rate=8000
  echo $((rate * redis_seconds))
}
if [ -z "${CONNMGR_TEST_FALKORDB_URL:-}" ]; then
  log "FalkorDB skipped: ${CONNMGR_TEST_FALKORDB_UNAVAILABLE:-not running}"
else
  # A small social graph: 200 people, each knowing 2 others, found by an indexed id.
  fcli=(redis-cli -h 127.0.0.1 -p "$falkordb_port")
  "${fcli[@]}" GRAPH.DELETE "$graph_name" >/dev/null 2>&1 || true
  "${fcli[@]}" GRAPH.QUERY "$graph_name" "CREATE INDEX FOR (p:Person) ON (p.id)" >/dev/null
  "${fcli[@]}" GRAPH.QUERY "$graph_name" "UNWIND range(0, 199) AS i CREATE (:Person {id: i})" >/dev/null
  "${fcli[@]}" GRAPH.QUERY "$graph_name" "MATCH (a:Person), (b:Person) WHERE b.id = (a.id + 1) % 200 OR b.id = (a.id * 7 + 3) % 200 CREATE (a)-[:KNOWS]->(b)" >/dev/null
  have_js=1
  [ -f .run/tools/node_modules/falkordb/package.json ] && command -v node >/dev/null || {
    have_js=""; log "the falkordb JavaScript client is not installed (scripts/install-deps.sh): its rows are n/a"; }
  for n in "${graph_clients_list[@]}"; do
    for q in RETURN1 MATCH1; do
      cypher=${graph_query[$q]}
      log "FalkorDB ${graph_label[$q]}, $n client(s)"
      # redis-benchmark --csv: the test name (the command, maybe with commas) then 7 figures.
      rps="" p50="" p99=""
      read -r rps p50 p99 < <(timed redis-benchmark -h 127.0.0.1 -p "$falkordb_port" -c "$n" \
          -n "$(graph_requests "$n")" --csv GRAPH.QUERY "$graph_name" "$cypher" --compact 2>/dev/null \
        | tr -d '"' | awk -F, 'NR > 1 { print $(NF-6), $(NF-3), $(NF-1) }'; echo) || true
      [ -n "${rps:-}" ] || { log "redis-benchmark GRAPH.QUERY failed at c=$n"; fail; }
      rb_cpu=$(cpu_us_per_request "$(graph_requests "$n")")
      js_tps="" js_p50="" js_p99="" js_cpu=""
      if [ -n "$have_js" ]; then
        js=$(timed node "$js_bench" 127.0.0.1 "$falkordb_port" "$graph_name" "$cypher" "$n" "$redis_seconds" 2>"$work/stderr") \
          || { log "falkordb JS client failed at c=$n: $(tail -3 "$work/stderr")"; fail; js='{}'; }
        js_tps=$(echo "$js" | jq -r '.throughput_per_second // empty')
        js_p50=$(echo "$js" | jq -r '.p50_ms // empty')
        js_p99=$(echo "$js" | jq -r '.p99_ms // empty')
        js_cpu=$(cpu_us_per_request "$(echo "$js" | jq -r '.requests // 0')")
      fi
      for f in sync async; do
        j=$(connmgr_bench "$graph_db" "$n" "$redis_seconds" $f 1 "$cypher" --graph "$graph_name")
        row falkordb "${graph_label[$q]}, $f" "$n" "$j" "redis-benchmark GRAPH.QUERY" \
          "redis-benchmark -p $falkordb_port -c $n -n $(graph_requests "$n") GRAPH.QUERY $graph_name '$cypher' --compact" \
          "${rps:-}" "${p50:-}" "${p99:-}" "$rb_cpu"
        row falkordb "${graph_label[$q]}, $f" "$n" "$j" "falkordb (npm) on Node" \
          "node $js_bench 127.0.0.1 $falkordb_port $graph_name '$cypher' $n $redis_seconds" \
          "$js_tps" "$js_p50" "$js_p99" "$js_cpu"
      done
    done
  done
  "${fcli[@]}" GRAPH.DELETE "$graph_name" >/dev/null 2>&1 || true
fi

# ---- pool microbenchmark ----------------------------------------------------------------
micro="$work/micro.json"
echo '[]' > "$micro"
# Google Benchmark binaries among the built tests (tests/bench/*.cmake add them to
# build/release/tests/), recognized by linking libbenchmark (a shared library here, so its
# strings are not in the executable); other executables there (pg/redis load drivers) are
# left alone.
gbench=()
if [ -d build/release/tests ]; then
  while IFS= read -r exe; do
    ldd "$exe" 2>/dev/null | grep -q 'libbenchmark\.so' && gbench+=("$exe")
  done < <(find build/release/tests -maxdepth 2 -type f -executable -name '*bench*' | sort)
fi
for exe in "${gbench[@]}"; do
  log "pool microbenchmark $(basename "$exe")"
  if "$exe" --benchmark_format=json --benchmark_min_time="$micro_min_time" \
       >"$work/gbench.json" 2>"$work/stderr"; then
    jq --arg exe "$(basename "$exe")" '[.benchmarks[]
        | select((.run_type // "iteration") == "iteration")
        | {binary: $exe, name, real_time, time_unit,
           cycles_per_second: (.items_per_second // .["cycles/s"] // .cycles_per_second // null)}]' \
      "$work/gbench.json" > "$work/one.json" \
      && jq -s 'add' "$micro" "$work/one.json" > "$work/merged.json" && mv "$work/merged.json" "$micro"
  else
    log "$(basename "$exe") failed: $(tail -3 "$work/stderr")"
    fail
  fi
done
[ ${#gbench[@]} -gt 0 ] || log "no Google Benchmark binary under build/release/tests (pool microbenchmark skipped)"

# ---- report -----------------------------------------------------------------------------
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
log "load average after: $load_after"
json_out="$out_dir/bench-$stamp.json"
jq -n --slurpfile rows "$rows" --slurpfile micro "$micro" \
  --arg load_before "$load_before" --arg load_after "$load_after" \
  --arg cpu "$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1)" \
  --argjson nproc "$(nproc)" --arg kernel "$(uname -r)" --arg date "$(date -u +%FT%TZ)" \
  --arg commit "$(git rev-parse --short HEAD 2>/dev/null || echo unknown)" \
  --argjson quick "$([ -n "$quick" ] && echo true || echo false)" \
  --argjson pg_seconds "$pg_seconds" --argjson redis_seconds "$redis_seconds" \
  '{machine: {cpu: $cpu, nproc: $nproc, kernel: $kernel,
              load_average: {before: $load_before, after: $load_after}},
    date: $date, commit: $commit,
    quick: $quick, seconds_per_run: {postgres: $pg_seconds, redis: $redis_seconds},
    comparisons: $rows, pool_microbenchmark: $micro[0]}' > "$json_out"
jq empty "$json_out" || die "$json_out is not valid JSON"
cp "$json_out" "$out_dir/latest.json"

markdown() {
  jq -r '
    def n: if . == null then "n/a" elif . >= 100 then (. | round | tostring)
           else ((. * 100 | round) / 100 | tostring) end;
    def r: if . >= 10 then (. * 10 | round) / 10 elif . >= 0.1 then (. * 100 | round) / 100
           else (. * 1000 | round) / 1000 end;
    def ms: if . == null then "n/a" else ((. * 1000 | round) / 1000 | tostring) end;
    "Machine: \(.machine.nproc) × \(.machine.cpu), Linux \(.machine.kernel); \(.date), commit \(.commit)" +
    (if .quick then " (quick mode: 1-3 s per run, not representative)" else "" end),
    "Load average (1, 5, 15 min): \(.machine.load_average.before) before, \(.machine.load_average.after) after." +
    " Client CPU = user + system µs of the whole client process per request.",
    "",
    "| workload | clients | connmgr req/s | connmgr p50 / p99 ms | connmgr CPU µs/req | reference | reference req/s | reference CPU µs/req | ratio | CPU ratio |",
    "|---|---:|---:|---:|---:|---|---:|---:|---:|---:|",
    (.comparisons[] |
      "| \(.section): \(.workload)\(if (.connmgr.flavour // "") == "async" then " (\(.connmgr.threads // 1) I/O thr.)" else "" end) | \(.clients) | \(.connmgr.throughput_per_second | n) | " +
      "\(.connmgr.latency_ms.p50 | ms) / \(.connmgr.latency_ms.p99 | ms) | \(.connmgr.cpu_us_per_request | n) | \(.reference.tool) | " +
        "\(.reference.throughput_per_second | n) | \(.reference.cpu_us_per_request | n) | " +
        "\(if .ratio == null then "n/a" else "\(.ratio | r)×" end) | " +
        "\(if .connmgr.cpu_us_per_request == null or .reference.cpu_us_per_request == null or .reference.cpu_us_per_request == 0 then "n/a" else "\(.connmgr.cpu_us_per_request / .reference.cpu_us_per_request | r)×" end) |"),
    (if (.pool_microbenchmark | length) > 0 then
      "", "| pool microbenchmark (fake driver) | acquire+release cycles/s |", "|---|---:|",
      (.pool_microbenchmark[] | "| \(.binary): \(.name) | \(.cycles_per_second | n) |")
     else empty end)' "$1"
}
markdown "$json_out" | tee "$out_dir/latest.md"
log "JSON: $json_out"

failures=0
[ -f "$work/failures" ] && failures=$(wc -l < "$work/failures")
if [ "$failures" -gt 0 ]; then
  log "$failures run(s) failed or had errors"
  exit 1
fi
