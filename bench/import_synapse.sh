#!/usr/bin/env bash
# How fast `mxauth import-synapse` moves a large Synapse (not part of the
# test suite; CI must not run it):
#
#   bench/import_synapse.sh              # SQLite Synapse -> SQLite mxauth
#   bench/import_synapse.sh --postgres   # PostgreSQL -> PostgreSQL, on the
#                                        # server MXAUTH_BENCH_POSTGRES_URL names
#
# Runs Synapse 1.163.2 once (the venv of tests/e2e/run.sh, installed if
# missing) so that its real schema is in place, stops it, fills its tables
# with BENCH_USERS users (a profile, an email, BENCH_DEVICES devices, an
# access token per device) in one transaction, then times `mxauth
# import-synapse --synapse-stopped` three times: the first import, a re-run
# with nothing new, and a run after BENCH_CHANGE_PERCENT % of the users'
# devices were renamed at Synapse. Prints users/s, rows/s and max RSS.
#
# Settings (environment): BENCH_USERS (100000), BENCH_DEVICES (3),
# BENCH_CHANGE_PERCENT (1; 0 skips the third run), BENCH_BATCH_SIZE
# (mxauth's default), MXAUTH_BIN (else `cargo build --release`; copied
# before use), BENCH_BINARY_LABEL (release/debug, else from the path),
# BENCH_KEEP=1 keeps the temp dir, CARGO_TARGET_DIR as for cargo.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BENCH="$ROOT/bench"
SYNAPSE_VERSION=1.163.2
USERS=${BENCH_USERS:-100000}
DEVICES=${BENCH_DEVICES:-3}
CHANGE_PERCENT=${BENCH_CHANGE_PERCENT:-1}
BATCH_SIZE=${BENCH_BATCH_SIZE:-}
MACAROON_SECRET="bench-macaroon-$$-$RANDOM"

. "$(dirname "$0")/lib.sh"
STOP_WAIT_TENTHS=150

parse_backend_args 21 "$@"


PGURL=""
if [ "$BACKEND" = postgres ]; then
  PGURL=${MXAUTH_BENCH_POSTGRES_URL:-}
  [ -n "$PGURL" ] || die "--postgres needs MXAUTH_BENCH_POSTGRES_URL (postgresql://USER[:PASSWORD]@HOST:PORT/DB, a server where it may CREATE DATABASE)"
fi

