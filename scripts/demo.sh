#!/usr/bin/env bash
# The main job, from a clean clone: install, build, start the local servers, show what
# configs/local.yaml changes from the built-in defaults (and where each value comes from), then
# stop the servers.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

bash scripts/install-deps.sh
cmake --preset release >/dev/null
cmake --build --preset release -j "$(nproc)" --target connmgr_cli | grep -vE '^\[[0-9]+/[0-9]+\] ' || true

bash scripts/services.sh start
trap 'bash scripts/services.sh stop' EXIT
eval "$(bash scripts/services.sh env)"

connmgr=build/release/cmd/connmgr/connmgr
echo
echo "== connmgr config --changed (configs/local.yaml): what differs from the built-in defaults"
"$connmgr" --config configs/local.yaml config --changed

# The FalkorDB database `graph` joins when scripts/install-deps.sh could install its server.
dbs=(app app_bouncer main knowledge)
if [ -n "${CONNMGR_TEST_FALKORDB_URL:-}" ]; then dbs+=(graph)
else echo "demo: skipping database graph: ${CONNMGR_TEST_FALKORDB_UNAVAILABLE:-no FalkorDB}" >&2; fi

echo
echo "== connmgr check ${dbs[*]} (configs/local.yaml): open each database's pools and probe it"
"$connmgr" --config configs/local.yaml check "${dbs[@]}"

# A short load through the pools of every local database: 5 s each, sync threads for the
# PostgreSQL ones and async coroutines for the Redis ones and FalkorDB (Cypher `RETURN 1` on
# graph connmgr_bench). Each report ends with that run's pool
# statistics (peak in_use, peak waiters, acquire wait): the pools live in the bench process, so
# they are printed by it (`connmgr stats` shows the pools of a running `connmgr serve`).
echo
for db in "${dbs[@]}"; do
  flavour=sync
  case $db in main|knowledge|graph) flavour=async ;; esac
  echo "== connmgr bench $db --clients 8 --duration 5s --flavour $flavour"
  "$connmgr" --config configs/local.yaml bench "$db" --clients 8 --duration 5s --flavour "$flavour" \
    || echo "connmgr bench $db: exit status $? (errors above)"
  echo
done
