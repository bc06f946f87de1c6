#!/usr/bin/env bash
# The mxauth benchmark, in one command (not part of the test suite; CI
# must not run it):
#
#   bench/run.sh              # SQLite in a temp dir
#   bench/run.sh --postgres   # a throw-away PostgreSQL 15 in a temp dir
#
# Builds release (mxauth and examples/hello.rs), measures the bare axum
# hello-world as the ceiling, then starts mxauth with a fresh database,
# creates users and measures whoami, password login and registration with
# wrk on 127.0.0.1. Prints each figure with its ratio to the ceiling, and
# mxauth's idle and loaded RSS. Everything it starts is stopped on exit.
#
# Settings (environment): BENCH_DURATION (10s), BENCH_THREADS (2),
# BENCH_CONNECTIONS (64), BENCH_TIMEOUT (10s), BENCH_WARMUP (2s),
# BENCH_KEEP=1 keeps the temp dir (configs, logs, raw wrk outputs),
# CARGO_TARGET_DIR as for cargo.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BENCH="$ROOT/bench"

DURATION=${BENCH_DURATION:-10s}
THREADS=${BENCH_THREADS:-2}
CONNECTIONS=${BENCH_CONNECTIONS:-64}
TIMEOUT=${BENCH_TIMEOUT:-10s}
WARMUP=${BENCH_WARMUP:-2s}
PASSWORD='bench-Password-1'
SHARED_SECRET="bench-shared-secret-$$-$RANDOM"

. "$(dirname "$0")/lib.sh"

parse_backend_args 19 "$@"


# --- tools
need_load_tools

