#!/usr/bin/env bash
# Throwaway local servers for tests and the demo: PostgreSQL 15, PgBouncer (transaction pooling),
# Redis, a password/ACL Redis, a TLS Redis and FalkorDB (valkey-server with the FalkorDB module
# from scripts/install-deps.sh), all on 127.0.0.1 at fixed non-default ports,
# with their data under .run/ of this checkout.
#
#   scripts/services.sh start|stop|restart|status [SERVICE...]   (default: every service)
#   scripts/services.sh env                                       export lines for tests
#   scripts/services.sh pg-ha|sentinel|cluster ACTION [ARG...]    fault helpers (see below)
#
# SERVICE is postgres, pgbouncer, redis, redis-auth, redis-tls or falkordb (skipped with a warning
# when valkey-server or the module is missing; `env` then says why instead of exporting its URL). `start` is idempotent and
# handles stale pid files; `stop` leaves nothing running. PostgreSQL and PgBouncer refuse to run
# as root, so they run as the `postgres` user.
#
# Multi-server topologies for failover tests start only when named (`start pg-ha`); a bare
# `stop` stops them too, and `env` always exports their URLs:
#   pg-ha   PostgreSQL 15 primary (node 0) and two streaming standbys (nodes 1, 2) on
#           55440..55442, same role, password and database as `postgres`
#           (CONNMGR_TEST_PG_HA_URL, CONNMGR_TEST_PG_HA_PORTS, CONNMGR_PG_HA_PORT0..2).
#           pg-ha promote N | stop N [fast|immediate] | kill N | start-node N | freeze N | thaw N
#                 | read-only N on|off | rejoin N | reset | role N | status
#           Each waits until done (promotion finished, standbys streaming, port closed) and exits
#           non-zero with a message otherwise. `reset` brings back node 0 primary, 1 and 2 standbys
#           of it, all up and writable, in well under a second when nobody was promoted; after a
#           promotion it restores the snapshot taken at creation (a few seconds; data written
#           since is gone).
#   sentinel  valkey 8: service mymaster = data nodes 0 (master), 1, 2 on 56450..56452; service
#           graphmaster = FalkorDB nodes 0 (master), 1 on 56455, 56456 (only when the module is
#           installed); sentinels 0, 1, 2 on 56465..56467 monitor both (quorum 2, down after 1 s,
#           failover timeout 5 s). CONNMGR_TEST_SENTINEL_URL, CONNMGR_TEST_FALKORDB_SENTINEL_URL,
#           CONNMGR_TEST_SENTINEL_PORTS, CONNMGR_SENTINEL_PORT0..2.
#           sentinel failover SERVICE (prints the new master) | freeze-master SERVICE | thaw
#                    | stop-sentinel N | start-sentinel N | master SERVICE | reset | status
#           `reset` leaves a topology alone that is as started, else recreates it (no data kept).
#   cluster valkey 8 Redis Cluster: nodes 0..5 on 40001..40006 (bus: port + 10000), nodes 0, 1, 2
#           primaries of slots 0-5460, 5461-10922, 10923-16383, nodes 3, 4, 5 replicas.
#           CONNMGR_TEST_CLUSTER_URL, CONNMGR_TEST_CLUSTER_PORTS, CONNMGR_CLUSTER_PORT0..2.
#           cluster reshard FROM TO SLOTS (valkey-cli --cluster reshard; ~35 ms a slot here)
#                   | failover N (CLUSTER FAILOVER on replica N) | freeze N | thaw N | stop N
#                   | start-node N | reset | status
#           `reset` leaves a cluster alone whose roles and slots are as created, fails back when
#           only failovers changed it (about 1 s each), else recreates it (empty, 3-5 s).
#
# CONNMGR_SERVICES_PORT_OFFSET=N shifts every port by N, so two checkouts (each with its own
# .run/) can run their servers side by side without one's fault tests freezing the other's.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RUN="$ROOT/.run"
PG_BIN=/usr/lib/postgresql/15/bin
off=${CONNMGR_SERVICES_PORT_OFFSET:-0}
[[ $off =~ ^[0-9]+$ ]] && [ "$off" -lt 5000 ] || { echo "services: CONNMGR_SERVICES_PORT_OFFSET must be 0..4999, got '$off'" >&2; exit 2; }
PG_PORT=$((55432 + off)) PGBOUNCER_PORT=$((56432 + off)) REDIS_PORT=$((56379 + off))
REDIS_AUTH_PORT=$((56380 + off)) REDIS_TLS_PORT=$((56381 + off)) FALKORDB_PORT=$((56390 + off))
PG_USER=connmgr PG_PASSWORD=connmgr-secret PG_DB=connmgr_test
REDIS_PASSWORD=redis-secret
ALL=(postgres pgbouncer redis redis-auth redis-tls falkordb)
# Multi-server topologies for failover tests: started only when named.
EXTRA=(pg-ha sentinel cluster)
FALKORDB_MODULE="$RUN/tools/node_modules/@falkordblite/linux-x64/bin/falkordb.so"
VALKEY=/usr/bin/valkey-server

log() { printf 'services: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Waits until `port_open $1` equals $2 (1 = open, 0 = closed), up to ~15 s.
wait_port() {
  local port=$1 want=$2 i
  for i in $(seq 1 150); do
    if port_open "$port"; then [ "$want" = 1 ] && return 0
    else [ "$want" = 0 ] && return 0; fi
    sleep 0.1
  done
  return 1
}

as_postgres() { (cd / && setpriv --reuid=postgres --regid=postgres --init-groups "$@"); }

# A pid from a pid file, if that process is alive and not a zombie.
live_pid() {
  local file=$1 pid state
  [ -s "$file" ] || return 1
  pid=$(head -n1 "$file" | tr -dc '0-9')
  [ -n "$pid" ] || return 1
  state=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null) || return 1
  [ "$state" != Z ] || return 1
  echo "$pid"
}

port_of() {
  case $1 in
    postgres) echo $PG_PORT ;; pgbouncer) echo $PGBOUNCER_PORT ;; redis) echo $REDIS_PORT ;;
    redis-auth) echo $REDIS_AUTH_PORT ;; redis-tls) echo $REDIS_TLS_PORT ;;
    falkordb) echo $FALKORDB_PORT ;;
    *) die "unknown service '$1' (expected one of: ${ALL[*]})" ;;
  esac
}

prepare_run_dir() {
  mkdir -p "$RUN"
  chmod 755 "$RUN"
}

# ---- PostgreSQL -------------------------------------------------------------------------
pg_data="$RUN/pg/data"
pg_ctl() { as_postgres "$PG_BIN/pg_ctl" -D "$pg_data" "$@"; }

