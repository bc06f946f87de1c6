#!/usr/bin/env bash
# End-to-end tests of mxauth as Synapse's delegated auth service, behind a
# real nginx using deploy/nginx/mxauth.conf. See tests/e2e/README.md.
#
# Installs what is missing (nginx with apt-get; Synapse, pytest, requests and
# psycopg2 into a virtualenv under ${CARGO_TARGET_DIR:-target}/venv-synapse), writes
# the configs of the three services into a temp dir, starts them on free
# loopback ports, runs `pytest -q tests/e2e` (extra arguments go to pytest)
# and stops everything. On failure it prints the three logs and keeps the
# temp dir.
#
#   tests/e2e/run.sh                      # builds mxauth with cargo
#   MXAUTH_BIN=target/debug/mxauth tests/e2e/run.sh -k outage
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$(pwd)

SYNAPSE_VERSION=${SYNAPSE_VERSION:-1.163.2}
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
VENV=$TARGET/venv-synapse
SERVER_NAME=e2e.test

log() { printf '== %s\n' "$*" >&2; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# --- nginx ------------------------------------------------------------------
NGINX=$(command -v nginx || true)
[ -z "$NGINX" ] && [ -x /usr/sbin/nginx ] && NGINX=/usr/sbin/nginx
if [ -z "$NGINX" ]; then
  log "installing nginx"
  as_root apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq nginx >/dev/null
  NGINX=$(command -v nginx || echo /usr/sbin/nginx)
fi

# --- Synapse in a virtualenv ------------------------------------------------
# The distribution's version: synapse.__version__ appends git details when
# the venv sits inside a git checkout (target/ here), so it never matches.
# psycopg2: Synapse on PostgreSQL, and the databases of
# test_import_synapse.py.
if ! "$VENV/bin/python" -c "import synapse, pytest, requests, psycopg2, sys, importlib.metadata as m; sys.exit(m.version('matrix-synapse') != '$SYNAPSE_VERSION')" 2>/dev/null; then
  log "installing matrix-synapse==$SYNAPSE_VERSION, pytest, requests, psycopg2-binary into $VENV"
  mkdir -p "$TARGET"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q "matrix-synapse==$SYNAPSE_VERSION" pytest requests psycopg2-binary
fi
PY=$VENV/bin/python

# --- mxauth -----------------------------------------------------------------
if [ -z "${MXAUTH_BIN:-}" ]; then
  log "cargo build (CARGO_TARGET_DIR=$TARGET)"
  CARGO_TARGET_DIR=$TARGET cargo build --quiet
  MXAUTH_BIN=$TARGET/debug/mxauth
fi
[ -x "$MXAUTH_BIN" ] || { log "no mxauth binary at $MXAUTH_BIN"; exit 1; }
MXAUTH_BIN=$(cd "$(dirname "$MXAUTH_BIN")" && pwd)/$(basename "$MXAUTH_BIN")

# --- temp dir, ports, secrets -----------------------------------------------
TMP=$(mktemp -d /tmp/mxauth-e2e.XXXXXX)
read -r MXAUTH_PORT SYNAPSE_PORT NGINX_PORT < <("$PY" - <<'EOF'
import socket
socks = [socket.socket() for _ in range(3)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in socks))
EOF
)
secret() { "$PY" -c 'import secrets; print(secrets.token_hex(32))'; }
MAS_SECRET=$(secret)
REG_SECRET=$(secret)

# --- Synapse config ---------------------------------------------------------
mkdir -p "$TMP/synapse/media"
"$VENV/bin/generate_signing_key" -o "$TMP/synapse/signing.key"
cat > "$TMP/synapse/log.yaml" <<EOF
version: 1
formatters:
  precise:
    format: '%(asctime)s - %(name)s - %(lineno)d - %(levelname)s - %(request)s - %(message)s'
filters:
  context:
    (): synapse.logging.context.LoggingContextFilter
    request: ""
handlers:
  file:
    class: logging.FileHandler
    formatter: precise
    filename: $TMP/synapse.log
    filters: [context]