# --- temp dir and cleanup: every process we start is stopped on exit
WORK=$(mktemp -d /tmp/mxauth-bench.XXXXXX)
HELLO_PID=""
MXAUTH_PID=""
PGTMP=""
cleanup() {
  stop_pid "$HELLO_PID"
  stop_pid "$MXAUTH_PID"
  if [ -n "$PGTMP" ]; then
    run_pg "$PGBIN/pg_ctl" -D "$PGTMP/data" -m immediate stop >/dev/null 2>&1 || true
    rm -rf "$PGTMP"
  fi
  if [ "${BENCH_KEEP:-0}" = 1 ]; then log "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- build once: mxauth and the hello-world ceiling
log "building release (mxauth, examples/hello.rs)"
(cd "$ROOT" && cargo build --release --quiet --bin mxauth --example hello --example hash_rate)
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
case "$TARGET" in /*) ;; *) TARGET="$ROOT/$TARGET" ;; esac
MXAUTH="$TARGET/release/mxauth"
HELLO="$TARGET/release/examples/hello"
HASH_RATE="$TARGET/release/examples/hash_rate"
[ -x "$MXAUTH" ] && [ -x "$HELLO" ] && [ -x "$HASH_RATE" ] || die "built binaries not found under $TARGET/release"

# wait_http URL PID LOGFILE: until the URL answers (any status), at most 30 s
wait_http() {
  for _ in $(seq 300); do
    curl -s -o /dev/null --max-time 1 "$1" && return 0
    kill -0 "$2" 2>/dev/null || { cat "$3" >&2; die "the server exited"; }
    sleep 0.1
  done
  cat "$3" >&2
  die "no answer from $1 after 30 s"
}

# run_wrk NAME URL [wrk args... [-- script args...]]: the measurement,
# saved to $WORK/NAME.txt (wrk wants the URL before the script's arguments)
run_wrk() {
  local name=$1 url=$2; shift 2
  log "measuring $name for $DURATION (wrk -t$THREADS -c$CONNECTIONS)"
  wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --timeout "$TIMEOUT" --latency "$url" "$@" \
    > "$WORK/$name.txt" 2>&1 || { cat "$WORK/$name.txt" >&2; die "wrk failed for $name"; }
}
warm_up() {
  local url=$1; shift
  wrk -t"$THREADS" -c"$CONNECTIONS" -d"$WARMUP" --timeout "$TIMEOUT" "$url" "$@" >/dev/null 2>&1 || true
}

# --- the ceiling: a bare axum hello-world, alone on the machine
HELLO_PORT=$(free_port)
"$HELLO" "$HELLO_PORT" > "$WORK/hello.log" 2>&1 &
HELLO_PID=$!
wait_http "http://127.0.0.1:$HELLO_PORT/" "$HELLO_PID" "$WORK/hello.log"
[ "$(curl -s "http://127.0.0.1:$HELLO_PORT/")" = hello ] || die "hello-world does not say hello"
warm_up "http://127.0.0.1:$HELLO_PORT/"
run_wrk hello "http://127.0.0.1:$HELLO_PORT/"
stop_pid "$HELLO_PID"; HELLO_PID=""

# --- PostgreSQL (--postgres): throw-away cluster in a temp dir, free port
if [ "$BACKEND" = postgres ]; then
  if [ -z "$(pg_bindir)" ] || [ ! -x "$(pg_bindir)/pg_ctl" ]; then apt_install postgresql; fi
  PGBIN=$(pg_bindir)
  PGPORT=$(free_port)
  PGTMP=$(mktemp -d /tmp/mxauth-bench-pg.XXXXXX)
  if [ "$(id -u)" = 0 ]; then
    id postgres >/dev/null 2>&1 || useradd --system --home-dir /var/lib/postgresql postgres
    chown -R postgres "$PGTMP"
  fi
  log "starting PostgreSQL ($("$PGBIN/postgres" --version)) on 127.0.0.1:$PGPORT"
  run_pg "$PGBIN/initdb" -D "$PGTMP/data" -A trust -U postgres >/dev/null
  run_pg "$PGBIN/pg_ctl" -D "$PGTMP/data" -l "$PGTMP/log" -w -t 60 start \
    -o "-p $PGPORT -k $PGTMP -c listen_addresses=127.0.0.1 -c max_connections=200" >/dev/null
  run_pg "$PGBIN/createdb" -h 127.0.0.1 -p "$PGPORT" -U postgres mxauth
fi

# --- mxauth's config: Synapse's keys, in the temp dir
CONFIG="$WORK/homeserver.yaml"
MX_PORT=$(free_port)
{
  echo "server_name: bench.local"
  echo "listeners:"
  echo "  - port: $MX_PORT"
  echo "    bind_addresses: ['127.0.0.1']"
  echo "    type: http"
  echo "    resources: [{names: [client], compress: false}]"
  echo "database:"
  if [ "$BACKEND" = postgres ]; then
    echo "  name: psycopg2"
    echo "  args: {user: postgres, database: mxauth, host: 127.0.0.1, port: $PGPORT}"
  else
    echo "  name: sqlite3"
    echo "  args: {database: '$WORK/mxauth.db'}"
  fi
  echo "enable_registration: true"
  echo "enable_registration_without_verification: true"
  echo "registration_shared_secret: '$SHARED_SECRET'"
  # The benchmark logs in and registers from one address as fast as it can:
  # it measures the work behind the limits, so they are lifted.
  echo "rc_login: {address: {per_second: 1000000, burst_count: 1000000}, account: {per_second: 1000000, burst_count: 1000000}, failed_attempts: {per_second: 1000000, burst_count: 1000000}}"
  echo "rc_registration: {per_second: 1000000, burst_count: 1000000}"
  echo "mxauth: {rate_limits: {registration_session: {per_second: 1000000, burst_count: 1000000}}}"
} > "$CONFIG"

# Until the config loader has landed (`mxauth config check` fails), fall
# back to the built-in default config: 127.0.0.1:8008, SQLite under
# ./data/ of the working dir ($WORK), registration disabled.
CONFIG_ARGS=(--config "$CONFIG")
MODE="YAML config"
export RUST_BACKTRACE=0
if ! "$MXAUTH" config check "$CONFIG" > "$WORK/config-check.log" 2>&1; then
  [ "$BACKEND" = sqlite ] || { cat "$WORK/config-check.log" >&2; die "--postgres needs the YAML config, which this mxauth cannot load"; }
  log "WARNING: this mxauth cannot load $CONFIG ($(head -n 1 "$WORK/config-check.log"));"
  log "         using the built-in default config instead (port 8008, SQLite in $WORK/data, no registration)"
  CONFIG_ARGS=()
  MODE="built-in default config: registration off"
  MX_PORT=8008
  port_busy "$MX_PORT" && die "port 8008 is taken; the default config cannot be moved off it"
fi
BASE="http://127.0.0.1:$MX_PORT"

# Users for whoami and login, straight in the database before the start.
USERS=(bench1 bench2 bench3 bench4)
# bench5 is deactivated after the start, for the failed-login timing.
log "creating users: ${USERS[*]} bench5"
for u in "${USERS[@]}" bench5; do
  (cd "$WORK" && "$MXAUTH" register-user "${CONFIG_ARGS[@]}" -u "$u" -p "$PASSWORD") \
    >> "$WORK/register-user.log" 2>&1 || { cat "$WORK/register-user.log" >&2; die "register-user failed"; }
done

log "starting mxauth on $BASE ($BACKEND)"
(cd "$WORK" && RUST_LOG="${RUST_LOG:-warn}" exec "$MXAUTH" serve "${CONFIG_ARGS[@]}") > "$WORK/mxauth.log" 2>&1 &
MXAUTH_PID=$!
wait_http "$BASE/_matrix/client/versions" "$MXAUTH_PID" "$WORK/mxauth.log"

rss_kib() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }

TOKEN=$(curl -s --max-time 10 -H 'Content-Type: application/json' \
  -d "{\"type\":\"m.login.password\",\"identifier\":{\"type\":\"m.id.user\",\"user\":\"${USERS[0]}\"},\"password\":\"$PASSWORD\"}" \
  "$BASE/_matrix/client/v3/login" \
  | python3 -c 'import json,sys; print(json.load(sys.stdin).get("access_token",""))') || true
[ -n "$TOKEN" ] || die "could not log in as ${USERS[0]}"
curl -sf --max-time 10 -H "Authorization: Bearer $TOKEN" "$BASE/_matrix/client/v3/account/whoami" >/dev/null \
  || die "whoami refused the token"

# Registration needs enable_registration: a first call answers 401 with a session.
REG_STATUS=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 -H 'Content-Type: application/json' \
  -d '{}' "$BASE/_matrix/client/v3/register")

# Idle: no request for longer than a hashing thread keeps its argon2
# memory (5 s, src/auth/password.rs).
sleep 6
RSS_IDLE=$(rss_kib "$MXAUTH_PID" VmRSS)
log "mxauth idle RSS: $RSS_IDLE KiB"

warm_up "$BASE/_matrix/client/v3/account/whoami" -H "Authorization: Bearer $TOKEN"
run_wrk whoami "$BASE/_matrix/client/v3/account/whoami" -H "Authorization: Bearer $TOKEN"
RSS_PEAK_WHOAMI=$(rss_kib "$MXAUTH_PID" VmHWM)
run_wrk login "$BASE/_matrix/client/v3/login" -s "$BENCH/login.lua" -- "$PASSWORD" "${USERS[@]}"
RSS_PEAK_LOGIN=$(rss_kib "$MXAUTH_PID" VmHWM)

# The login storm: STORM_CLIENTS (16) clients logging in without pause,
# while whoami runs at a light paced load (4 connections, a request each
# 4 ms: about 1,000 req/s offered); its latency is whoami's under the storm.
# The logins are compared with what the cores can hash (examples/hash_rate,
# alone, before: mxauth's own hasher on as many threads as the server's).
STORM_CLIENTS=${BENCH_STORM_CLIENTS:-16}
log "measuring what the cores can hash ($DURATION, examples/hash_rate)"
kill -STOP "$MXAUTH_PID"
"$HASH_RATE" "${DURATION%s}" > "$WORK/hash-rate.txt" 2>&1 || { kill -CONT "$MXAUTH_PID"; cat "$WORK/hash-rate.txt" >&2; die "hash_rate failed"; }
kill -CONT "$MXAUTH_PID"
log "measuring whoami during a $STORM_CLIENTS-client login storm for $DURATION"
wrk -t1 -c"$STORM_CLIENTS" -d"$DURATION" --timeout "$TIMEOUT" --latency "$BASE/_matrix/client/v3/login" \
  -s "$BENCH/login.lua" -- "$PASSWORD" "${USERS[@]}" > "$WORK/storm-login.txt" 2>&1 &
STORM_PID=$!
sleep 0.5
wrk -t1 -c4 -d"$DURATION" --timeout "$TIMEOUT" --latency "$BASE/_matrix/client/v3/account/whoami" \
  -H "Authorization: Bearer $TOKEN" -s "$BENCH/whoami_paced.lua" -- 4 > "$WORK/storm-whoami.txt" 2>&1 \
  || { cat "$WORK/storm-whoami.txt" >&2; die "wrk failed for whoami during the storm"; }
wait "$STORM_PID" || { cat "$WORK/storm-login.txt" >&2; die "wrk failed for the login storm"; }
RSS_PEAK_STORM=$(rss_kib "$MXAUTH_PID" VmHWM)
REG_SKIPPED=""
if [ "$REG_STATUS" = 401 ]; then
  run_wrk register "$BASE/_matrix/client/v3/register" -s "$BENCH/register.lua" -- "r$(date +%s)" "$PASSWORD"
else
  REG_SKIPPED="registration is disabled: the first /register call answered $REG_STATUS, not 401"
  log "skipping registration: $REG_SKIPPED"
fi

# Failed logins: an unknown user, a wrong password, and a deactivated
# account's wrong password must look the same, in body and in time.
post_login() {
  curl -s --max-time 30 -H 'Content-Type: application/json' \
    -d "{\"type\":\"m.login.password\",\"identifier\":{\"type\":\"m.id.user\",\"user\":\"$1\"},\"password\":\"$2\"}" \
    "$BASE/_matrix/client/v3/login"
}
DEACT_TOKEN=$(post_login bench5 "$PASSWORD" | python3 -c 'import json,sys; print(json.load(sys.stdin).get("access_token",""))') || true
[ -n "$DEACT_TOKEN" ] || die "could not log in as bench5"
DEACT_SESSION=$(curl -s --max-time 10 -H "Authorization: Bearer $DEACT_TOKEN" -d '{}' \
  "$BASE/_matrix/client/v3/account/deactivate" | python3 -c 'import json,sys; print(json.load(sys.stdin).get("session",""))')
curl -sf --max-time 30 -H "Authorization: Bearer $DEACT_TOKEN" \
  -d "{\"auth\":{\"type\":\"m.login.password\",\"identifier\":{\"type\":\"m.id.user\",\"user\":\"bench5\"},\"password\":\"$PASSWORD\",\"session\":\"$DEACT_SESSION\"}}" \
  "$BASE/_matrix/client/v3/account/deactivate" >/dev/null || die "could not deactivate bench5"
log "timing failed logins (${BENCH_FAIL_ROUNDS:-200} rounds, interleaved)"
python3 "$BENCH/failed_logins.py" "$BASE" "$WORK/failed-logins.json" "${BENCH_FAIL_ROUNDS:-200}" \
  unknown=nobody-here wrong=bench2 deactivated=bench5 || die "timing failed logins failed"

RSS_AFTER=$(rss_kib "$MXAUTH_PID" VmRSS)
RSS_PEAK=$(rss_kib "$MXAUTH_PID" VmHWM)
kill -0 "$MXAUTH_PID" 2>/dev/null || die "mxauth died during the load"

python3 - "$WORK/meta.json" <<EOF
import json, sys
json.dump({
    "backend": "$BACKEND", "mode": "$MODE",
    "threads": "$THREADS", "connections": "$CONNECTIONS", "duration": "$DURATION",
    "rss_idle_kib": int("$RSS_IDLE" or 0), "rss_peak_kib": int("$RSS_PEAK" or 0),
    "rss_after_kib": int("$RSS_AFTER" or 0),
    "rss_peak_whoami_kib": int("$RSS_PEAK_WHOAMI" or 0),
    "rss_peak_login_kib": int("$RSS_PEAK_LOGIN" or 0),
    "rss_peak_storm_kib": int("$RSS_PEAK_STORM" or 0),
    "storm_clients": "$STORM_CLIENTS",
    "register_skipped": "$REG_SKIPPED",
}, open(sys.argv[1], "w"))
EOF
echo
python3 "$BENCH/report.py" "$WORK"
