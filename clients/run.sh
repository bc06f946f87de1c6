#!/usr/bin/env bash
# Real clients against a real mxauth: matrix-js-sdk 37.5.0 (clients/js,
# node --test), matrix-nio 0.26.0 (clients/nio, pytest), and on the OAuth 2.0
# API openid-client 6.9.0 (clients/js/tests/oauth.test.mjs) and
# matrix-rust-sdk's matrix-sdk 0.18.0 (clients/rust-oauth, its own crate).
#
# Installs what is missing (npm ci; a venv with requirements.txt), builds the
# server if needed and clients/rust-oauth (CARGO_TARGET_DIR=target/rust-oauth),
# writes a config (free port, SQLite in a temp dir, registration open,
# public_baseurl the server's URL so OAuth is on), starts `mxauth serve
# --config`, waits for /_matrix/client/versions, runs the suites, stops the
# server, and exits non-zero if any suite failed.
#
# Environment:
#   MXAUTH_BIN        the server binary to use (else `cargo build`, which
#                     honours CARGO_TARGET_DIR)
#   MXAUTH_CLIENTS_NO_CONFIG=1
#                     development only: start `mxauth serve` WITHOUT a config
#                     (127.0.0.1:8008, registration closed, no
#                     public_baseurl) in the temp dir; the registration
#                     tests then fail with M_FORBIDDEN, the OAuth ones find
#                     no OAuth 2.0 server.
# The tests get MXAUTH_URL, MXAUTH_BIN, MXAUTH_CONFIG, MXAUTH_WORKDIR,
# MXAUTH_SERVER_NAME and MXAUTH_PUBLIC_BASEURL.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