loggers:
  synapse.storage.SQL:
    level: WARNING
  synapse.api.auth.mas:
    level: DEBUG
root:
  level: INFO
  handlers: [file]
disable_existing_loggers: false
EOF
cat > "$TMP/synapse/homeserver.yaml" <<EOF
server_name: $SERVER_NAME
public_baseurl: http://127.0.0.1:$NGINX_PORT/
pid_file: $TMP/synapse/homeserver.pid
listeners:
  - port: $SYNAPSE_PORT
    bind_addresses: ['127.0.0.1']
    type: http
    tls: false
    x_forwarded: true
    resources:
      - names: [client]
        compress: false
database:
  name: sqlite3
  args:
    database: $TMP/synapse/homeserver.db
log_config: $TMP/synapse/log.yaml
media_store_path: $TMP/synapse/media
signing_key_path: $TMP/synapse/signing.key
report_stats: false
macaroon_secret_key: "$(secret)"
form_secret: "$(secret)"
trusted_key_servers: []
suppress_key_server_warning: true
enable_registration: false
# Synapse refuses to start with password auth on under delegation
# (config/mas.py check_config_conflicts).
password_config:
  enabled: false
# The tests make a few dozen requests from one address in a burst.
rc_message: {per_second: 1000, burst_count: 1000}
rc_registration: {per_second: 1000, burst_count: 1000}
rc_login:
  address: {per_second: 1000, burst_count: 1000}
  account: {per_second: 1000, burst_count: 1000}
  failed_attempts: {per_second: 1000, burst_count: 1000}
rc_admin_redaction: {per_second: 1000, burst_count: 1000}
rc_joins:
  local: {per_second: 1000, burst_count: 1000}
# A fresh database has some fifty background updates, one a second by
# default; the runner waits for them (below), without the pauses.
background_updates:
  sleep_enabled: false
matrix_authentication_service:
  enabled: true
  endpoint: http://127.0.0.1:$MXAUTH_PORT/
  secret: "$MAS_SECRET"
EOF

# A start/stop helper the outage test uses too (E2E_SYNAPSE_CTL).
cat > "$TMP/synapse-ctl" <<EOF
#!/usr/bin/env bash
# synapse-ctl start|stop|status: the e2e Synapse (pid in $TMP/synapse.pid).
set -euo pipefail
PIDFILE=$TMP/synapse.pid
running() { [ -f "\$PIDFILE" ] && kill -0 "\$(cat "\$PIDFILE")" 2>/dev/null; }
case "\${1:-}" in
  start)
    running && exit 0
    cd "$TMP/synapse"
    nohup "$PY" -m synapse.app.homeserver -c "$TMP/synapse/homeserver.yaml" \
      >>"$TMP/synapse.out" 2>&1 </dev/null &
    echo \$! > "\$PIDFILE"
    for _ in \$(seq 1 600); do
      if curl -fsS -o /dev/null "http://127.0.0.1:$SYNAPSE_PORT/health" 2>/dev/null; then exit 0; fi
      running || { echo "synapse exited during start" >&2; exit 1; }
      sleep 0.2
    done
    echo "synapse did not answer within 120 s" >&2; exit 1 ;;
  stop)
    running || { rm -f "\$PIDFILE"; exit 0; }
    pid=\$(cat "\$PIDFILE")
    kill -TERM "\$pid" 2>/dev/null || true
    for _ in \$(seq 1 100); do kill -0 "\$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "\$pid" 2>/dev/null || true
    for _ in \$(seq 1 50); do kill -0 "\$pid" 2>/dev/null || break; sleep 0.1; done
    rm -f "\$PIDFILE" ;;
  status) running ;;
  *) echo "usage: \$0 start|stop|status" >&2; exit 2 ;;
esac
EOF
chmod +x "$TMP/synapse-ctl"

# --- mxauth config ----------------------------------------------------------
cat > "$TMP/mxauth.yaml" <<EOF
server_name: $SERVER_NAME
public_baseurl: http://127.0.0.1:$NGINX_PORT/
listeners:
  - port: $MXAUTH_PORT
    bind_addresses: ['127.0.0.1']
    type: http
    x_forwarded: true