start_postgres() {
  if [ ! -s "$pg_data/PG_VERSION" ]; then
    log "initdb in $pg_data"
    mkdir -p "$RUN/pg/sock"
    chown -R postgres:postgres "$RUN/pg"
    chmod 700 "$RUN/pg"
    local pwfile="$RUN/pg/pw"
    echo "postgres-superuser-$$" > "$pwfile" && chown postgres "$pwfile"
    as_postgres "$PG_BIN/initdb" -D "$pg_data" --no-sync -U postgres --pwfile="$pwfile" \
      --auth-local=trust --auth-host=scram-sha-256 >"$RUN/pg/initdb.log" 2>&1 \
      || { cat "$RUN/pg/initdb.log" >&2; die "initdb failed"; }
    rm -f "$pwfile"
    local fresh=1
  fi
  if ! port_open $PG_PORT; then
    # A postmaster killed with SIGKILL leaves its lock files (data dir and socket), and while
    # init has not reaped it the zombie makes a new postmaster believe it still runs ("lock
    # file already exists").
    if [ -f "$pg_data/postmaster.pid" ] && ! live_pid "$pg_data/postmaster.pid" >/dev/null; then
      rm -f "$pg_data/postmaster.pid" "$RUN/pg/sock/.s.PGSQL.$PG_PORT" "$RUN/pg/sock/.s.PGSQL.$PG_PORT.lock"
    fi
    pg_ctl -w -t 30 -l "$RUN/pg/server.log" -o "-c listen_addresses=127.0.0.1 -p $PG_PORT \
      -k $RUN/pg/sock -c fsync=off -c synchronous_commit=off -c full_page_writes=off \
      -c max_connections=300" start >/dev/null || { tail -20 "$RUN/pg/server.log" >&2; die "postgres did not start"; }
  fi
  # Idempotent role and database creation (cheap enough to run on every start).
  local psql=(as_postgres env PGOPTIONS="-c client_min_messages=warning" "$PG_BIN/psql" -h "$RUN/pg/sock" -p $PG_PORT -U postgres -v ON_ERROR_STOP=1 -qAt)
  if [ "$("${psql[@]}" -d postgres -c "SELECT 1 FROM pg_roles WHERE rolname='$PG_USER'")" != 1 ]; then
    "${psql[@]}" -d postgres -c "CREATE ROLE $PG_USER LOGIN PASSWORD '$PG_PASSWORD'"
  fi
  if [ "$("${psql[@]}" -d postgres -c "SELECT 1 FROM pg_database WHERE datname='$PG_DB'")" != 1 ]; then
    "${psql[@]}" -d postgres -c "CREATE DATABASE $PG_DB OWNER $PG_USER"
  fi
  # Tests read pg_stat_activity for every backend and may terminate pooled ones.
  "${psql[@]}" -d postgres -c "GRANT pg_read_all_stats, pg_signal_backend TO $PG_USER" >/dev/null
  # The connection-limit scenario creates (and drops) a role with a CONNECTION LIMIT.
  "${psql[@]}" -d postgres -c "ALTER ROLE $PG_USER CREATEROLE" >/dev/null
}

stop_postgres() {
  [ -s "$pg_data/PG_VERSION" ] || return 0
  if [ -f "$pg_data/postmaster.pid" ]; then pg_ctl -w -t 30 -m fast stop >/dev/null 2>&1 || true; fi
  wait_port $PG_PORT 0 || die "postgres still listens on $PG_PORT"
}

restart_postgres() {
  pg_ctl -w -t 30 -m fast restart -l "$RUN/pg/server.log" >/dev/null || die "postgres restart failed"
}

# ---- PgBouncer --------------------------------------------------------------------------
start_pgbouncer() {
  local dir="$RUN/pgbouncer"
  if pid=$(live_pid "$dir/pgbouncer.pid") && port_open $PGBOUNCER_PORT; then return 0; fi
  mkdir -p "$dir" && rm -f "$dir/pgbouncer.pid"
  cat > "$dir/pgbouncer.ini" <<INI
[databases]
$PG_DB = host=127.0.0.1 port=$PG_PORT dbname=$PG_DB
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $PGBOUNCER_PORT
unix_socket_dir =
auth_type = scram-sha-256
auth_file = $dir/userlist.txt
pool_mode = transaction
max_client_conn = 1000
default_pool_size = 40
ignore_startup_parameters = extra_float_digits
server_login_retry = 1
# Tests count their client connections with SHOW CLIENTS on the admin console.
stats_users = $PG_USER
logfile = $dir/pgbouncer.log
pidfile = $dir/pgbouncer.pid
INI
  printf '"%s" "%s"\n' "$PG_USER" "$PG_PASSWORD" > "$dir/userlist.txt"
  chown -R postgres:postgres "$dir" && chmod 700 "$dir"
  as_postgres /usr/sbin/pgbouncer -d -q "$dir/pgbouncer.ini" || die "pgbouncer did not start"
  wait_port $PGBOUNCER_PORT 1 || die "pgbouncer not listening on $PGBOUNCER_PORT"
}

stop_pgbouncer() {
  local pid
  if pid=$(live_pid "$RUN/pgbouncer/pgbouncer.pid"); then kill "$pid" 2>/dev/null || true; fi
  wait_port $PGBOUNCER_PORT 0 || die "pgbouncer still listens on $PGBOUNCER_PORT"
  rm -f "$RUN/pgbouncer/pgbouncer.pid"
}

# ---- Redis ------------------------------------------------------------------------------
make_tls_material() {
  local tls="$RUN/tls"
  [ -s "$tls/server.pem" ] && return 0
  mkdir -p "$tls"
  openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=connmgr test CA" \
    -keyout "$tls/ca.key" -out "$tls/ca.pem" >/dev/null 2>&1
  openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" \
    -keyout "$tls/server.key" -out "$tls/server.csr" >/dev/null 2>&1
  printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' > "$tls/san.ext"
  openssl x509 -req -in "$tls/server.csr" -CA "$tls/ca.pem" -CAkey "$tls/ca.key" \
    -CAcreateserial -days 3650 -extfile "$tls/san.ext" -out "$tls/server.pem" >/dev/null 2>&1
}

redis_args() {
  local name=$1 port
  port=$(port_of "$name")
  local args=(--bind 127.0.0.1 --save '' --appendonly no --daemonize yes
              --dir "$RUN/$name" --pidfile "$RUN/$name/redis.pid" --logfile "$RUN/$name/redis.log"
              --maxclients 2000)
  case $name in
    redis) args+=(--port "$port") ;;
    redis-auth) args+=(--port "$port" --requirepass "$REDIS_PASSWORD"
                       --user connmgr on ">$REDIS_PASSWORD" '~*' '&*' '+@all') ;;
    redis-tls) args+=(--port 0 --tls-port "$port" --tls-cert-file "$RUN/tls/server.pem"
                      --tls-key-file "$RUN/tls/server.key" --tls-ca-cert-file "$RUN/tls/ca.pem"
                      --tls-auth-clients no) ;;
    falkordb) args+=(--port "$port" --loadmodule "$FALKORDB_MODULE") ;;
  esac
  printf '%s\0' "${args[@]}"
}

start_redis_like() {
  local name=$1 port pid
  port=$(port_of "$name")
  if pid=$(live_pid "$RUN/$name/redis.pid") && port_open "$port"; then return 0; fi
  mkdir -p "$RUN/$name" && rm -f "$RUN/$name/redis.pid"
  [ "$name" = redis-tls ] && make_tls_material
  local args=()
  mapfile -d '' args < <(redis_args "$name")
  local server=redis-server
  [ "$name" = falkordb ] && server=$VALKEY
  "$server" "${args[@]}" || die "$name did not start"
  wait_port "$port" 1 || { tail -5 "$RUN/$name/redis.log" >&2; die "$name not listening on $port"; }
}

stop_redis_like() {
  local name=$1 port pid
  port=$(port_of "$name")
  if pid=$(live_pid "$RUN/$name/redis.pid"); then kill "$pid" 2>/dev/null || true; fi
  wait_port "$port" 0 || die "$name still listens on $port"
  rm -f "$RUN/$name/redis.pid"
}

# FalkorDB refuses redis-server 7.0; it needs valkey 8 (bookworm-backports) and the npm module.
falkordb_unavailable() {
  if [ ! -x "$VALKEY" ]; then echo "valkey-server is not installed (run scripts/install-deps.sh)"
  elif [ ! -s "$FALKORDB_MODULE" ]; then echo "no FalkorDB module at $FALKORDB_MODULE (run scripts/install-deps.sh)"
  else return 1; fi
}

start_falkordb() {
  local why
  if why=$(falkordb_unavailable); then log "warning: skipping falkordb: $why"; return 0; fi
  start_redis_like falkordb
}

# ---- PostgreSQL HA: a primary and two streaming standbys (not in the default set) ---------
# Nodes 0, 1 and 2 on ports 55440..55442 (+ offset), data in .run/pg-ha/nodeN. Replication and
# the helpers' admin sessions use the `postgres` superuser over the shared unix socket directory
# (trust); clients use TCP with the `connmgr` role's password, as with the plain service.
# full_page_writes stays on: pg_rewind refuses a source server without it. synchronous_commit
# stays on too (fsync is off, so it costs a write(), not a disk flush): a commit is then in the
# WAL, and so on its way to the standbys, before the client hears of it, and a SIGKILL'd node
# keeps what it acknowledged.
PGHA="$RUN/pg-ha"
PGHA_SOCK="$PGHA/sock"
PGHA_NODES=(0 1 2)
pgha_port() { echo $((55440 + $1 + off)); }
pgha_data() { echo "$PGHA/node$1"; }
pgha_log() { echo "$PGHA/node$1.log"; }
pgha_ctl() { local n=$1; shift; as_postgres "$PG_BIN/pg_ctl" -D "$(pgha_data "$n")" "$@"; }
pgha_node() { [[ ${1:-} =~ ^[012]$ ]] || die "pg-ha: node must be 0, 1 or 2, got '${1:-}'"; }
pgha_conninfo() { echo "host=$PGHA_SOCK port=$(pgha_port "$1") user=postgres application_name=pg-ha-node$2"; }

