#!/usr/bin/env bash
# The scale run (not part of the test suite; CI must not run it): how
# mxauth's figures hold up with a million users, against a thousand.
#
#   bench/scale.sh              # SQLite databases in a temp dir
#   bench/scale.sh --postgres   # on MXAUTH_BENCH_POSTGRES_URL's server, else a
#                               # throw-away PostgreSQL cluster in a temp dir
#
# Makes two databases straight with SQL, in mxauth's own schema:
# BENCH_SMALL_USERS (1000) and BENCH_USERS (1000000) users, each with
# BENCH_DEVICES (3) devices and an access token per device, an email, a
# monthly-active entry and a client-IP row per token, all with the
# password of one user registered through mxauth. Times the fill, EXPLAINs
# and times the statements that must scale, then starts mxauth (release,
# RUST_LOG=warn) on each and measures: start-up, idle RSS, whoami (many
# tokens and one), the admin user list, guest registration with and
# without limit_usage_by_mau (the MAU count), password login,
# registration, the client-IP flush of BENCH_SIGHTINGS (100000) sightings
# with whoami running over it, and the MAU reaper at start-up. Prints
# each figure at both sizes with the ratio. Everything it starts is
# stopped on exit.
#
# Settings (environment): BENCH_USERS, BENCH_SMALL_USERS, BENCH_DEVICES,
# BENCH_TOKENS (10000, tokens wrk picks from), BENCH_SIGHTINGS,
# BENCH_FLUSH_INTERVAL (60, seconds between flushes), BENCH_REPEATS (5,
# per timed request), BENCH_REAP_TIMEOUT (300 s), BENCH_SQL_TIMEOUT_S
# (120, per statement timed alone on PostgreSQL), BENCH_DURATION (10s),
# BENCH_THREADS (2), BENCH_CONNECTIONS (64), BENCH_TIMEOUT (10s),
# BENCH_WARMUP (2s), BENCH_WHOAMI_ROUNDS (3), MXAUTH_BIN (else `cargo build --release`), HELLO_BIN
# (the hello-world ceiling; built with mxauth when MXAUTH_BIN is unset),
# MXAUTH_BENCH_POSTGRES_URL, BENCH_KEEP=1 (keeps the temp dir and the
# PostgreSQL databases), CARGO_TARGET_DIR as for cargo.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BENCH="$ROOT/bench"

USERS=${BENCH_USERS:-1000000}
SMALL=${BENCH_SMALL_USERS:-1000}
DEVICES=${BENCH_DEVICES:-3}
SAMPLE=${BENCH_TOKENS:-10000}
SIGHTINGS=${BENCH_SIGHTINGS:-100000}
FLUSH_INTERVAL=${BENCH_FLUSH_INTERVAL:-60}
REPEATS=${BENCH_REPEATS:-5}
REAP_TIMEOUT=${BENCH_REAP_TIMEOUT:-300}
DURATION=${BENCH_DURATION:-10s}
THREADS=${BENCH_THREADS:-2}
CONNECTIONS=${BENCH_CONNECTIONS:-64}
TIMEOUT=${BENCH_TIMEOUT:-10s}
WARMUP=${BENCH_WARMUP:-2s}
WHOAMI_ROUNDS=${BENCH_WHOAMI_ROUNDS:-3}
SERVER_NAME=bench.local
PASSWORD='bench-Password-1'
SHARED_SECRET="bench-shared-secret-$$-$RANDOM"

. "$(dirname "$0")/lib.sh"
STOP_WAIT_TENTHS=300

parse_backend_args 32 "$@"