database:
  name: sqlite3
  args:
    database: $TMP/mxauth.db
enable_registration: true
enable_registration_without_verification: true
registration_shared_secret: "$REG_SECRET"
# The tests make many logins and registrations from one address: Synapse's
# default limits are lifted here (tests/api/ratelimit.rs tests the limits).
rc_login: {address: {per_second: 1000, burst_count: 1000}, account: {per_second: 1000, burst_count: 1000}, failed_attempts: {per_second: 1000, burst_count: 1000}}
rc_registration: {per_second: 1000, burst_count: 1000}
rc_registration_token_validity: {per_second: 1000, burst_count: 1000}
rc_3pid_validation: {per_second: 1000, burst_count: 1000}
# The OAuth 2.0 API is on by default (public_baseurl is set: the issuer is
# nginx's origin). test_oauth.py registers one client, under the default
# limit of client registrations.
mxauth: {rate_limits: {username_available: {per_second: 1000, burst_count: 1000}, registration_session: {per_second: 1000, burst_count: 1000}, sso_redirect: {per_second: 1000, burst_count: 1000}, registration_nonce: {per_second: 1000, burst_count: 1000}}}
matrix:
  kind: synapse
  homeserver: $SERVER_NAME
  endpoint: http://127.0.0.1:$SYNAPSE_PORT/
  secret: "$MAS_SECRET"
EOF

# --- nginx config -----------------------------------------------------------
mkdir -p "$TMP/nginx/tmp"
sed -e "s/@LISTEN_ADDR@/127.0.0.1/" -e "s/@LISTEN_PORT@/$NGINX_PORT/" \
    -e "s/@SERVER_NAME@/localhost/" \
    -e "s/@MXAUTH_HOST@/127.0.0.1/" -e "s/@MXAUTH_PORT@/$MXAUTH_PORT/" \
    -e "s/@SYNAPSE_HOST@/127.0.0.1/" -e "s/@SYNAPSE_PORT@/$SYNAPSE_PORT/" \
    deploy/nginx/mxauth.conf > "$TMP/nginx/mxauth.conf"
if grep -n '@[A-Z_]*@' "$TMP/nginx/mxauth.conf"; then log "unsubstituted placeholder"; exit 1; fi
# As root, nginx's workers would drop to `nobody`, who cannot write the temp
# dir (mktemp makes it 0700): keep them root. Loopback-only, throw-away.
NGINX_USER=""
[ "$(id -u)" = 0 ] && NGINX_USER="user root;"
cat > "$TMP/nginx/nginx.conf" <<EOF
$NGINX_USER
daemon off;
worker_processes 1;
pid $TMP/nginx/nginx.pid;
error_log $TMP/nginx.log info;
events { worker_connections 512; }
http {
    # Which upstream answered each request: test_routing.py reads this.
    log_format e2e '\$request_method \$request_uri \$status \$upstream_addr';
    access_log $TMP/nginx-access.log e2e;
    client_body_temp_path $TMP/nginx/tmp/body;
    proxy_temp_path $TMP/nginx/tmp/proxy;
    fastcgi_temp_path $TMP/nginx/tmp/fastcgi;
    uwsgi_temp_path $TMP/nginx/tmp/uwsgi;
    scgi_temp_path $TMP/nginx/tmp/scgi;
    include $TMP/nginx/mxauth.conf;
}
EOF