# psql as `postgres` on node N; the admin session itself is never read-only.
pgha_psql() {
  local n=$1; shift
  as_postgres env PGOPTIONS="-c client_min_messages=warning -c default_transaction_read_only=off" \
    PGCONNECT_TIMEOUT=3 "$PG_BIN/psql" -h "$PGHA_SOCK" -p "$(pgha_port "$n")" -U postgres \
    -d postgres -v ON_ERROR_STOP=1 -qAtX "$@"
}

# The postmaster's pid, if it runs (a zombie does not count).
pgha_pid() { live_pid "$(pgha_data "$1")/postmaster.pid"; }

# Prints primary, standby or down (not listening, or not answering within 3 s: e.g. frozen).
pgha_role() {
  local n=$1 r
  port_open "$(pgha_port "$n")" || { echo down; return; }
  r=$(pgha_psql "$n" -c "SELECT pg_is_in_recovery()" 2>/dev/null) || { echo down; return; }
  case $r in t) echo standby ;; f) echo primary ;; *) echo down ;; esac
}

# Waits (up to ~15 s) until standby N streams from node P.
pgha_wait_streaming() {
  local n=$1 p=$2 want i
  want=$(pgha_port "$p")
  for i in $(seq 1 150); do
    [ "$(pgha_psql "$n" -c "SELECT sender_port FROM pg_stat_wal_receiver WHERE status = 'streaming'" 2>/dev/null)" = "$want" ] && return 0
    sleep 0.1
  done
  tail -5 "$(pgha_log "$n")" >&2
  die "pg-ha: node $n does not stream from node $p (port $want) after 15 s; if its history diverged, run: services.sh pg-ha rejoin $n"
}

# Sends SIG to the postmaster and every child (backends, walsender, walreceiver...).
pgha_signal() {
  local n=$1 sig=$2 pid kids
  pid=$(pgha_pid "$n") || return 1
  kill "-$sig" "$pid" 2>/dev/null || true
  kids=$(ps -o pid= --ppid "$pid" | tr -s ' \n' ' ')
  # shellcheck disable=SC2086
  [ -z "${kids// /}" ] || kill "-$sig" $kids 2>/dev/null || true
}

pgha_start_node() {
  local n=$1 d port
  d=$(pgha_data "$n") port=$(pgha_port "$n")
  [ -s "$d/PG_VERSION" ] || die "pg-ha: node $n has no data directory (run: services.sh start pg-ha)"
  port_open "$port" && return 0
  # After a SIGKILL the lock files stay behind (see start_postgres).
  if [ -f "$d/postmaster.pid" ] && ! pgha_pid "$n" >/dev/null; then
    rm -f "$d/postmaster.pid" "$PGHA_SOCK/.s.PGSQL.$port" "$PGHA_SOCK/.s.PGSQL.$port.lock"
  fi
  pgha_ctl "$n" -w -t 60 -l "$(pgha_log "$n")" -o "-p $port" start >/dev/null \
    || { tail -20 "$(pgha_log "$n")" >&2; die "pg-ha: node $n did not start (log: $(pgha_log "$n"))"; }
}

pgha_stop_node() {
  local n=$1 mode=${2:-fast} port
  [[ $mode =~ ^(smart|fast|immediate)$ ]] || die "pg-ha: stop mode must be fast or immediate, got '$mode'"
  port=$(pgha_port "$n")
  [ -s "$(pgha_data "$n")/PG_VERSION" ] || return 0
  pgha_signal "$n" CONT || true   # a frozen postmaster would never stop
  if pgha_pid "$n" >/dev/null; then
    pgha_ctl "$n" -w -t 30 -m "$mode" stop >/dev/null 2>&1 \
      || ! pgha_pid "$n" >/dev/null || die "pg-ha: node $n did not stop (-m $mode)"
  fi
  wait_port "$port" 0 || die "pg-ha: node $n still listens on $port"
}

# SIGKILL: the postmaster first (so it restarts no backend), then its children.
pgha_kill_node() {
  local n=$1 pid kids i
  pid=$(pgha_pid "$n") || die "pg-ha: node $n is not running"
  kids=$(ps -o pid= --ppid "$pid" | tr -s ' \n' ' ')
  # shellcheck disable=SC2086
  kill -KILL "$pid" $kids 2>/dev/null || true
  wait_port "$(pgha_port "$n")" 0 || die "pg-ha: node $n still listens after SIGKILL"
  for i in $(seq 1 100); do
    local alive=0 p state
    for p in $pid $kids; do
      state=$(awk '{print $3}' "/proc/$p/stat" 2>/dev/null) || continue
      [ "$state" = Z ] || alive=1
    done
    [ $alive = 0 ] && return 0
    sleep 0.05
  done
  die "pg-ha: node $n: processes $pid $kids survive SIGKILL"
}

pgha_freeze() {
  local n=$1 pid kids
  pid=$(pgha_pid "$n") || die "pg-ha: node $n is not running"
  kill -STOP "$pid"   # first, so that it forks nothing while its children are stopped
  kids=$(ps -o pid= --ppid "$pid" | tr -s ' \n' ' ')
  # shellcheck disable=SC2086
  [ -z "${kids// /}" ] || kill -STOP $kids 2>/dev/null || true
}

# The one node (other than $1, if given) that answers as a primary.
pgha_current_primary() {
  local skip=${1:-} n found=()
  for n in "${PGHA_NODES[@]}"; do
    [ "$n" = "$skip" ] && continue
    [ "$(pgha_role "$n")" = primary ] && found+=("$n")
  done
  [ ${#found[@]} -eq 1 ] || die "pg-ha: expected one primary${skip:+ besides node $skip}, found ${#found[@]} (${found[*]:-none})"
  echo "${found[0]}"
}

# Standby N streams from node P from now on (primary_conninfo is reloadable; the timeline
# switch is followed because recovery_target_timeline is 'latest').
pgha_follow() {
  local n=$1 p=$2
  pgha_psql "$n" -c "ALTER SYSTEM SET primary_conninfo = '$(pgha_conninfo "$p" "$n")'" \
    -c "SELECT pg_reload_conf()" >/dev/null || die "pg-ha: could not point node $n at node $p"
  pgha_wait_streaming "$n" "$p"
}

pgha_promote() {
  local n=$1 role m
  role=$(pgha_role "$n")
  [ "$role" = standby ] || die "pg-ha: node $n is $role, not a standby: nothing to promote"
  pgha_ctl "$n" -w -t 60 promote >/dev/null || die "pg-ha: promoting node $n failed (log: $(pgha_log "$n"))"
  [ "$(pgha_role "$n")" = primary ] || die "pg-ha: node $n is not a primary after promotion"
  # The other running standbys follow the new primary.
  for m in "${PGHA_NODES[@]}"; do
    [ "$m" = "$n" ] && continue
    [ "$(pgha_role "$m")" = standby ] && pgha_follow "$m" "$n"
  done
  return 0
}

pgha_read_only() {
  local n=$1 on=$2 sql i want
  case $on in
    on) sql="ALTER SYSTEM SET default_transaction_read_only = on" want=on ;;
    off) sql="ALTER SYSTEM RESET default_transaction_read_only" want=off ;;
    *) die "pg-ha: read-only takes on or off, got '$on'" ;;
  esac
  pgha_psql "$n" -c "$sql" -c "SELECT pg_reload_conf()" >/dev/null || die "pg-ha: node $n: $sql failed"
  # The postmaster rereads the file asynchronously: wait until a new session sees the value.
  for i in $(seq 1 100); do
    [ "$(as_postgres env PGCONNECT_TIMEOUT=3 "$PG_BIN/psql" -h "$PGHA_SOCK" -p "$(pgha_port "$n")" \
         -U postgres -d postgres -qAtX -c "SHOW default_transaction_read_only" 2>/dev/null)" = "$want" ] && return 0
    sleep 0.05
  done
  die "pg-ha: node $n: default_transaction_read_only is not $want after 5 s"
}

