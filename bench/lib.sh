# Helpers of the bench/ scripts (sourced, not run): messages, apt-get,
# free ports, stopping what a script started, PostgreSQL's tools.

log() { printf '== %s\n' "$*" >&2; }
die() { printf 'bench: %s\n' "$*" >&2; exit 1; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
apt_install() {
  log "installing $*"
  as_root apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "$@" >/dev/null
}
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
port_busy() { python3 -c 'import socket,sys; s=socket.socket(); sys.exit(0 if s.connect_ex(("127.0.0.1",int(sys.argv[1])))==0 else 1)' "$1"; }

# stop_pid PID: TERM, then KILL after STOP_WAIT_TENTHS tenths of a second
# (default 50: 5 s; a server flushing a large batch may want more).
stop_pid() {
  local pid=$1
  [ -n "$pid" ] || return 0
  kill "$pid" 2>/dev/null || return 0
  for _ in $(seq "${STOP_WAIT_TENTHS:-50}"); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null || true
}

# Where initdb and pg_ctl are (PATH first, then Debian's versioned dirs).
pg_bindir() {
  if command -v initdb >/dev/null 2>&1; then dirname "$(readlink -f "$(command -v initdb)")"; return; fi
  ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1
}
# PostgreSQL refuses to run as root: as the postgres user then.
run_pg() {
  if [ "$(id -u)" = 0 ]; then su postgres -s /bin/bash -c "$(printf '%q ' "$@")"; else "$@"; fi
}

# parse_backend_args LAST_HELP_LINE "$@": sets BACKEND (sqlite, or postgres
# with --postgres); --help prints the script's header comment, lines 2 to
# LAST_HELP_LINE.
parse_backend_args() {
  local help_end=$1; shift
  BACKEND=sqlite
  for arg in "$@"; do
    case "$arg" in
      --postgres) BACKEND=postgres ;;
      -h|--help) sed -n "2,${help_end}p" "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
      *) echo "unknown argument: $arg (try --help)" >&2; exit 2 ;;
    esac
  done
}

# What the load runs need: wrk and curl (installed if missing), python3.
need_load_tools() {
  command -v wrk >/dev/null 2>&1 || apt_install wrk
  command -v curl >/dev/null 2>&1 || apt_install curl
  command -v python3 >/dev/null 2>&1 || die "python3 is needed"
}
