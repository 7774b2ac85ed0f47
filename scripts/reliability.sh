#!/usr/bin/env bash
# The reliability table of issue 16: builds the dev preset, starts the local servers
# (scripts/services.sh, honouring CONNMGR_SERVICES_PORT_OFFSET), runs the `fault` and `load`
# ctest labels, stops the servers again (only if this script started them) and turns every
# `SCENARIO` line the tests print into one Markdown table: scenario x backend x flavour ->
# requests, errors by kind, max hang, recovery time, peak server-side connections vs max_size,
# leaks. A cell a scenario does not measure shows "–". Every cell comes from this one run.
#
#   scripts/reliability.sh [OUT.md]        default: build/dev/reliability.md (also printed)
#   CONNMGR_SOAK_SECONDS=600 scripts/reliability.sh    with the ten-minute soak
#   scripts/reliability.sh --from LOG [OUT.md]         only the table, from a saved ctest -V log
#
# Exits non-zero when a test failed (the table is still written: failures are part of it).
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

log=""
if [ "${1:-}" = "--from" ]; then
  log=${2:?"reliability.sh: --from needs a log file"}
  shift 2
fi
out=${1:-build/dev/reliability.md}

# The table from SCENARIO lines ("SCENARIO name backend flavour: key=value ...").
table() {   # table LOG
  awk '
    function cell(v) { return v == "" ? "–" : v }
    function mib(kb) { return sprintf("%.1f", kb / 1024) }
    /SCENARIO / {
      line = $0
      sub(/^.*SCENARIO /, "", line)
      if (seen[line]++) next
      n = split(line, f, " ")
      scenario = f[1]; backend = f[2]; flavour = f[3]; sub(/:$/, "", flavour)
      delete kv
      errors = ""; counting = 0
      for (i = 4; i <= n; i++) {
        eq = index(f[i], "=")
        if (eq == 0) continue
        k = substr(f[i], 1, eq - 1); v = substr(f[i], eq + 1)
        if (!(k in kv)) kv[k] = v
        # The outcome counts follow requests= up to the first max_wait[...] or longest=.
        if (k == "requests") { counting = 1; continue }
        if (k ~ /^max_wait\[/ || k == "longest") counting = 0
        if (counting && k != "ok") errors = errors (errors == "" ? "" : ", ") k " " v
      }
      if ("requests" in kv && errors == "") errors = "none"
      hang = ("longest" in kv) ? kv["longest"] : ""
      sub(/ms$/, " ms", hang)
      recovery = ("recovery" in kv) ? kv["recovery"] : ""
      sub(/ms$/, " ms", recovery)
      peak = ("peak" in kv && "max_size" in kv) ? kv["peak"] " / " kv["max_size"] : ""
      if (peak != "" && kv["probes_allowed"] > 0) peak = peak " (+" kv["probes_allowed"] " probe)"
      leaks = ""
      if ("fds_warm" in kv)
        leaks = "fds " kv["fds_warm"] "→" kv["fds_end"] " (conns " kv["conns_warm"] "→" \
                kv["conns_end"] "; " kv["fds_baseline"] "→" kv["fds_closed"] " closed), RSS " \
                mib(kv["rss_warm_kb"]) "→" mib(kv["rss_end_kb"]) " MiB"
      else if ("leaked_in_use" in kv)
        leaks = "leases " kv["leaked_in_use"] ", waiters " kv["leaked_waiters"] \
                ", connects " kv["leaked_connecting"]
      printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", scenario, backend, flavour,
             cell(kv["requests"]), cell(errors), cell(hang), cell(recovery), cell(peak), cell(leaks)
      rows++
    }
    END { if (rows == 0) print "| (no SCENARIO lines) | | | | | | | | |" }
  ' "$1"
}

write_report() {   # write_report LOG STATUS-TEXT
  mkdir -p "$(dirname "$out")"
  {
    echo "# Reliability scenarios"
    echo
    echo "Commit $(git rev-parse --short HEAD 2>/dev/null || echo '?'), $(date -u '+%Y-%m-%d %H:%M UTC')," \
         "soak ${CONNMGR_SOAK_SECONDS:-60} s. Reproduce: \`scripts/reliability.sh\`" \
         "(\`CONNMGR_SOAK_SECONDS=600\` for the ten-minute soak). $2"
    echo
    echo "| scenario | backend | flavour | requests | errors by kind | max hang | recovery | peak conns / max_size | leaks (fds, RSS) |"
    echo "|---|---|---|---|---|---|---|---|---|"
    table "$1"
    echo
    echo "Peak and max_size are per pool, except the soak's: per database, both pools (2 × 3)," \
         "and the soak allows one more connection: the manager's health probe (every" \
         "health_check_interval, 30 s by default, under the pools' client name)." \
         "Soak leaks: descriptors at warm-up → end (the pools' connections at those times), at the" \
         "baseline → after close_all(), and RSS at warm-up → end."
  } >"$out"
  cat "$out"
}

if [ -n "$log" ]; then
  write_report "$log" "From $log."
  exit 0
fi

cmake --preset dev >/dev/null || exit 1
cmake --build --preset dev -j "$(nproc)" | grep -vE '^\[[0-9]+/[0-9]+\] '
[ "${PIPESTATUS[0]}" -eq 0 ] || { echo "reliability.sh: build failed" >&2; exit 1; }

# Leave servers that were already up running; stop the ones started here, even on failure.
down=$(bash scripts/services.sh status 2>/dev/null | awk -F': ' '$2 !~ /^up/ {print $1}' | paste -sd ' ' -)
if [ -n "$down" ]; then
  # shellcheck disable=SC2086  # a list of service names
  bash scripts/services.sh start $down || { echo "reliability.sh: could not start: $down" >&2; exit 1; }
  trap "bash scripts/services.sh stop $down" EXIT
fi
eval "$(bash scripts/services.sh env)"

log=build/dev/reliability.log
echo "== ctest -L 'fault|load' (log: $log)"
# Serially: the fault tests restart servers the others use.
ctest --test-dir build/dev -L 'fault|load' -V >"$log" 2>&1
rc=$?
summary=$(grep -E 'tests passed|tests failed' "$log" | tail -1)
failed=$(sed -n '/The following tests FAILED/,$p' "$log" | grep -E '^\s+[0-9]+ - ' | sed 's/^ *//' | paste -sd ';' -)
write_report "$log" "ctest: ${summary:-no summary}${failed:+ — failed: $failed}."
exit $rc