# Makes node N a standby of the current primary: pg_rewind -R (which first runs crash recovery
# in single-user mode when N was killed), else a fresh base backup.
pgha_rejoin() {
  local n=$1 p d port
  p=$(pgha_current_primary "$n")
  d=$(pgha_data "$n") port=$(pgha_port "$n")
  if [ "$(pgha_role "$n")" = standby ] &&
     [ "$(pgha_psql "$n" -c "SELECT sender_port FROM pg_stat_wal_receiver WHERE status = 'streaming'" 2>/dev/null)" = "$(pgha_port "$p")" ]; then
    return 0   # already streaming from the primary
  fi
  pgha_stop_node "$n" fast
  if [ -f "$d/postmaster.pid" ] && ! pgha_pid "$n" >/dev/null; then
    rm -f "$d/postmaster.pid" "$PGHA_SOCK/.s.PGSQL.$port" "$PGHA_SOCK/.s.PGSQL.$port.lock"
  fi
  # A promoted server's pg_control names its new timeline only after a checkpoint; without one
  # pg_rewind sees "the same timeline" and rewinds nothing.
  pgha_psql "$p" -c CHECKPOINT >/dev/null || die "pg-ha: CHECKPOINT on node $p failed"
  if as_postgres "$PG_BIN/pg_rewind" -D "$d" --source-server="$(pgha_conninfo "$p" "$n") dbname=postgres" \
       -R --no-sync >"$PGHA/rewind$n.log" 2>&1; then
    touch "$d/standby.signal" && chown postgres:postgres "$d/standby.signal"
  else
    log "pg-ha: pg_rewind of node $n failed ($(tail -1 "$PGHA/rewind$n.log")); taking a fresh base backup"
    pgha_basebackup "$p" "$n"
  fi
  pgha_start_node "$n"
  pgha_follow "$n" "$p"
}

# A fresh copy of node P's data as a standby N of it.
pgha_basebackup() {
  local p=$1 n=$2 d
  d=$(pgha_data "$n")
  rm -rf "$d"
  as_postgres "$PG_BIN/pg_basebackup" -h "$PGHA_SOCK" -p "$(pgha_port "$p")" -U postgres -D "$d" \
    -X stream -R -c fast --no-sync -d "$(pgha_conninfo "$p" "$n")" >"$PGHA/basebackup$n.log" 2>&1 \
    || { cat "$PGHA/basebackup$n.log" >&2; die "pg-ha: pg_basebackup of node $p into node $n failed"; }
}

# First start: initdb node 0, the role and database, base backups for 1 and 2; then a clean
# snapshot of all three in .run/pg-ha/pristine for `pg-ha reset`.
pgha_create() {
  local n
  log "pg-ha: creating a primary and two standbys in $PGHA"
  for n in "${PGHA_NODES[@]}"; do pgha_stop_node "$n" immediate; done
  rm -rf "$PGHA"
  mkdir -p "$PGHA_SOCK"
  chown -R postgres:postgres "$PGHA" && chmod 700 "$PGHA"
  local pwfile="$PGHA/pw" d0
  d0=$(pgha_data 0)
  echo "postgres-superuser-$$" > "$pwfile" && chown postgres "$pwfile"
  # 1 MB WAL segments keep the copies small (pristine snapshot, base backups).
  as_postgres "$PG_BIN/initdb" -D "$d0" --no-sync --wal-segsize=1 -U postgres --pwfile="$pwfile" \
    --auth-local=trust --auth-host=scram-sha-256 >"$PGHA/initdb.log" 2>&1 \
    || { cat "$PGHA/initdb.log" >&2; die "pg-ha: initdb failed"; }
  rm -f "$pwfile"
  cat >> "$d0/postgresql.conf" <<CONF

# scripts/services.sh pg-ha (copied to the standbys by pg_basebackup)
listen_addresses = '127.0.0.1'
unix_socket_directories = '$PGHA_SOCK'
fsync = off
max_connections = 200
wal_log_hints = on
min_wal_size = '4MB'
max_wal_size = '64MB'
wal_keep_size = '64MB'
wal_retrieve_retry_interval = '200ms'
CONF
  pgha_start_node 0
  local psql=(pgha_psql 0)
  "${psql[@]}" -c "CREATE ROLE $PG_USER LOGIN PASSWORD '$PG_PASSWORD' CREATEROLE" \
    -c "CREATE DATABASE $PG_DB OWNER $PG_USER" \
    -c "GRANT pg_read_all_stats, pg_signal_backend TO $PG_USER" >/dev/null \
    || die "pg-ha: creating the role and database failed"
  for n in 1 2; do pgha_basebackup 0 "$n"; pgha_start_node "$n"; done
  for n in 1 2; do pgha_wait_streaming "$n" 0; done
  # The primary first: its shutdown checkpoint reaches the standbys before they stop.
  for n in "${PGHA_NODES[@]}"; do pgha_stop_node "$n" fast; done
  mkdir -p "$PGHA/pristine"
  for n in "${PGHA_NODES[@]}"; do cp -a "$(pgha_data "$n")" "$PGHA/pristine/node$n"; done
}

start_pg_ha() {
  local n
  [ -s "$PGHA/pristine/node2/PG_VERSION" ] || pgha_create
  for n in "${PGHA_NODES[@]}"; do pgha_start_node "$n"; done
}

stop_pg_ha() {
  local n
  for n in "${PGHA_NODES[@]}"; do pgha_stop_node "$n" fast; done
}

# Back to node 0 primary, 1 and 2 streaming from it, all up, none read-only. When no node was
# ever promoted (no timeline history file anywhere), the nodes that are down are started and
# read-only is turned off; otherwise all three are replaced by the pristine copies from the first
# start (tables created since are gone in that case).
pgha_reset() {
  local n history=0
  [ -s "$PGHA/pristine/node2/PG_VERSION" ] || die "pg-ha: not created yet (run: services.sh start pg-ha)"
  for n in "${PGHA_NODES[@]}"; do
    pgha_signal "$n" CONT || true
    compgen -G "$(pgha_data "$n")/pg_wal/*.history" >/dev/null && history=1
  done
  # In a subshell: whatever fails there (and says why) falls back to the pristine copies.
  if [ $history = 0 ] && (pgha_reset_in_place); then return 0; fi
  log "pg-ha: restoring the pristine copies"
  for n in "${PGHA_NODES[@]}"; do pgha_stop_node "$n" immediate; done
  for n in "${PGHA_NODES[@]}"; do
    rm -rf "$(pgha_data "$n")"
    cp -a "$PGHA/pristine/node$n" "$(pgha_data "$n")"
  done
  for n in "${PGHA_NODES[@]}"; do pgha_start_node "$n"; done
  for n in 1 2; do pgha_wait_streaming "$n" 0; done
}

pgha_reset_in_place() {
  local n
  for n in "${PGHA_NODES[@]}"; do pgha_start_node "$n"; done
  if [ "$(pgha_role 0)" != primary ] || [ "$(pgha_role 1)" != standby ] || [ "$(pgha_role 2)" != standby ]; then
    log "pg-ha: unexpected roles ($(pgha_role 0) $(pgha_role 1) $(pgha_role 2))"
    return 1
  fi
  for n in "${PGHA_NODES[@]}"; do
    if grep -q '^default_transaction_read_only' "$(pgha_data "$n")/postgresql.auto.conf"; then
      pgha_read_only "$n" off
    fi
  done
  for n in 1 2; do pgha_wait_streaming "$n" 0; done
}

