#!/usr/bin/env bash
# Schema-driven fuzzing: schemathesis generates requests from the spec's
# OpenAPI (../shared/spec) for every auth path and checks that no input
# gets a 5xx. Runs against the debug build on a free port with a fresh
# SQLite database; called by scripts/test.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

SPEC=${MXAUTH_SPEC:-../shared/spec/matrix-client-server-auth.openapi.json}
[ -f "$SPEC" ] || { echo "fuzz: no spec at $SPEC" >&2; exit 1; }
TARGET=${CARGO_TARGET_DIR:-target}
VENV="$TARGET/venv-schemathesis"
if [ ! -x "$VENV/bin/schemathesis" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q 'schemathesis==4.32.5'
fi
cargo build -q
BIN="$TARGET/debug/mxauth"

TMP=$(mktemp -d /tmp/mxauth-fuzz.XXXXXX)
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$TMP/mxauth.yaml" <<YAML
server_name: fuzz.test
listeners: [{port: $PORT, bind_addresses: ['127.0.0.1'], type: http}]
database: {name: sqlite3, args: {database: '$TMP/mxauth.db'}}
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
"$BIN" serve -c "$TMP/mxauth.yaml" >"$TMP/server.log" 2>&1 &
SERVER=$!
cleanup() { kill "$SERVER" 2>/dev/null || true; wait "$SERVER" 2>/dev/null || true; rm -rf "$TMP"; }
trap cleanup EXIT
URL="http://127.0.0.1:$PORT"
for _ in $(seq 50); do curl -sf "$URL/_matrix/client/versions" >/dev/null && break; sleep 0.1; done

token() {
  curl -sf -XPOST "$URL/_matrix/client/v3/register" \
    -d "{\"username\":\"$1\",\"password\":\"fuzz-password\",\"auth\":{\"type\":\"m.login.dummy\"}}" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])'
}

# Pass 1 with a live token; pass 2 without one. Operations that end the
# session (logout, deactivate) run last, in the tokenless pass.
"$VENV/bin/schemathesis" run "$SPEC" --url "$URL" \
  -H "Authorization: Bearer $(token fuzzer)" \
  --checks not_a_server_error --max-examples 25 --seed 1 \
  --exclude-path-regex 'logout|deactivate' --no-color
"$VENV/bin/schemathesis" run "$SPEC" --url "$URL" \
  --checks not_a_server_error --max-examples 25 --seed 2 --no-color
if grep -q 'panicked' "$TMP/server.log"; then
  echo "fuzz: the server panicked:" >&2
  grep -A5 panicked "$TMP/server.log" >&2
  exit 1
fi
kill -0 "$SERVER" || { echo "fuzz: the server died" >&2; exit 1; }
