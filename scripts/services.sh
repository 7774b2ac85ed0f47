#!/usr/bin/env bash
# Throwaway local servers for tests and the demo: PostgreSQL 15, PgBouncer (transaction pooling),
# Redis, a password/ACL Redis, a TLS Redis and FalkorDB (valkey-server with the FalkorDB module
# from scripts/install-deps.sh), all on 127.0.0.1 at fixed non-default ports,
# with their data under .run/ of this checkout.
#
#   scripts/services.sh start|stop|restart|status [SERVICE...]   (default: every service)
#   scripts/services.sh env                                       export lines for tests
#
# SERVICE is postgres, pgbouncer, redis, redis-auth, redis-tls or falkordb (skipped with a warning
# when valkey-server or the module is missing; `env` then says why instead of exporting its URL). `start` is idempotent and
# handles stale pid files; `stop` leaves nothing running. PostgreSQL and PgBouncer refuse to run
# as root, so they run as the `postgres` user.
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

# ---- Dispatch ---------------------------------------------------------------------------
start_one() {
  case $1 in
    postgres) start_postgres ;; pgbouncer) start_pgbouncer ;;
    redis|redis-auth|redis-tls) start_redis_like "$1" ;;
    falkordb) start_falkordb ;;
  esac
}
stop_one() {
  case $1 in
    postgres) stop_postgres ;; pgbouncer) stop_pgbouncer ;;
    redis|redis-auth|redis-tls|falkordb) stop_redis_like "$1" ;;
  esac
}

print_env() {
  cat <<ENV
export CONNMGR_TEST_PG_URL='postgresql://$PG_USER:$PG_PASSWORD@127.0.0.1:$PG_PORT/$PG_DB'
export CONNMGR_TEST_PGBOUNCER_URL='postgresql://$PG_USER:$PG_PASSWORD@127.0.0.1:$PGBOUNCER_PORT/$PG_DB'
export CONNMGR_TEST_REDIS_URL='redis://127.0.0.1:$REDIS_PORT/0'
export CONNMGR_TEST_REDIS_AUTH_URL='redis://connmgr:$REDIS_PASSWORD@127.0.0.1:$REDIS_AUTH_PORT/0'
export CONNMGR_TEST_REDIS_TLS_URL='rediss://127.0.0.1:$REDIS_TLS_PORT/0?ssl_ca_certs=$RUN/tls/ca.pem'
export CONNMGR_SERVICES='$ROOT/scripts/services.sh'
export CONNMGR_SERVICES_PORT_OFFSET=$off
export CONNMGR_PG_PORT=$PG_PORT CONNMGR_PGBOUNCER_PORT=$PGBOUNCER_PORT CONNMGR_REDIS_PORT=$REDIS_PORT
export CONNMGR_FALKORDB_PORT=$FALKORDB_PORT
ENV
  local why
  if why=$(falkordb_unavailable); then
    printf "unset CONNMGR_TEST_FALKORDB_URL\nexport CONNMGR_TEST_FALKORDB_UNAVAILABLE='%s'\n" "$why"
  else
    printf "export CONNMGR_TEST_FALKORDB_URL='falkordb://127.0.0.1:%s'\nunset CONNMGR_TEST_FALKORDB_UNAVAILABLE\n" "$FALKORDB_PORT"
  fi
}

cmd=${1:-}
[ $# -gt 0 ] && shift
services=("$@")
[ ${#services[@]} -gt 0 ] || services=("${ALL[@]}")
for s in "${services[@]}"; do port_of "$s" >/dev/null; done

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
    for s in "${services[@]}"; do
      if port_open "$(port_of "$s")"; then echo "$s: up on 127.0.0.1:$(port_of "$s")"
      else echo "$s: down"; rc=3; fi
    done
    exit $rc ;;
  env) print_env ;;
  *) echo "usage: $0 start|stop|restart|status|env [${ALL[*]}]" >&2; exit 2 ;;
esac