# --- Synapse in a virtualenv (the one tests/e2e/run.sh makes)
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
case "$TARGET" in /*) ;; *) TARGET="$ROOT/$TARGET" ;; esac
VENV=$TARGET/venv-synapse
PY=$VENV/bin/python
if ! "$PY" -c "import synapse, psycopg2, sys, importlib.metadata as m; sys.exit(m.version('matrix-synapse') != '$SYNAPSE_VERSION')" 2>/dev/null; then
  log "installing matrix-synapse==$SYNAPSE_VERSION and psycopg2-binary into $VENV"
  mkdir -p "$TARGET"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q "matrix-synapse==$SYNAPSE_VERSION" psycopg2-binary
fi
HELPER=("$PY" "$BENCH/import_synapse.py")

# --- temp dir and cleanup: every process and database we make goes on exit
WORK=$(mktemp -d /tmp/mxauth-bench-import.XXXXXX)
SYNAPSE_PID=""
PG_DATABASES=()
cleanup() {
  stop_pid "$SYNAPSE_PID"
  if [ "${BENCH_KEEP:-0}" = 1 ]; then
    log "kept $WORK${PG_DATABASES[*]:+ and the databases ${PG_DATABASES[*]}}"
  else
    for db in "${PG_DATABASES[@]}"; do "${HELPER[@]}" pg-drop "$PGURL" "$db" || true; done
    rm -rf "$WORK"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- mxauth: a copy, so that a rebuild meanwhile does not change the binary
if [ -z "${MXAUTH_BIN:-}" ]; then
  log "building release (mxauth)"
  (cd "$ROOT" && cargo build --release --quiet --bin mxauth)
  MXAUTH_BIN=$TARGET/release/mxauth
fi
[ -x "$MXAUTH_BIN" ] || die "no mxauth binary at $MXAUTH_BIN"
case "$MXAUTH_BIN" in
  */release/*) LABEL=release ;;
  */debug/*) LABEL=debug ;;
  *) LABEL=unknown ;;
esac
LABEL=${BENCH_BINARY_LABEL:-$LABEL}
cp "$MXAUTH_BIN" "$WORK/mxauth"
MXAUTH=$WORK/mxauth

# --- the databases
if [ "$BACKEND" = postgres ]; then
  SYNAPSE_DBNAME=$("${HELPER[@]}" pg-create "$PGURL" bench_synapse)
  PG_DATABASES+=("$SYNAPSE_DBNAME")
  MXAUTH_DBNAME=$("${HELPER[@]}" pg-create "$PGURL" bench_mxauth)
  PG_DATABASES+=("$MXAUTH_DBNAME")
  SYNAPSE_DB=$("${HELPER[@]}" pg-url "$PGURL" "$SYNAPSE_DBNAME")
  MXAUTH_DB=$("${HELPER[@]}" pg-url "$PGURL" "$MXAUTH_DBNAME")
  SYNAPSE_DB_YAML=$("${HELPER[@]}" pg-database "$PGURL" "$SYNAPSE_DBNAME")
  MXAUTH_DB_YAML=$("${HELPER[@]}" pg-database "$PGURL" "$MXAUTH_DBNAME")
  log "PostgreSQL databases $SYNAPSE_DBNAME (Synapse) and $MXAUTH_DBNAME (mxauth)"
else
  SYNAPSE_DB=sqlite:$WORK/homeserver.db
  MXAUTH_DB=sqlite:$WORK/mxauth.db
  SYNAPSE_DB_YAML="{name: sqlite3, args: {database: '$WORK/homeserver.db'}}"
  MXAUTH_DB_YAML="{name: sqlite3, args: {database: '$WORK/mxauth.db'}}"
fi

# --- Synapse, once: its real schema
SYNAPSE_PORT=$(free_port)
mkdir -p "$WORK/synapse/media"
"$VENV/bin/generate_signing_key" -o "$WORK/synapse/signing.key"
cat > "$WORK/homeserver.yaml" <<EOF
server_name: bench.test
listeners:
  - port: $SYNAPSE_PORT
    bind_addresses: ['127.0.0.1']
    type: http
    tls: false
    resources: [{names: [client], compress: false}]
database: $SYNAPSE_DB_YAML
media_store_path: $WORK/synapse/media
signing_key_path: $WORK/synapse/signing.key
report_stats: false
macaroon_secret_key: "$MACAROON_SECRET"
form_secret: "bench-form-secret"
trusted_key_servers: []
suppress_key_server_warning: true
background_updates: {sleep_enabled: false}
EOF
log "Synapse $SYNAPSE_VERSION on 127.0.0.1:$SYNAPSE_PORT ($BACKEND), to create its schema"
(cd "$WORK/synapse" && exec "$PY" -m synapse.app.homeserver -c "$WORK/homeserver.yaml") \
  > "$WORK/synapse.log" 2>&1 &
SYNAPSE_PID=$!
for i in $(seq 600); do
  curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$SYNAPSE_PORT/_matrix/client/versions" && break
  kill -0 "$SYNAPSE_PID" 2>/dev/null || { tail -n 50 "$WORK/synapse.log" >&2; die "Synapse exited"; }
  [ "$i" = 600 ] && { tail -n 50 "$WORK/synapse.log" >&2; die "Synapse did not answer within 120 s"; }
  sleep 0.2
done
# Its background updates add indexes (e.g. the unique one on
# profiles.full_user_id): let them finish, as on a real server.
"${HELPER[@]}" wait-updates "$SYNAPSE_DB"
stop_pid "$SYNAPSE_PID"; SYNAPSE_PID=""

log "filling Synapse: $USERS users, $DEVICES devices and tokens each, an email each"
FILL_START=$(date +%s.%N)
"${HELPER[@]}" fill "$SYNAPSE_DB" "$USERS" "$DEVICES"
FILL_S=$(python3 -c "import sys; print(float(sys.argv[2]) - float(sys.argv[1]))" "$FILL_START" "$(date +%s.%N)")

# --- mxauth's config
cat > "$WORK/mxauth.yaml" <<EOF
server_name: bench.test
database: $MXAUTH_DB_YAML
macaroon_secret_key: "$MACAROON_SECRET"
EOF

# mxauth's schema first, so that the timings are the import's alone.
"$MXAUTH" manage list-admins --config "$WORK/mxauth.yaml" > "$WORK/migrate.log" 2>&1 \
  || { cat "$WORK/migrate.log" >&2; die "mxauth could not create its schema"; }

IMPORT_ARGS=(import-synapse --config "$WORK/mxauth.yaml" --synapse-config "$WORK/homeserver.yaml" --synapse-stopped)
[ -n "$BATCH_SIZE" ] && IMPORT_ARGS+=(--batch-size "$BATCH_SIZE")
# run_import NAME: timed, output in $WORK/NAME.log, figures in $WORK/NAME.time
run_import() {
  log "import-synapse: $1"
  local timer=("${HELPER[@]}" timed "$WORK/$1.time")
  [ -x /usr/bin/time ] && timer=(/usr/bin/time -v -o "$WORK/$1.time")
  RUST_LOG=${RUST_LOG:-warn} "${timer[@]}" "$MXAUTH" "${IMPORT_ARGS[@]}" > "$WORK/$1.log" 2>&1 \
    || { tail -n 30 "$WORK/$1.log" >&2; die "import-synapse failed ($1)"; }
  sed 's/^/   /' "$WORK/$1.log" >&2
}

run_import first
"${HELPER[@]}" count "$MXAUTH_DB" > "$WORK/mxauth-counts.json"
run_import again
CHANGED_DEVICES=0
if [ "$CHANGE_PERCENT" != 0 ]; then
  log "renaming the devices of $CHANGE_PERCENT % of the users at Synapse"
  CHANGED_DEVICES=$("${HELPER[@]}" change "$SYNAPSE_DB" "$CHANGE_PERCENT" \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["devices"])')
  run_import changed
fi

python3 - "$WORK/meta.json" <<EOF
import json, sys
json.dump({
    "backend": "$BACKEND", "binary": "$LABEL", "users": $USERS, "devices_per_user": $DEVICES,
    "batch_size": "${BATCH_SIZE:-default}", "fill_s": $FILL_S,
    "change_percent": $CHANGE_PERCENT, "changed_devices": $CHANGED_DEVICES,
}, open(sys.argv[1], "w"))
EOF
echo
"${HELPER[@]}" report "$WORK"