pgha_status() {
  local n rc=0 role
  for n in "${PGHA_NODES[@]}"; do
    role=$(pgha_role "$n")
    echo "pg-ha node $n: $role on 127.0.0.1:$(pgha_port "$n")"
    [ "$role" = down ] && rc=3
  done
  return $rc
}

pgha_usage() {
  cat >&2 <<USAGE
usage: $0 pg-ha promote N | stop N [fast|immediate] | kill N | start-node N | freeze N | thaw N
                | read-only N on|off | rejoin N | reset | role N | status      (N = 0, 1, 2)
USAGE
  exit 2
}

pgha_action() {
  local action=${1:-} n=${2:-}
  case $action in ""|help|-h|--help) pgha_usage ;; esac
  [ -s "$PGHA/pristine/node2/PG_VERSION" ] || [ "$action" = status ] || die "pg-ha: not created yet (run: services.sh start pg-ha)"
  case $action in
    promote|stop|kill|start-node|freeze|thaw|read-only|rejoin|role) pgha_node "$n" ;;
  esac
  case $action in
    promote) pgha_promote "$n" ;;
    stop) pgha_stop_node "$n" "${3:-fast}" ;;
    kill) pgha_kill_node "$n" ;;
    start-node) pgha_start_node "$n" ;;
    freeze) pgha_freeze "$n" ;;
    thaw) pgha_signal "$n" CONT || die "pg-ha: node $n is not running" ;;
    read-only) pgha_read_only "$n" "${3:-}" ;;
    rejoin) pgha_rejoin "$n" ;;
    reset) pgha_reset ;;
    role) pgha_role "$n" ;;
    status) pgha_status ;;
    *) pgha_usage ;;
  esac
}

# ---- valkey instances of the multi-server topologies ---------------------------------------
# One valkey-server (or sentinel) per directory: DIR/redis.pid, DIR/redis.log.
vk_start() {  # DIR PORT [ARG...]  (started only when its port is closed)
  local dir=$1 port=$2; shift 2
  port_open "$port" && return 0
  [ -x "$VALKEY" ] || die "valkey-server is not installed (run scripts/install-deps.sh)"
  mkdir -p "$dir" && rm -f "$dir/redis.pid"
  "$VALKEY" "$@" --port "$port" --bind 127.0.0.1 --daemonize yes --dir "$dir" \
    --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" || die "valkey on port $port did not start"
  wait_port "$port" 1 || { tail -5 "$dir/redis.log" >&2; die "valkey not listening on $port (log: $dir/redis.log)"; }
}
vk_stop() {  # DIR PORT
  local dir=$1 port=$2 pid
  if pid=$(live_pid "$dir/redis.pid"); then kill -CONT "$pid" 2>/dev/null || true; kill "$pid" 2>/dev/null || true; fi
  wait_port "$port" 0 || die "valkey still listens on $port (pid file $dir/redis.pid)"
  rm -f "$dir/redis.pid"
}
vk_signal() {  # DIR SIG
  local pid
  pid=$(live_pid "$1/redis.pid") || return 1
  kill "-$2" "$pid"
}
vk_cli() { timeout 3 valkey-cli -h 127.0.0.1 "$@"; }   # a frozen server accepts and never answers
# Fields of a `key value key value ...` reply (SENTINEL MASTER) or `key:value` lines (INFO).
vk_field() { awk -v k="$1" 'f { print; exit } $0 == k { f = 1 }'; }
vk_info() { tr -d '\r' | awk -F: -v k="$1" '$1 == k { print $2; exit }'; }

# ---- Redis Sentinel: masters, replicas and three sentinels (not in the default set) --------
# Service mymaster: data nodes 0 (master), 1, 2 on 56450..56452; service graphmaster (FalkorDB,
# when the module is installed): graph nodes 0 (master), 1 on 56455, 56456; sentinels 0, 1, 2
# on 56465..56467, each monitoring both services with quorum 2.
SENT="$RUN/sentinel"
sent_port() {  # KIND N   (KIND: data, graph, sentinel)
  case $1 in data) echo $((56450 + $2 + off)) ;; graph) echo $((56455 + $2 + off)) ;;
             sentinel) echo $((56465 + $2 + off)) ;; esac
}
sent_dir() { echo "$SENT/$1$2"; }
sent_nodes() { case $1 in data|sentinel) echo 0 1 2 ;; graph) echo 0 1 ;; esac; }
sent_kind_of() { case $1 in mymaster) echo data ;; graphmaster) echo graph ;; *) die "sentinel: unknown service '$1' (expected mymaster or graphmaster)" ;; esac; }
sent_any_up() {
  local kind n
  for kind in data graph sentinel; do
    for n in $(sent_nodes $kind); do port_open "$(sent_port "$kind" "$n")" && return 0; done
  done
  return 1
}
sent_has_graph() { [ -s "$SENT/graph" ]; }   # decided at creation: was the module there?
sent_services() { echo mymaster; sent_has_graph && echo graphmaster; return 0; }

sent_start_data() {  # KIND N
  local kind=$1 n=$2 args=(--save '' --appendonly no --maxclients 2000 --repl-diskless-sync-delay 0)
  [ "$kind" = graph ] && args+=(--loadmodule "$FALKORDB_MODULE")
  [ "$n" = 0 ] || args+=(--replicaof 127.0.0.1 "$(sent_port "$kind" 0)")
  vk_start "$(sent_dir "$kind" "$n")" "$(sent_port "$kind" "$n")" "${args[@]}"
}

sent_id() { printf 'connmgr-sentinel-%s' "$1" | sha1sum | cut -c1-40; }
# The sentinels are told of each other and of the replicas up front (fixed ids), instead of
# finding them through hello messages every 2 s: they agree at once.
sent_write_conf() {  # N
  local me=$1 dir conf s kind m r
  dir=$(sent_dir sentinel "$me") conf="$(sent_dir sentinel "$me")/sentinel.conf"
  mkdir -p "$dir"
  { echo "sentinel myid $(sent_id "$me")"
    for s in $(sent_services); do
      kind=$(sent_kind_of "$s")
      echo "sentinel monitor $s 127.0.0.1 $(sent_port "$kind" 0) 2"
      echo "sentinel down-after-milliseconds $s 1000"
      echo "sentinel failover-timeout $s 5000"
      echo "sentinel parallel-syncs $s 1"
      for r in $(sent_nodes "$kind"); do
        [ "$r" = 0 ] || echo "sentinel known-replica $s 127.0.0.1 $(sent_port "$kind" "$r")"
      done
      for m in 0 1 2; do
        [ "$m" = "$me" ] || echo "sentinel known-sentinel $s 127.0.0.1 $(sent_port sentinel "$m") $(sent_id "$m")"
      done
    done; } > "$conf"
}

# Sentinel N with its own (rewritten by it) configuration: what it learned survives a restart.
sent_start_sentinel() {
  local dir
  dir=$(sent_dir sentinel "$1")
  [ -s "$dir/sentinel.conf" ] || die "sentinel: no configuration for sentinel $1 (run: services.sh start sentinel)"
  vk_start "$dir" "$(sent_port sentinel "$1")" "$dir/sentinel.conf" --sentinel
}

# What sentinel N says about SERVICE (SENTINEL MASTER field).
sent_master_field() { vk_cli -p "$(sent_port sentinel "$1")" --raw SENTINEL MASTER "$2" 2>/dev/null | vk_field "$3"; }
sent_master_addr() {  # N SERVICE -> host:port
  vk_cli -p "$(sent_port sentinel "$1")" --raw SENTINEL GET-MASTER-ADDR-BY-NAME "$2" 2>/dev/null | paste -sd: -
}