log() { printf '== %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

# --- the clients
command -v node >/dev/null 2>&1 || die "node (>= 20) is needed for matrix-js-sdk"
node_major=$(node -p 'process.versions.node.split(".")[0]')
[ "$node_major" -ge 20 ] || die "node >= 20 is needed for matrix-js-sdk 37, found $(node --version)"

# A copy of the lock file inside node_modules says what was installed.
if ! cmp -s clients/js/package-lock.json clients/js/node_modules/.mxauth-installed-lock 2>/dev/null; then
  log "npm ci (clients/js)"
  (cd clients/js && npm ci --no-audit --no-fund --loglevel=error)
  cp clients/js/package-lock.json clients/js/node_modules/.mxauth-installed-lock
fi

VENV=$ROOT/clients/nio/.venv
if [ ! -x "$VENV/bin/python" ]; then
  log "python3 -m venv clients/nio/.venv"
  python3 -m venv "$VENV"
fi
if ! cmp -s clients/nio/requirements.txt "$VENV/.mxauth-installed-requirements" 2>/dev/null; then
  log "pip install -r clients/nio/requirements.txt"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r clients/nio/requirements.txt
  cp clients/nio/requirements.txt "$VENV/.mxauth-installed-requirements"
fi

# matrix-rust-sdk, in a crate of its own so that matrix-sdk never slows the
# server's builds; its target dir under target/ is cached with the rest.
RUST_OAUTH_TARGET=$ROOT/target/rust-oauth
log "cargo build (clients/rust-oauth, matrix-sdk 0.18.0)"
CARGO_TARGET_DIR=$RUST_OAUTH_TARGET cargo build --quiet --locked --manifest-path clients/rust-oauth/Cargo.toml
# its scripted browser's form parser
CARGO_TARGET_DIR=$RUST_OAUTH_TARGET cargo test --quiet --locked --manifest-path clients/rust-oauth/Cargo.toml
RUST_OAUTH_BIN=$RUST_OAUTH_TARGET/debug/mxauth-rust-oauth-client

# --- the server
if [ -n "${MXAUTH_BIN:-}" ]; then
  BIN=$MXAUTH_BIN
else
  log "cargo build"
  cargo build --quiet --bin mxauth
  target_dir=$(cargo metadata --format-version 1 --no-deps |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
  BIN=$target_dir/debug/mxauth
fi
[ -x "$BIN" ] || die "no server binary at $BIN"
BIN=$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

WORK=$(mktemp -d /tmp/mxauth-clients.XXXXXX)
SERVER_PID=
GATED_PID=
cleanup() {
  for pid in "$SERVER_PID" "$GATED_PID"; do
    if [ -n "$pid" ]; then
      kill "$pid" 2>/dev/null || true
      wait "$pid" 2>/dev/null || true
    fi
  done
  rm -rf "$WORK"
}
trap cleanup EXIT

SERVER_NAME=localhost
if [ "${MXAUTH_CLIENTS_NO_CONFIG:-}" = 1 ]; then
  PORT=8008
  if python3 -c 'import socket,sys; s=socket.socket(); sys.exit(s.connect_ex(("127.0.0.1",8008))!=0)'; then
    die "127.0.0.1:8008 is taken: MXAUTH_CLIENTS_NO_CONFIG needs it"
  fi
  CONFIG=
  log "starting $BIN serve (no config: registration closed) in $WORK"
  (cd "$WORK" && exec "$BIN" serve) >"$WORK/server.log" 2>&1 &
  SERVER_PID=$!
else
  PORT=$(free_port)
  CONFIG=$WORK/homeserver.yaml
  cat >"$CONFIG" <<YAML
server_name: $SERVER_NAME
# public_baseurl turns the OAuth 2.0 API on (its issuer and endpoints).
public_baseurl: http://127.0.0.1:$PORT/
listeners:
  - port: $PORT
    bind_addresses: ['127.0.0.1']
    type: http
    x_forwarded: false
    resources:
      - names: [client]
database:
  name: sqlite3
  args:
    database: $WORK/mxauth.db
enable_registration: true
enable_registration_without_verification: true
# The tests make many logins and registrations from one address: Synapse's
# default limits are lifted here (tests/api/ratelimit.rs tests the limits).
rc_login: {address: {per_second: 1000, burst_count: 1000}, account: {per_second: 1000, burst_count: 1000}, failed_attempts: {per_second: 1000, burst_count: 1000}}
rc_registration: {per_second: 1000, burst_count: 1000}
rc_registration_token_validity: {per_second: 1000, burst_count: 1000}
rc_3pid_validation: {per_second: 1000, burst_count: 1000}
mxauth: {rate_limits: {username_available: {per_second: 1000, burst_count: 1000}, registration_session: {per_second: 1000, burst_count: 1000}, sso_redirect: {per_second: 1000, burst_count: 1000}, registration_nonce: {per_second: 1000, burst_count: 1000}}}
YAML
  log "starting $BIN serve --config $CONFIG (127.0.0.1:$PORT)"
  (cd "$WORK" && exec "$BIN" serve --config "$CONFIG") >"$WORK/server.log" 2>&1 &
  SERVER_PID=$!
fi
URL=http://127.0.0.1:$PORT

# The head holds a startup error (before any backtrace), the tail the last requests.
server_log() {
  log "server log ($WORK/server.log):"
  if [ "$(wc -l <"$WORK/server.log")" -le 80 ]; then cat "$WORK/server.log" >&2
  else head -n 20 "$WORK/server.log" >&2; echo "[...]" >&2; tail -n 50 "$WORK/server.log" >&2; fi
}

for _ in $(seq 1 300); do
  if ! kill -0 "$SERVER_PID" 2>/dev/null; then
    wait "$SERVER_PID" || true
    SERVER_PID=
    server_log
    die "the server exited before answering"
  fi
  if python3 -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=1)' \
    "$URL/_matrix/client/versions" 2>/dev/null; then
    break
  fi
  sleep 0.2
done
python3 -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=2)' \
  "$URL/_matrix/client/versions" 2>/dev/null || { server_log; die "no answer from $URL after 60 s"; }