# --- start, test, stop ------------------------------------------------------
MXAUTH_PID=""
NGINX_PID=""
STATUS=1
show_logs() {
  for f in synapse.log synapse.out mxauth.log nginx.log nginx-access.log; do
    [ -s "$TMP/$f" ] || continue
    printf '\n===== %s (last 150 lines; all of it in %s) =====\n' "$f" "$TMP/$f" >&2
    tail -n 150 "$TMP/$f" >&2
  done
}
stop_pid() {
  local pid=$1
  [ -n "$pid" ] || return 0
  kill -TERM "$pid" 2>/dev/null || return 0
  for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
}
cleanup() {
  stop_pid "$NGINX_PID"
  stop_pid "$MXAUTH_PID"
  "$TMP/synapse-ctl" stop || true
  [ "$STATUS" = 0 ] || show_logs
  if [ "$STATUS" = 0 ] && [ -z "${E2E_KEEP:-}" ]; then
    rm -rf "$TMP"
  else
    log "configs and logs kept in $TMP"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

wait_http() { # name url seconds pid
  local i
  for i in $(seq 1 $(( $3 * 5 ))); do
    if curl -sS -o /dev/null "$2" 2>/dev/null; then return 0; fi
    if [ -n "${4:-}" ] && ! kill -0 "$4" 2>/dev/null; then log "$1 exited during start"; return 1; fi
    sleep 0.2
  done
  log "$1 did not answer at $2 within $3 s"; return 1
}

log "Synapse $SYNAPSE_VERSION on 127.0.0.1:$SYNAPSE_PORT"
"$TMP/synapse-ctl" start
# Until its background updates are done, Synapse lacks indexes its own
# queries rely on: 1.163.2's reactivate_user (`create_profile`, an upsert
# on profiles.full_user_id, whose unique index comes with the background
# update profiles_full_user_id_key_idx) fails with a 500 on SQLite.
log "waiting for Synapse's background updates"
"$PY" - "$TMP/synapse/homeserver.db" <<'EOF'
import sqlite3, sys, time
deadline = time.monotonic() + 120
left = None
while left != 0:
    if time.monotonic() > deadline:
        sys.exit(f"Synapse still has {left} background updates after 120 s")
    time.sleep(0.2)
    try:
        with sqlite3.connect(sys.argv[1], timeout=5) as db:
            left = db.execute("SELECT count(*) FROM background_updates").fetchone()[0]
    except sqlite3.OperationalError:
        left = None
EOF
log "mxauth ($MXAUTH_BIN) on 127.0.0.1:$MXAUTH_PORT"
RUST_LOG=${RUST_LOG:-info} "$MXAUTH_BIN" serve --config "$TMP/mxauth.yaml" >"$TMP/mxauth.log" 2>&1 &
MXAUTH_PID=$!
wait_http mxauth "http://127.0.0.1:$MXAUTH_PORT/_matrix/client/versions" 60 "$MXAUTH_PID"
log "nginx on 127.0.0.1:$NGINX_PORT"
"$NGINX" -t -q -e "$TMP/nginx.log" -p "$TMP/nginx" -c "$TMP/nginx/nginx.conf"
"$NGINX" -e "$TMP/nginx.log" -p "$TMP/nginx" -c "$TMP/nginx/nginx.conf" &
NGINX_PID=$!
wait_http nginx "http://127.0.0.1:$NGINX_PORT/_matrix/client/versions" 30 "$NGINX_PID"

export E2E_BASE_URL=http://127.0.0.1:$NGINX_PORT
export E2E_MXAUTH_URL=http://127.0.0.1:$MXAUTH_PORT
export E2E_SYNAPSE_URL=http://127.0.0.1:$SYNAPSE_PORT
export E2E_SERVER_NAME=$SERVER_NAME
export E2E_REGISTRATION_SHARED_SECRET=$REG_SECRET
export E2E_MAS_SECRET=$MAS_SECRET
export E2E_SYNAPSE_CTL=$TMP/synapse-ctl
export E2E_NGINX_ACCESS_LOG=$TMP/nginx-access.log
export E2E_TMP=$TMP
# The admin's command line on the same config (tests/e2e/test_manage.py).
export E2E_MXAUTH_BIN=$MXAUTH_BIN
export E2E_MXAUTH_CONFIG=$TMP/mxauth.yaml

log "pytest tests/e2e"
set +e
"$PY" -m pytest -q -p no:cacheprovider tests/e2e "$@"
STATUS=$?
set -e
exit "$STATUS"