# Every sentinel that runs knows SERVICE's master at PORT, its replicas (REPLICAS) and the
# other two sentinels, and the master sees its replicas online.
sent_settled() {  # SERVICE PORT REPLICAS
  local s=$1 port=$2 replicas=$3 n flags
  for n in 0 1 2; do
    port_open "$(sent_port sentinel "$n")" || continue
    [ "$(sent_master_addr "$n" "$s")" = "127.0.0.1:$port" ] || return 1
    flags=$(sent_master_field "$n" "$s" flags)
    [ "$flags" = master ] || return 1
    [ "$(sent_master_field "$n" "$s" num-slaves)" = "$replicas" ] || return 1
    [ "$(sent_master_field "$n" "$s" num-other-sentinels)" = 2 ] || return 1
  done
  [ "$(vk_cli -p "$port" INFO replication 2>/dev/null | grep -c 'state=online')" = "$replicas" ]
}
sent_wait_settled() {  # SERVICE PORT REPLICAS [SECONDS]
  local i
  for i in $(seq 1 $((${4:-15} * 10))); do sent_settled "$1" "$2" "$3" && return 0; sleep 0.1; done
  die "sentinel: $1 did not settle on master 127.0.0.1:$2 with $3 replicas and 3 sentinels within ${4:-15} s"
}
sent_replicas() { case $1 in mymaster) echo 2 ;; graphmaster) echo 1 ;; esac; }

start_sentinel() {
  local kind n s why
  [ -x "$VALKEY" ] || die "sentinel: valkey-server is not installed (run scripts/install-deps.sh)"
  command -v valkey-cli >/dev/null || die "sentinel: valkey-cli is not installed (run scripts/install-deps.sh)"
  # Nothing is persisted: with no server left running, start afresh (the sentinels' files would
  # otherwise name a master that now starts as a replica).
  sent_any_up || rm -rf "$SENT"
  if [ ! -s "$(sent_dir sentinel 0)/sentinel.conf" ]; then
    rm -rf "$SENT" && mkdir -p "$SENT"
    if why=$(falkordb_unavailable); then log "warning: sentinel: no graphmaster: $why"
    else echo "$FALKORDB_MODULE" > "$SENT/graph"; fi
    for n in 0 1 2; do sent_write_conf "$n"; done
  fi
  for kind in data graph; do
    [ $kind = graph ] && ! sent_has_graph && continue
    for n in $(sent_nodes $kind); do sent_start_data "$kind" "$n"; done
  done
  for n in 0 1 2; do sent_start_sentinel "$n"; done
  for s in $(sent_services); do
    sent_wait_settled "$s" "$(sent_current_master_port "$s")" "$(sent_replicas "$s")"
  done
}

stop_sentinel() {
  local kind n
  [ -d "$SENT" ] || return 0
  for kind in sentinel data graph; do
    for n in $(sent_nodes $kind); do vk_stop "$(sent_dir "$kind" "$n")" "$(sent_port "$kind" "$n")"; done
  done
}

# The port of SERVICE's master as the first sentinel that answers sees it.
sent_current_master_port() {
  local n addr
  for n in 0 1 2; do
    addr=$(sent_master_addr "$n" "$1")
    [ -n "$addr" ] && { echo "${addr##*:}"; return 0; }
  done
  die "sentinel: no sentinel answers for $1"
}
# The directory of the data node listening on PORT.
sent_dir_of_port() {
  local kind n
  for kind in data graph; do
    for n in $(sent_nodes $kind); do
      [ "$(sent_port "$kind" "$n")" = "$1" ] && { sent_dir "$kind" "$n"; return 0; }
    done
  done
  die "sentinel: no data node on port $1"
}

sent_all_name() {  # SERVICE PORT: every running sentinel names 127.0.0.1:PORT as the master
  local n
  for n in 0 1 2; do
    port_open "$(sent_port sentinel "$n")" || continue
    [ "$(sent_master_addr "$n" "$1")" = "127.0.0.1:$2" ] || return 1
  done
}

sent_failover() {
  local s=$1 kind old new i n
  kind=$(sent_kind_of "$s")
  old=$(sent_current_master_port "$s")
  for n in 0 1 2; do
    port_open "$(sent_port sentinel "$n")" || continue
    local reply
    reply=$(vk_cli -p "$(sent_port sentinel "$n")" SENTINEL FAILOVER "$s" 2>&1)
    [ "$reply" = OK ] || die "sentinel: SENTINEL FAILOVER $s: $reply"
    break
  done
  # Done when every running sentinel names a new master and it says it is one (the other
  # replicas are repointed at it in the background).
  for i in $(seq 1 300); do
    new=$(sent_current_master_port "$s")
    if [ "$new" != "$old" ] && [ "$(vk_cli -p "$new" ROLE 2>/dev/null | head -1)" = master ] &&
       sent_all_name "$s" "$new"; then
      echo "127.0.0.1:$new"
      return 0
    fi
    sleep 0.1
  done
  die "sentinel: failover of $s did not finish within 30 s (master was 127.0.0.1:$old, now ${new:-?})"
}

sent_freeze_master() {
  local port
  port=$(sent_current_master_port "$1")
  vk_signal "$(sent_dir_of_port "$port")" STOP || die "sentinel: master of $1 (port $port) is not running"
}
sent_thaw() {
  local kind n
  for kind in data graph; do
    for n in $(sent_nodes $kind); do vk_signal "$(sent_dir "$kind" "$n")" CONT || true; done
  done
}
sent_node() { [[ ${1:-} =~ ^[012]$ ]] || die "sentinel: sentinel number must be 0, 1 or 2, got '${1:-}'"; }

# Back to data node 0 (graph node 0) as master with every replica and sentinel up; when the
# sentinels already see exactly that, nothing is touched, else everything is recreated.
sent_reset() {
  local s kind ok=1 n
  sent_thaw
  for n in 0 1 2; do port_open "$(sent_port sentinel "$n")" || ok=0; done
  if [ $ok = 1 ]; then
    for s in $(sent_services); do
      kind=$(sent_kind_of "$s")
      sent_settled "$s" "$(sent_port "$kind" 0)" "$(sent_replicas "$s")" || { ok=0; break; }
    done
  fi
  [ $ok = 1 ] && return 0
  stop_sentinel
  rm -rf "$SENT"
  start_sentinel
}

sent_status() {
  local kind n rc=0 port
  for kind in data graph sentinel; do
    [ $kind = graph ] && ! sent_has_graph && continue
    for n in $(sent_nodes $kind); do
      port=$(sent_port "$kind" "$n")
      if port_open "$port"; then
        if [ $kind = sentinel ]; then echo "sentinel: sentinel $n up on 127.0.0.1:$port"
        else echo "sentinel: $kind $n $(vk_cli -p "$port" ROLE 2>/dev/null | head -1 | grep . || echo 'not answering') on 127.0.0.1:$port"; fi
      else echo "sentinel: $kind $n down"; rc=3; fi
    done
  done
  return $rc
}

sent_usage() {
  cat >&2 <<USAGE
usage: $0 sentinel failover SERVICE | freeze-master SERVICE | thaw | stop-sentinel N
                | start-sentinel N | master SERVICE | reset | status
       (SERVICE = mymaster or graphmaster, N = 0, 1, 2)
USAGE
  exit 2
}

sentinel_action() {
  local action=${1:-} arg=${2:-}
  case $action in ""|help|-h|--help) sent_usage ;; esac
  [ -s "$(sent_dir sentinel 0)/sentinel.conf" ] || [ "$action" = status ] || die "sentinel: not created yet (run: services.sh start sentinel)"
  case $action in
    failover|freeze-master|master) sent_kind_of "$arg" >/dev/null
      [ "$arg" = graphmaster ] && ! sent_has_graph && die "sentinel: no graphmaster (the FalkorDB module was missing at creation)" ;;
    stop-sentinel|start-sentinel) sent_node "$arg" ;;
  esac
  case $action in
    failover) sent_failover "$arg" ;;
    freeze-master) sent_freeze_master "$arg" ;;
    thaw) sent_thaw ;;
    stop-sentinel) vk_stop "$(sent_dir sentinel "$arg")" "$(sent_port sentinel "$arg")" ;;
    start-sentinel) sent_start_sentinel "$arg" ;;
    master) echo "127.0.0.1:$(sent_current_master_port "$arg")" ;;
    reset) sent_reset ;;
    status) sent_status ;;
    *) sent_usage ;;
  esac
}