# A second server whose registration is gated as an admin would gate it:
# a registration token and the privacy policy (m.login.terms), then dummy.
GATED_PORT=$(free_port)
GATED_SECRET=$(python3 -c 'import secrets; print(secrets.token_hex(16))')
mkdir -p "$WORK/gated/policy/en"
echo '<!doctype html><title>Privacy</title><p>Our policy.</p>' >"$WORK/gated/policy/en/1.0.html"
cat >"$WORK/gated/homeserver.yaml" <<YAML
server_name: $SERVER_NAME
public_baseurl: http://127.0.0.1:$GATED_PORT/
listeners: [{port: $GATED_PORT, bind_addresses: ['127.0.0.1'], type: http}]
database: {name: sqlite3, args: {database: $WORK/gated/mxauth.db}}
enable_registration: true
registration_requires_token: true
registration_shared_secret: "$GATED_SECRET"
# The tests make many logins and registrations from one address: Synapse's
# default limits are lifted here (tests/api/ratelimit.rs tests the limits).
rc_login: {address: {per_second: 1000, burst_count: 1000}, account: {per_second: 1000, burst_count: 1000}, failed_attempts: {per_second: 1000, burst_count: 1000}}
rc_registration: {per_second: 1000, burst_count: 1000}
rc_registration_token_validity: {per_second: 1000, burst_count: 1000}
rc_3pid_validation: {per_second: 1000, burst_count: 1000}
mxauth: {rate_limits: {username_available: {per_second: 1000, burst_count: 1000}, registration_session: {per_second: 1000, burst_count: 1000}, sso_redirect: {per_second: 1000, burst_count: 1000}, registration_nonce: {per_second: 1000, burst_count: 1000}}}
user_consent:
  version: "1.0"
  template_dir: $WORK/gated/policy
  require_at_registration: true
YAML
(cd "$WORK/gated" && exec "$BIN" serve --config "$WORK/gated/homeserver.yaml") >"$WORK/gated/server.log" 2>&1 &
GATED_PID=$!
GATED_URL=http://127.0.0.1:$GATED_PORT
for _ in $(seq 1 300); do
  python3 -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=1)' \
    "$GATED_URL/_matrix/client/versions" 2>/dev/null && break
  kill -0 "$GATED_PID" 2>/dev/null || { cat "$WORK/gated/server.log" >&2; die "the gated server exited"; }
  sleep 0.2
done
export MXAUTH_GATED_URL=$GATED_URL MXAUTH_GATED_SECRET=$GATED_SECRET

export MXAUTH_URL=$URL MXAUTH_BIN=$BIN MXAUTH_CONFIG=$CONFIG MXAUTH_WORKDIR=$WORK MXAUTH_SERVER_NAME=$SERVER_NAME
export MXAUTH_PUBLIC_BASEURL=$URL/

# --- the suites
failed=()
log "matrix-js-sdk 37.5.0: node --test (clients/js/tests/*.test.js)"
(cd clients/js && node --test --test-timeout=60000 tests/*.test.js) || failed+=(matrix-js-sdk)
log "matrix-nio 0.26.0: pytest (clients/nio)"
(cd clients/nio && "$VENV/bin/python" -m pytest -q) || failed+=(matrix-nio)
log "openid-client 6.9.0 on the OAuth 2.0 API: node --test (clients/js/tests/oauth.test.mjs)"
(cd clients/js && node --test --test-timeout=60000 tests/oauth.test.mjs) || failed+=(openid-client)

# matrix-rust-sdk logs in as an existing user (made the admin's way, straight
# into the database), once with each kind of native redirect URI.
RUST_USER=rust_oauth_$(python3 -c 'import secrets; print(secrets.token_hex(5))')
RUST_PASSWORD=pw-$(python3 -c 'import secrets; print(secrets.token_hex(8))')
config_args=()
[ -z "$CONFIG" ] || config_args=(--config "$CONFIG")
(cd "$WORK" && "$BIN" register-user "${config_args[@]}" -u "$RUST_USER" -p "$RUST_PASSWORD" >/dev/null) ||
  failed+=("matrix-rust-sdk (register-user)")
for redirect in loopback private-use; do
  log "matrix-rust-sdk (matrix-sdk 0.18.0, Client::oauth()) on the OAuth 2.0 API: $redirect redirect (clients/rust-oauth)"
  MXAUTH_URL=$URL/ MXAUTH_HOMESERVER_URL=$URL MXAUTH_OAUTH_USER=$RUST_USER MXAUTH_OAUTH_PASSWORD=$RUST_PASSWORD \
    MXAUTH_OAUTH_REDIRECT=$redirect timeout 300 "$RUST_OAUTH_BIN" || failed+=("matrix-rust-sdk ($redirect)")
done

if [ ${#failed[@]} -gt 0 ]; then
  server_log
  die "real clients: failed: ${failed[*]}"
fi
log "real clients: all passed"