# --- tools
need_load_tools
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
case "$TARGET" in /*) ;; *) TARGET="$ROOT/$TARGET" ;; esac
PY=python3
if [ "$BACKEND" = postgres ] && ! python3 -c 'import psycopg2' 2>/dev/null; then
  VENV=$TARGET/venv-bench
  if ! "$VENV/bin/python" -c 'import psycopg2' 2>/dev/null; then
    log "installing psycopg2-binary into $VENV"
    mkdir -p "$TARGET"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q psycopg2-binary
  fi
  PY=$VENV/bin/python
fi
HELPER=("$PY" "$BENCH/scale.py")

# --- temp dir and cleanup: every process and database we make goes on exit
WORK=$(mktemp -d /tmp/mxauth-bench-scale.XXXXXX)
MXAUTH_PID=""
HELLO_PID=""
SMALL_PID=""
WATCH_PID=""
PGTMP=""
PG_DATABASES=()
cleanup() {
  stop_pid "$WATCH_PID"
  stop_pid "$HELLO_PID"
  stop_pid "$SMALL_PID"
  stop_pid "$MXAUTH_PID"
  if [ "${BENCH_KEEP:-0}" = 1 ]; then
    log "kept $WORK${PG_DATABASES[*]:+ and the databases ${PG_DATABASES[*]}}"
  else
    for db in "${PG_DATABASES[@]}"; do "${HELPER[@]}" pg-drop "$PGURL" "$db" || true; done
    rm -rf "$WORK"
  fi
  if [ -n "$PGTMP" ]; then
    run_pg "$PGBIN/pg_ctl" -D "$PGTMP/data" -m immediate stop >/dev/null 2>&1 || true
    [ "${BENCH_KEEP:-0}" = 1 ] || rm -rf "$PGTMP"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- binaries: copies, so that a rebuild meanwhile does not change them
HELLO_NOTE=""
if [ -z "${MXAUTH_BIN:-}" ]; then
  log "building release (mxauth, examples/hello.rs)"
  (cd "$ROOT" && cargo build --release --quiet --bin mxauth --example hello)
  MXAUTH_BIN=$TARGET/release/mxauth
  HELLO_BIN=${HELLO_BIN:-$TARGET/release/examples/hello}
fi
[ -x "$MXAUTH_BIN" ] || die "no mxauth binary at $MXAUTH_BIN"
cp "$MXAUTH_BIN" "$WORK/mxauth"
MXAUTH=$WORK/mxauth
if [ -n "${HELLO_BIN:-}" ]; then
  [ -x "$HELLO_BIN" ] || die "no hello-world binary at $HELLO_BIN"
  cp "$HELLO_BIN" "$WORK/hello"
else
  HELLO_NOTE="MXAUTH_BIN given without HELLO_BIN"
fi

# --- PostgreSQL: the given server, else a throw-away cluster
PGURL=""
if [ "$BACKEND" = postgres ]; then
  PGURL=${MXAUTH_BENCH_POSTGRES_URL:-}
  if [ -z "$PGURL" ]; then
    if [ -z "$(pg_bindir)" ] || [ ! -x "$(pg_bindir)/pg_ctl" ]; then apt_install postgresql; fi
    PGBIN=$(pg_bindir)
    PGPORT=$(free_port)
    PGTMP=$(mktemp -d /tmp/mxauth-bench-scale-pg.XXXXXX)
    if [ "$(id -u)" = 0 ]; then
      id postgres >/dev/null 2>&1 || useradd --system --home-dir /var/lib/postgresql postgres
      chown -R postgres "$PGTMP"
    fi
    log "starting PostgreSQL ($("$PGBIN/postgres" --version)) on 127.0.0.1:$PGPORT"
    run_pg "$PGBIN/initdb" -D "$PGTMP/data" -A trust -U postgres >/dev/null
    run_pg "$PGBIN/pg_ctl" -D "$PGTMP/data" -l "$PGTMP/log" -w -t 60 start \
      -o "-p $PGPORT -k $PGTMP -c listen_addresses=127.0.0.1 -c max_connections=200" >/dev/null
    PGURL="postgresql://postgres@127.0.0.1:$PGPORT/postgres"
  fi
fi

# wrk NAME DIR URL [wrk args... [-- script args...]]: saved to DIR/NAME.txt
run_wrk() {
  local name=$1 dir=$2 url=$3; shift 3
  log "measuring $name for $DURATION (wrk -t$THREADS -c$CONNECTIONS)"
  wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --timeout "$TIMEOUT" --latency "$url" "$@" \
    > "$dir/$name.txt" 2>&1 || { cat "$dir/$name.txt" >&2; die "wrk failed for $name"; }
}

# --- the ceiling: a bare axum hello-world, alone on the machine
if [ -x "$WORK/hello" ]; then
  HELLO_PORT=$(free_port)
  "$WORK/hello" "$HELLO_PORT" > "$WORK/hello.log" 2>&1 &
  HELLO_PID=$!
  "${HELPER[@]}" wait-up "http://127.0.0.1:$HELLO_PORT/" "$HELLO_PID" "$(date +%s.%N)" >/dev/null
  wrk -t"$THREADS" -c"$CONNECTIONS" -d"$WARMUP" "http://127.0.0.1:$HELLO_PORT/" >/dev/null 2>&1 || true
  run_wrk hello "$WORK" "http://127.0.0.1:$HELLO_PORT/"
  stop_pid "$HELLO_PID"; HELLO_PID=""
fi

# write_config DIR PORT MAU(0|1) USERS [FLUSH_INTERVAL_S]
write_config() {
  local dir=$1 port=$2 mau=$3 n=$4 flush=${5:-$FLUSH_INTERVAL}
  {
    echo "server_name: $SERVER_NAME"
    echo "listeners:"
    echo "  - port: $port"
    echo "    bind_addresses: ['127.0.0.1']"
    echo "    type: http"
    echo "    x_forwarded: true"
    echo "    resources: [{names: [client], compress: false}]"
    echo "database: $(cat "$dir/database.yaml")"
    echo "enable_registration: true"
    echo "enable_registration_without_verification: true"
    echo "allow_guest_access: true"
    echo "registration_shared_secret: '$SHARED_SECRET'"
    # The benchmark logs in and registers from one address as fast as it
    # can: it measures the work behind the limits, so they are lifted.
    echo "rc_login: {address: {per_second: 1000000, burst_count: 1000000}, account: {per_second: 1000000, burst_count: 1000000}, failed_attempts: {per_second: 1000000, burst_count: 1000000}}"
    echo "rc_registration: {per_second: 1000000, burst_count: 1000000}"
    echo "mxauth: {rate_limits: {registration_session: {per_second: 1000000, burst_count: 1000000}}, token_last_used_flush_interval: ${flush}s}"
    if [ "$mau" = 1 ]; then
      # The count is read, never reached: every guest registration passes.
      echo "limit_usage_by_mau: true"
      echo "max_mau_value: $((n * 10))"
    fi
  }
}

# make_db TAG USERS: the database, filled
make_db() {
  local tag=$1 n=$2 dir=$WORK/$1
  mkdir -p "$dir"
  if [ "$BACKEND" = postgres ]; then
    local name; name=$("${HELPER[@]}" pg-create "$PGURL" "mxauth_scale_$tag")
    PG_DATABASES+=("$name")
    "${HELPER[@]}" pg-url "$PGURL" "$name" > "$dir/db.spec"
    "${HELPER[@]}" pg-database "$PGURL" "$name" > "$dir/database.yaml"
  else
    echo "sqlite:$dir/mxauth.db" > "$dir/db.spec"
    echo "{name: sqlite3, args: {database: '$dir/mxauth.db'}}" > "$dir/database.yaml"
  fi
  write_config "$dir" 1 0 "$n" > "$dir/cli.yaml"
  # mxauth's schema, and the password hash every user gets
  "$MXAUTH" manage list-admins --config "$dir/cli.yaml" > "$dir/cli.log" 2>&1 \
    || { cat "$dir/cli.log" >&2; die "mxauth could not create its schema"; }
  "$MXAUTH" register-user --config "$dir/cli.yaml" -u seed -p "$PASSWORD" >> "$dir/cli.log" 2>&1
  "$MXAUTH" register-user --config "$dir/cli.yaml" -u admin -p "$PASSWORD" --admin >> "$dir/cli.log" 2>&1
  "$MXAUTH" manage issue-access-token --config "$dir/cli.yaml" --allow-admin "@admin:$SERVER_NAME" \
    2>>"$dir/cli.log" | tail -n 1 > "$dir/admin.token"
  log "filling $tag: $n users, $DEVICES devices and tokens each ($BACKEND)"
  "${HELPER[@]}" fill "$(cat "$dir/db.spec")" "$n" "$DEVICES" "$SERVER_NAME" "$dir/tokens.txt" "$SAMPLE" \
    > "$dir/fill.json"
  log "  $(cat "$dir/fill.json")"
  log "EXPLAIN and timing of the statements that must scale ($tag)"
  "${HELPER[@]}" sql "$(cat "$dir/db.spec")" "$n" "$SERVER_NAME" "$dir/sql.json"
}

db_mib() {
  local dir=$WORK/$1
  if [ "$BACKEND" = postgres ]; then
    "$PY" -c "import psycopg2,sys; c=psycopg2.connect(sys.argv[1]); k=c.cursor(); k.execute('SELECT pg_database_size(current_database())'); print(k.fetchone()[0] // 1048576)" "$(cat "$dir/db.spec")"
  else
    du -sm "$dir" | cut -f1
  fi
}

# serve DIR CONFIG OUT_JSON [BASE]: starts mxauth, times it to the first 200
serve() {
  local dir=$1 config=$2 out=$3 base=${4:-$BASE}
  RUST_LOG="${RUST_LOG:-warn}" "${HELPER[@]}" start "$dir/mxauth.log" "$dir" "$dir/mxauth.pid" \
    "$base/_matrix/client/versions" "$out" -- "$MXAUTH" serve --config "$config" \
    || { tail -n 30 "$dir/mxauth.log" >&2; die "mxauth did not start"; }
  MXAUTH_PID=$(cat "$dir/mxauth.pid")
}

# whoami at both sizes, alternating (small, large, small, large...), so
# that the machine's drift hits both alike; both servers run meanwhile.
whoami_rounds() {
  local ps pl
  ps=$(free_port); pl=$(free_port)
  # No flush during these runs (only at the end): the whoami figures,
  # and the baseline of the flush's, are the look-ups alone.
  write_config "$WORK/small" "$ps" 0 "$SMALL" 86400 > "$WORK/small/whoami.yaml"
  write_config "$WORK/large" "$pl" 0 "$USERS" 86400 > "$WORK/large/whoami.yaml"
  serve "$WORK/small" "$WORK/small/whoami.yaml" "$WORK/small/startup-whoami.json" "http://127.0.0.1:$ps"
  SMALL_PID=$MXAUTH_PID
  serve "$WORK/large" "$WORK/large/whoami.yaml" "$WORK/large/startup-whoami.json" "http://127.0.0.1:$pl"
  local tag port dir r
  for tag in small large; do
    dir=$WORK/$tag; port=$ps; [ "$tag" = large ] && port=$pl
    curl -sf --max-time 10 -H "Authorization: Bearer $(head -n 1 "$dir/tokens.txt")" \
      "http://127.0.0.1:$port/_matrix/client/v3/account/whoami" >/dev/null || die "whoami refused a generated token ($tag)"
    wrk -t"$THREADS" -c"$CONNECTIONS" -d"$WARMUP" "http://127.0.0.1:$port/_matrix/client/v3/account/whoami" \
      -s "$BENCH/whoami_tokens.lua" -- "$dir/tokens.txt" >/dev/null 2>&1 || true
  done
  for r in $(seq "$WHOAMI_ROUNDS"); do
    for kind in many one; do
      for tag in small large; do
        dir=$WORK/$tag; port=$ps; [ "$tag" = large ] && port=$pl
        local url="http://127.0.0.1:$port/_matrix/client/v3/account/whoami"
        if [ "$kind" = many ]; then
          run_wrk "whoami-many-$r" "$dir" "$url" -s "$BENCH/whoami_tokens.lua" -- "$dir/tokens.txt"
        else
          run_wrk "whoami-one-$r" "$dir" "$url" -H "Authorization: Bearer $(head -n 1 "$dir/tokens.txt")"
        fi
      done
    done
  done
  stop_pid "$MXAUTH_PID"; MXAUTH_PID=""
  stop_pid "$SMALL_PID"; SMALL_PID=""
}

# measure TAG USERS
measure() {
  local tag=$1 n=$2 dir=$WORK/$1
  local port; port=$(free_port)
  BASE="http://127.0.0.1:$port"
  write_config "$dir" "$port" 0 "$n" > "$dir/homeserver.yaml"
  log "starting mxauth on $tag ($n users)"
  serve "$dir" "$dir/homeserver.yaml" "$dir/startup.json"
  sleep 1
  "${HELPER[@]}" rss "$MXAUTH_PID" > "$dir/rss-idle.json"
  local admin; admin=$(cat "$dir/admin.token")

  log "timing the admin user list ($REPEATS times each)"
  "${HELPER[@]}" admin-urls "$BASE" "$n" "$admin" > "$dir/admin-urls.txt"
  mapfile -t urls < "$dir/admin-urls.txt"
  "${HELPER[@]}" curl-times "$dir/admin.json" "$REPEATS" "${urls[@]}" -H "Authorization: Bearer $admin"
  log "timing guest registration without limit_usage_by_mau"
  "${HELPER[@]}" curl-times "$dir/guest-mau-off.json" "$REPEATS" \
    "guest registration|$BASE/_matrix/client/v3/register?kind=guest" -X POST -d '{}'

  local users=()
  for i in 1 $((n / 3)) $((2 * n / 3)) "$n"; do users+=("$(printf 'u%07d' "$i")"); done
  run_wrk login "$dir" "$BASE/_matrix/client/v3/login" -s "$BENCH/login.lua" -- "$PASSWORD" "${users[@]}"
  run_wrk register "$dir" "$BASE/_matrix/client/v3/register" -s "$BENCH/register.lua" -- "r$(date +%s)" "$PASSWORD"

  log "client-IP flush of $SIGHTINGS sightings (two rounds, a flush every $FLUSH_INTERVAL s: about four intervals)"
  "${HELPER[@]}" flush "$(cat "$dir/db.spec")" "$BASE" \
    "$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["up_epoch"])' "$dir/startup.json")" \
    "$FLUSH_INTERVAL" "$dir" "$BENCH/whoami_tokens.lua" "$dir/tokens.txt" "$SIGHTINGS" "$THREADS" \
    "$CONNECTIONS" "$DURATION"
  "${HELPER[@]}" rss "$MXAUTH_PID" > "$dir/rss-end.json"
  kill -0 "$MXAUTH_PID" 2>/dev/null || die "mxauth died during the load"
  stop_pid "$MXAUTH_PID"; MXAUTH_PID=""

  # limit_usage_by_mau: the reaper runs at start (then hourly); the count
  # is read by every guest registration.
  port=$(free_port)
  BASE="http://127.0.0.1:$port"
  write_config "$dir" "$port" 1 "$n" > "$dir/mau.yaml"
  log "starting mxauth on $tag with limit_usage_by_mau (the reaper runs at start)"
  rm -f "$dir/reap.ready" "$dir/reap.t_exec"
  "${HELPER[@]}" watch-reap "$(cat "$dir/db.spec")" "$dir" "$REAP_TIMEOUT" > "$dir/reap.json" &
  WATCH_PID=$!
  for _ in $(seq 600); do [ -e "$dir/reap.ready" ] && break; sleep 0.1; done
  [ -e "$dir/reap.ready" ] || die "the reaper watch did not start"
  serve "$dir" "$dir/mau.yaml" "$dir/startup-mau.json"
  "$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["t_exec"])' \
    "$dir/startup-mau.json" > "$dir/reap.t_exec"
  wait "$WATCH_PID" || true
  WATCH_PID=""
  log "  reaper: $(cat "$dir/reap.json")"
  log "timing guest registration with limit_usage_by_mau (reads the MAU count)"
  "${HELPER[@]}" curl-times "$dir/guest-mau-on.json" "$REPEATS" \
    "guest registration|$BASE/_matrix/client/v3/register?kind=guest" -X POST -d '{}'
  stop_pid "$MXAUTH_PID"; MXAUTH_PID=""
}

make_db small "$SMALL"
make_db large "$USERS"
SMALL_MIB=$(db_mib small)
LARGE_MIB=$(db_mib large)
whoami_rounds
measure small "$SMALL"
measure large "$USERS"

python3 - "$WORK/meta.json" <<EOF
import json, sys
json.dump({
    "backend": "$BACKEND", "users": $USERS, "small_users": $SMALL, "devices": $DEVICES,
    "threads": "$THREADS", "connections": "$CONNECTIONS", "duration": "$DURATION",
    "small_db_mib": int("$SMALL_MIB" or 0), "large_db_mib": int("$LARGE_MIB" or 0),
    "hello_note": "$HELLO_NOTE",
}, open(sys.argv[1], "w"))
EOF
echo
"${HELPER[@]}" report "$WORK"