# ---- Redis Cluster: six valkey 8 nodes, three primaries with a replica each (not default) ---
# Nodes 0..5 on 40001..40006 (+ offset; the cluster bus is port + 10000, so these stay at or
# below 50535 with the largest offset). Created by `valkey-cli --cluster create`: nodes 0, 1, 2
# start as primaries, 3, 4, 5 as their replicas (valkey-cli pairs them).
CL="$RUN/cluster"
CL_NODES=(0 1 2 3 4 5)
cl_port() { echo $((40001 + $1 + off)); }
cl_dir() { echo "$CL/node$1"; }
cl_node() { [[ ${1:-} =~ ^[0-5]$ ]] || die "cluster: node must be 0..5, got '${1:-}'"; }
cl_info() { vk_cli -p "$(cl_port "$1")" CLUSTER INFO 2>/dev/null | vk_info "$2"; }
cl_role() { vk_cli -p "$(cl_port "$1")" ROLE 2>/dev/null | head -1; }

cl_start_node() {
  vk_start "$(cl_dir "$1")" "$(cl_port "$1")" --save '' --appendonly no --maxclients 2000 \
    --repl-diskless-sync-delay 0 \
    --cluster-enabled yes --cluster-config-file nodes.conf --cluster-node-timeout 2000 \
    --enable-debug-command local
}

# Every node answers, says cluster_state:ok, knows 6 nodes and all 16384 slots; every replica's
# link to its primary is up.
cl_healthy() {
  local n
  for n in "${CL_NODES[@]}"; do
    [ "$(cl_info "$n" cluster_state)" = ok ] || return 1
    [ "$(cl_info "$n" cluster_known_nodes)" = 6 ] || return 1
    [ "$(cl_info "$n" cluster_slots_ok)" = 16384 ] || return 1
    if [ "$(cl_role "$n")" = slave ]; then
      [ "$(vk_cli -p "$(cl_port "$n")" INFO replication 2>/dev/null | vk_info master_link_status)" = up ] || return 1
    fi
  done
}
cl_wait_healthy() {
  local i
  for i in $(seq 1 200); do cl_healthy && return 0; sleep 0.1; done
  die "cluster: not healthy after 20 s (cluster_state ok, 6 nodes, 16384 slots, replicas linked on every node)"
}

# Roles and slot ranges by port: what `reset` compares with the layout right after creation.
cl_layout() {
  vk_cli -p "$(cl_port 0)" CLUSTER NODES 2>/dev/null |
    awk '{ split($2, a, "@"); role = ($3 ~ /master/) ? "master" : "replica"; s = "";
           for (i = 9; i <= NF; i++) s = s " " $i; print a[1], role s }' | sort
}

cl_create() {
  local n addrs=()
  log "cluster: creating six nodes in $CL"
  for n in "${CL_NODES[@]}"; do vk_stop "$(cl_dir "$n")" "$(cl_port "$n")"; done
  rm -rf "$CL" && mkdir -p "$CL"
  for n in "${CL_NODES[@]}"; do cl_start_node "$n"; addrs+=("127.0.0.1:$(cl_port "$n")"); done
  valkey-cli --cluster create "${addrs[@]}" --cluster-replicas 1 --cluster-yes >"$CL/create.log" 2>&1 \
    || { tail -20 "$CL/create.log" >&2; die "cluster: valkey-cli --cluster create failed (log: $CL/create.log)"; }
  cl_wait_healthy
  cl_layout > "$CL/layout"
}

start_cluster() {
  local n any=0
  [ -x "$VALKEY" ] || die "cluster: valkey-server is not installed (run scripts/install-deps.sh)"
  command -v valkey-cli >/dev/null || die "cluster: valkey-cli is not installed (run scripts/install-deps.sh)"
  for n in "${CL_NODES[@]}"; do port_open "$(cl_port "$n")" && any=1; done
  # Nothing is persisted: with no node left running, create the cluster afresh.
  if [ $any = 0 ] || [ ! -s "$CL/layout" ]; then cl_create; return; fi
  for n in "${CL_NODES[@]}"; do cl_start_node "$n"; done
  cl_wait_healthy
}

stop_cluster() {
  local n
  [ -d "$CL" ] || return 0
  for n in "${CL_NODES[@]}"; do vk_stop "$(cl_dir "$n")" "$(cl_port "$n")"; done
}

cl_myid() { vk_cli -p "$(cl_port "$1")" CLUSTER MYID 2>/dev/null; }

cl_reshard() {  # FROM TO SLOTS
  local from=$1 to=$2 slots=$3
  cl_node "$from"; cl_node "$to"
  [[ $slots =~ ^[0-9]+$ ]] && [ "$slots" -gt 0 ] || die "cluster: SLOTS must be a positive number, got '$slots'"
  [ "$(cl_role "$from")" = master ] || die "cluster: node $from is not a primary"
  [ "$(cl_role "$to")" = master ] || die "cluster: node $to is not a primary"
  valkey-cli --cluster reshard "127.0.0.1:$(cl_port "$from")" --cluster-from "$(cl_myid "$from")" \
    --cluster-to "$(cl_myid "$to")" --cluster-slots "$slots" --cluster-yes >"$CL/reshard.log" 2>&1 \
    || { tail -20 "$CL/reshard.log" >&2; die "cluster: reshard of $slots slots from node $from to node $to failed (log: $CL/reshard.log)"; }
  cl_wait_healthy
}

# CLUSTER FAILOVER on replica N; done when N is a primary and the cluster is healthy again.
cl_failover() {
  local n=$1 i reply
  [ "$(cl_role "$n")" = slave ] || die "cluster: node $n is not a replica (CLUSTER FAILOVER goes to a replica)"
  reply=$(vk_cli -p "$(cl_port "$n")" CLUSTER FAILOVER 2>&1)
  [ "$reply" = OK ] || die "cluster: CLUSTER FAILOVER on node $n: $reply"
  for i in $(seq 1 150); do
    [ "$(cl_role "$n")" = master ] && cl_healthy && return 0
    sleep 0.1
  done
  die "cluster: node $n is not a healthy primary 15 s after CLUSTER FAILOVER"
}

# Back to the layout right after creation, every node up and thawed; when the cluster already
# has it, nothing is touched (keys stay); when only failovers changed it, the original primaries
# take over again (CLUSTER FAILOVER); else it is recreated (empty).
cl_reset() {
  local n addr role
  for n in "${CL_NODES[@]}"; do vk_signal "$(cl_dir "$n")" CONT || true; done
  [ -s "$CL/layout" ] || { cl_create; return; }
  for n in "${CL_NODES[@]}"; do cl_start_node "$n"; done
  if cl_wait_healthy_quietly; then
    [ "$(cl_layout)" = "$(cat "$CL/layout")" ] && return 0
    # Same slots per pair, primaries swapped: fail back.
    if [ "$(cl_layout | awk '{ print $1 }')" = "$(awk '{ print $1 }' "$CL/layout")" ]; then
      while read -r addr role _; do
        n=$(( ${addr##*:} - 40001 - off ))
        [ "$role" = master ] && [ "$(cl_role "$n")" = slave ] && { (cl_failover "$n") 2>/dev/null || break; }
      done < "$CL/layout"
      [ "$(cl_layout)" = "$(cat "$CL/layout")" ] && return 0
    fi
  fi
  cl_create
}
cl_wait_healthy_quietly() {
  local i
  for i in $(seq 1 50); do cl_healthy && return 0; sleep 0.1; done
  return 1
}

cl_status() {
  local n rc=0 port
  for n in "${CL_NODES[@]}"; do
    port=$(cl_port "$n")
    if port_open "$port"; then echo "cluster: node $n $(cl_role "$n" | grep . || echo 'not answering') on 127.0.0.1:$port ($(cl_info "$n" cluster_state))"
    else echo "cluster: node $n down"; rc=3; fi
  done
  return $rc
}

cl_usage() {
  cat >&2 <<USAGE
usage: $0 cluster reshard FROM TO SLOTS | failover N | freeze N | thaw N | stop N | start-node N
                | reset | status      (N, FROM, TO = 0..5)
USAGE
  exit 2
}

cluster_action() {
  local action=${1:-} n=${2:-}
  case $action in ""|help|-h|--help) cl_usage ;; esac
  [ -s "$CL/layout" ] || [ "$action" = status ] || die "cluster: not created yet (run: services.sh start cluster)"
  case $action in failover|freeze|thaw|stop|start-node) cl_node "$n" ;; esac
  case $action in
    reshard) cl_reshard "$n" "${3:-}" "${4:-}" ;;
    failover) cl_failover "$n" ;;
    freeze) vk_signal "$(cl_dir "$n")" STOP || die "cluster: node $n is not running" ;;
    thaw) vk_signal "$(cl_dir "$n")" CONT || die "cluster: node $n is not running" ;;
    stop) vk_stop "$(cl_dir "$n")" "$(cl_port "$n")" ;;
    start-node) cl_start_node "$n" ;;
    reset) cl_reset ;;
    status) cl_status ;;
    *) cl_usage ;;
  esac
}

