#!/usr/bin/env bash
# The whole test suite, from a fresh machine: installs what the tests need,
# starts a throw-away PostgreSQL in a temp dir on a free port, runs the
# checks and every test (each store and HTTP test on SQLite and PostgreSQL),
# and stops PostgreSQL again.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '== %s\n' "$*" >&2; }

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

apt_install() {
  log "installing $*"
  as_root apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "$@" >/dev/null
}

# --- PostgreSQL
pg_bindir() {
  if command -v initdb >/dev/null 2>&1; then dirname "$(command -v initdb)"; return; fi
  ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1
}
if [ -z "$(pg_bindir)" ] || [ ! -x "$(pg_bindir)/pg_ctl" ]; then
  apt_install postgresql
fi
PGBIN=$(pg_bindir)

# --- Chromium, for the HTML pages
if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then
  apt_install chromium chromium-driver
fi

# --- OpenLDAP, for the LDAP provider's tests (each starts its own slapd in a
# temp dir on a free port; openssl makes the certificate of the TLS test)
if [ ! -x /usr/sbin/slapd ] || [ ! -x /usr/sbin/slapadd ] || ! command -v openssl >/dev/null 2>&1; then
  apt_install slapd ldap-utils openssl
fi

# --- nginx, for the tests of the shipped deploy/nginx/mxauth.conf
if [ ! -x /usr/sbin/nginx ] && ! command -v nginx >/dev/null 2>&1; then
  apt_install nginx
fi

# --- Node and a real OpenID Connect provider for the SSO tests
# (oidc-provider, pinned by tests/oidc/package-lock.json; tests start it)
if ! command -v node >/dev/null 2>&1; then
  apt_install nodejs npm
fi
if ! cmp -s tests/oidc/package-lock.json tests/oidc/node_modules/.mxauth-installed-lock 2>/dev/null; then
  log "npm ci (tests/oidc)"
  (cd tests/oidc && npm ci --no-audit --no-fund --loglevel=error)
  cp tests/oidc/package-lock.json tests/oidc/node_modules/.mxauth-installed-lock
fi

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

PGTMP=$(mktemp -d /tmp/mxauth-pg.XXXXXX)
PGPORT=$(free_port)
run_pg() {
  if [ "$(id -u)" = 0 ]; then
    id postgres >/dev/null 2>&1 || useradd --system --home-dir /var/lib/postgresql postgres
    chown -R postgres "$PGTMP"
    su postgres -s /bin/bash -c "$(printf '%q ' "$@")"
  else
    "$@"
  fi
}
stop_pg() {
  run_pg "$PGBIN/pg_ctl" -D "$PGTMP/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$PGTMP"
}
# --- no process left behind: every test step runs with this mark in its
# environment, which whatever it starts inherits (chromedriver's Chromium,
# slapd, oidc-provider, aiosmtpd, nginx, mxauth itself...). PostgreSQL
# (below) is started without it: stop_pg stops it at exit.
RUN_MARK="mxauth-test-$$-$(date +%s%N)"
marked() { MXAUTH_TEST_RUN="$RUN_MARK" "$@"; }
marked_pids() {
  grep -lzxF "MXAUTH_TEST_RUN=$RUN_MARK" /proc/[0-9]*/environ 2>/dev/null \
    | sed 's|^/proc/\([0-9]*\)/environ$|\1|' || true
}
check_no_leftovers() { # what ran
  local pids i
  for i in $(seq 1 50); do # a moment for processes being stopped to go
    pids=$(marked_pids)
    [ -n "$pids" ] || return 0
    sleep 0.1
  done
  log "FAILED: $1 left these processes running:"
  # shellcheck disable=SC2086
  ps -o pid,ppid,pgid,etime,args -p "$(echo $pids | tr ' ' ',')" >&2 || true
  kill_marked
  exit 1
}
kill_marked() { # at exit too: a failed run leaves nothing running either
  local pids
  pids=$(marked_pids)
  # shellcheck disable=SC2086
  [ -z "$pids" ] || kill -KILL $pids 2>/dev/null || true
}

trap 'kill_marked; stop_pg' EXIT
log "starting PostgreSQL on 127.0.0.1:$PGPORT"
run_pg "$PGBIN/initdb" -D "$PGTMP/data" -A trust -U postgres >/dev/null
run_pg "$PGBIN/pg_ctl" -D "$PGTMP/data" -l "$PGTMP/log" -w start \
  -o "-p $PGPORT -k $PGTMP -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=500" >/dev/null
export MXAUTH_TEST_POSTGRES_URL="postgres://postgres@127.0.0.1:$PGPORT/postgres"

# --- a real SMTP server for the email tests (aiosmtpd from PyPI, pinned)
SMTP_VENV="${CARGO_TARGET_DIR:-target}/venv-smtp"
if [ ! -x "$SMTP_VENV/bin/python" ] || ! "$SMTP_VENV/bin/python" -c 'import aiosmtpd' 2>/dev/null; then
  log "installing aiosmtpd into $SMTP_VENV"
  python3 -m venv "$SMTP_VENV" || { apt_install python3-venv; python3 -m venv "$SMTP_VENV"; }
  "$SMTP_VENV/bin/pip" install -q -r tests/api/smtp-requirements.txt
fi
MXAUTH_TEST_SMTP_PYTHON="$(cd "$SMTP_VENV/bin" && pwd)/python"
export MXAUTH_TEST_SMTP_PYTHON

# --- the checks and the tests
log "cargo fmt --check"
cargo fmt --all -- --check
cargo fmt --manifest-path clients/rust-oauth/Cargo.toml -- --check
log "cargo clippy"
cargo clippy --all-targets -- -D warnings
log "cargo test"
marked cargo test --all-targets "$@"
check_no_leftovers "cargo test"
# Every test drops its PostgreSQL database (tests/api/support.rs): left
# behind, some 300 of them fill a small CI disk.
left_dbs=$(run_pg "$(command -v psql || echo "$PGBIN/psql")" -h 127.0.0.1 -p "$PGPORT" -U postgres -Atc \
  "SELECT count(*) FROM pg_database WHERE datname LIKE 'mxauth_test_%'")
if [ "$left_dbs" != 0 ]; then
  log "FAILED: cargo test left $left_dbs test databases behind"
  exit 1
fi
log "schemathesis against the spec's OpenAPI (no input may get a 5xx)"
marked scripts/fuzz.sh
log "real clients"
marked clients/run.sh
log "end to end: a real Synapse delegating to mxauth behind real nginx"
marked tests/e2e/run.sh
check_no_leftovers "the fuzzer, the clients or the end-to-end test"