# ---- Dispatch ---------------------------------------------------------------------------
start_one() {
  case $1 in
    postgres) start_postgres ;; pgbouncer) start_pgbouncer ;;
    redis|redis-auth|redis-tls) start_redis_like "$1" ;;
    falkordb) start_falkordb ;;
    pg-ha) start_pg_ha ;; sentinel) start_sentinel ;; cluster) start_cluster ;;
  esac
}
stop_one() {
  case $1 in
    postgres) stop_postgres ;; pgbouncer) stop_pgbouncer ;;
    redis|redis-auth|redis-tls|falkordb) stop_redis_like "$1" ;;
    pg-ha) stop_pg_ha ;; sentinel) stop_sentinel ;; cluster) stop_cluster ;;
  esac
}
status_one() {
  case $1 in
    pg-ha) pgha_status ;; sentinel) sent_status ;; cluster) cl_status ;;
    *) if port_open "$(port_of "$1")"; then echo "$1: up on 127.0.0.1:$(port_of "$1")"
       else echo "$1: down"; return 3; fi ;;
  esac
}
known_service() {
  local s
  for s in "${ALL[@]}" "${EXTRA[@]}"; do [ "$s" = "$1" ] && return 0; done
  die "unknown service '$1' (expected one of: ${ALL[*]} ${EXTRA[*]})"
}

print_env() {
  local pgha_ports=() pgha_hosts=() n
  for n in "${PGHA_NODES[@]}"; do
    pgha_ports+=("$(pgha_port "$n")") pgha_hosts+=("127.0.0.1:$(pgha_port "$n")")
  done
  cat <<ENV
export CONNMGR_TEST_PG_URL='postgresql://$PG_USER:$PG_PASSWORD@127.0.0.1:$PG_PORT/$PG_DB'
export CONNMGR_TEST_PGBOUNCER_URL='postgresql://$PG_USER:$PG_PASSWORD@127.0.0.1:$PGBOUNCER_PORT/$PG_DB'
export CONNMGR_TEST_REDIS_URL='redis://127.0.0.1:$REDIS_PORT/0'
export CONNMGR_TEST_REDIS_AUTH_URL='redis://connmgr:$REDIS_PASSWORD@127.0.0.1:$REDIS_AUTH_PORT/0'
export CONNMGR_TEST_REDIS_TLS_URL='rediss://127.0.0.1:$REDIS_TLS_PORT/0?ssl_ca_certs=$RUN/tls/ca.pem'
export CONNMGR_TEST_PG_HA_URL='postgresql://$PG_USER:$PG_PASSWORD@$(IFS=,; echo "${pgha_hosts[*]}")/$PG_DB'
export CONNMGR_TEST_PG_HA_PORTS='${pgha_ports[*]}'
export CONNMGR_SERVICES='$ROOT/scripts/services.sh'
export CONNMGR_SERVICES_PORT_OFFSET=$off
export CONNMGR_PG_PORT=$PG_PORT CONNMGR_PGBOUNCER_PORT=$PGBOUNCER_PORT CONNMGR_REDIS_PORT=$REDIS_PORT
export CONNMGR_FALKORDB_PORT=$FALKORDB_PORT
export CONNMGR_PG_HA_PORT0=${pgha_ports[0]} CONNMGR_PG_HA_PORT1=${pgha_ports[1]} CONNMGR_PG_HA_PORT2=${pgha_ports[2]}
ENV
  local sentinels=() sports=()
  for n in 0 1 2; do
    sports+=("$(sent_port sentinel "$n")") sentinels+=("127.0.0.1:$(sent_port sentinel "$n")")
  done
  cat <<ENV
export CONNMGR_TEST_SENTINEL_URL='redis+sentinel://$(IFS=,; echo "${sentinels[*]}")/mymaster'
export CONNMGR_TEST_SENTINEL_PORTS='${sports[*]}'
export CONNMGR_SENTINEL_PORT0=${sports[0]} CONNMGR_SENTINEL_PORT1=${sports[1]} CONNMGR_SENTINEL_PORT2=${sports[2]}
ENV
  local cports=() cnodes=()
  for n in "${CL_NODES[@]}"; do cports+=("$(cl_port "$n")") cnodes+=("127.0.0.1:$(cl_port "$n")"); done
  cat <<ENV
export CONNMGR_TEST_CLUSTER_URL='redis+cluster://$(IFS=,; echo "${cnodes[*]}")'
export CONNMGR_TEST_CLUSTER_PORTS='${cports[*]}'
export CONNMGR_CLUSTER_PORT0=${cports[0]} CONNMGR_CLUSTER_PORT1=${cports[1]} CONNMGR_CLUSTER_PORT2=${cports[2]}
ENV
  local why
  if why=$(falkordb_unavailable); then
    printf "unset CONNMGR_TEST_FALKORDB_SENTINEL_URL\n"
  else
    printf "export CONNMGR_TEST_FALKORDB_SENTINEL_URL='falkordb+sentinel://%s/graphmaster'\n" "$(IFS=,; echo "${sentinels[*]}")"
  fi
  if why=$(falkordb_unavailable); then
    printf "unset CONNMGR_TEST_FALKORDB_URL\nexport CONNMGR_TEST_FALKORDB_UNAVAILABLE='%s'\n" "$why"
  else
    printf "export CONNMGR_TEST_FALKORDB_URL='falkordb://127.0.0.1:%s'\nunset CONNMGR_TEST_FALKORDB_UNAVAILABLE\n" "$FALKORDB_PORT"
  fi
}

usage() {
  cat >&2 <<USAGE
usage: $0 start|stop|restart|status [${ALL[*]} ${EXTRA[*]}]
       $0 env
       $0 pg-ha ACTION ...     (see: $0 pg-ha help)
       $0 sentinel ACTION ...  (see: $0 sentinel help)
       $0 cluster ACTION ...   (see: $0 cluster help)
USAGE
  exit 2
}

cmd=${1:-}
[ $# -gt 0 ] && shift
case $cmd in
  pg-ha) pgha_action "$@"; exit ;;
  sentinel) sentinel_action "$@"; exit ;;
  cluster) cluster_action "$@"; exit ;;
  env) print_env; exit ;;
  start|stop|restart|status) ;;
  *) usage ;;
esac
services=("$@")
if [ ${#services[@]} -eq 0 ]; then
  # The multi-server topologies start only when named, but a bare `stop` stops them too.
  services=("${ALL[@]}")
  [ "$cmd" = stop ] && services+=("${EXTRA[@]}")
fi
for s in "${services[@]}"; do known_service "$s"; done

case $cmd in
  start)
    prepare_run_dir
    for s in "${services[@]}"; do start_one "$s"; done
    log "up: ${services[*]}" ;;
  stop)
    # Reverse order: PgBouncer before the PostgreSQL it fronts.
    for ((i=${#services[@]}-1; i>=0; i--)); do stop_one "${services[i]}"; done
    log "stopped: ${services[*]}" ;;
  restart)
    for s in "${services[@]}"; do
      if [ "$s" = postgres ] && port_open $PG_PORT; then restart_postgres
      else stop_one "$s"; start_one "$s"; fi
    done ;;
  status)
    rc=0
    for s in "${services[@]}"; do status_one "$s" || rc=3; done
    exit $rc ;;
esac
