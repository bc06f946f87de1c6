"""Helper of bench/scale.sh (stdlib, plus psycopg2 for PostgreSQL).

    scale.py fill DB USERS DEVICES SERVER SAMPLE_FILE SAMPLE_SIZE
        USERS users straight into mxauth's tables (DEVICES devices and an
        access token per device each, an email, a monthly-active entry, a
        client-IP row per token), every one with the password hash of
        @seed:SERVER; writes SAMPLE_SIZE of the tokens, spread over the
        users, to SAMPLE_FILE; prints the timings as JSON
    scale.py sql DB USERS SERVER OUT         EXPLAIN and time the statements that must scale
    scale.py start LOG CWD PIDFILE URL OUT -- CMD...   starts the server, times it to the first 200
    scale.py wait-up URL PID T_EXEC          until URL answers 200; prints JSON {up_epoch, startup_s}
    scale.py rss PID                         VmRSS and VmHWM in KiB, as JSON
    scale.py watch-reap DB DIR TIMEOUT        until the monthly-active rows older than 30 days are
                                             gone (the reaper committed); prints JSON
    scale.py curl-times OUT REPEATS NAME|URL... [-H HEADER]
                                             times each URL with curl (median of REPEATS)
    scale.py admin-urls BASE USERS TOKEN     the admin user-list URLs to time (NAME|URL lines)
    scale.py flush DB BASE T0 INTERVAL_S OUT ...   the client-IP flush run (see flush())
    scale.py report DIR                      the figures
    scale.py pg-create URL PREFIX | pg-drop URL NAME | pg-database URL NAME | pg-url URL NAME

DB is `sqlite:PATH` or a `postgresql://` URL.
"""

import base64
import hashlib
import json
import os
import re
import sqlite3
import statistics
import subprocess
import sys
import time
import urllib.parse
import urllib.request
import zlib

DAY_MS = 86400 * 1000
BASE_TS_MS = 1_600_000_000_000
USER_AGENTS = [
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Element/1.11.85 Chrome/130.0 Safari/537.36",
    "Element/1.6.34 (iPhone15,3; iOS 17.5.1; Scale/3.00)",
    "Element/1.6.20 (Google Pixel 8; Android 14; UP1A.231005.007; Flavour GooglePlay; MatrixAndroidSdk2 1.6.20)",
]
DEVICE_NAMES = ["Element Desktop: Linux", "Element X: iPhone", "Element: Android"]


# --- databases --------------------------------------------------------------


class Db:
    def __init__(self, spec):
        self.postgres = not spec.startswith("sqlite:")
        if self.postgres:
            import psycopg2

            self.conn = psycopg2.connect(spec)
        else:
            self.conn = sqlite3.connect(spec[len("sqlite:"):], timeout=60, isolation_level=None)

    def q(self, text, args=()):
        cur = self.conn.cursor()
        if self.postgres:
            cur.execute(text.replace("?", "%s") if args else text, args or None)
        else:
            cur.execute(text, args)
        rows = cur.fetchall() if cur.description else []
        cur.close()
        return rows

    def close(self):
        self.conn.close()


def now_ms():
    return int(time.time() * 1000)


# --- the fill ---------------------------------------------------------------

B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
ALNUM = bytes.maketrans(b"+/", b"xy")


def base62(n, width=6):
    out = []
    for _ in range(width):
        n, r = divmod(n, 62)
        out.append(B62[r])
    return "".join(reversed(out))


def token_for(localpart_b64):
    """An access token as src/auth/tokens.rs makes them (20 random
    alphanumerics; the CRC-32 in base 62 checks)."""
    rnd = base64.b64encode(os.urandom(15)).translate(ALNUM).decode()
    body = f"syt_{localpart_b64}_{rnd}"
    return f"{body}_{base62(zlib.crc32(body.encode()))}"


def localpart(i):
    return f"u{i:07d}"


def token_rows(users, devices, server, now, sample_every, sample):
    """(token_hash, user_id, device_id, created_ts, last_used_ts) per
    device, in user order; every sample_every-th token goes to `sample`."""
    n = 0
    for i in range(1, users + 1):
        lp = localpart(i)
        b64 = base64.urlsafe_b64encode(lp.encode()).rstrip(b"=").decode()
        user_id = f"@{lp}:{server}"
        for k in range(devices):
            token = token_for(b64)
            if n % sample_every == 0:
                sample.append(token)
            n += 1
            yield (hashlib.sha256(token.encode()).digest(), user_id, f"D{k}U{i:07d}",
                   BASE_TS_MS + i * 1000 + k, now - ((i * 2654435761 + k * 104729) % (27 * DAY_MS)))


class CopyStream:
    """A file-like object for COPY FROM STDIN, generating its text lazily."""

    def __init__(self, rows):
        self.rows = rows
        self.buf = b""

    def read(self, size=65536):
        parts = [self.buf]
        have = len(self.buf)
        for row in self.rows:
            line = "\t".join(copy_text(v) for v in row) + "\n"
            b = line.encode()
            parts.append(b)
            have += len(b)
            if have >= size:
                break
        data = b"".join(parts)
        self.buf = data[size:]
        return data[:size]

    readline = read


def copy_text(v):
    if v is None:
        return "\\N"
    if isinstance(v, bytes):
        return "\\\\x" + v.hex()
    return str(v)


def sqlite_fill(db, users, devices, server, pw_hash, now, tokens):
    c = db.conn
    c.execute("PRAGMA synchronous = OFF")
    c.execute("PRAGMA cache_size = -1000000")  # 1 GB for the unique token index
    c.execute("PRAGMA temp_store = MEMORY")
    n = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < :users)"
    uid = "'@u' || printf('%07d', i) || ':' || :server"
    args = {"users": users, "server": server, "hash": pw_hash, "now": now, "base": BASE_TS_MS,
            "devices": devices}
    t = {}
    c.execute("BEGIN")
    s = time.monotonic()
    c.execute(
        f"{n} INSERT INTO users (name, password_hash, admin, is_guest, deactivated, locked, "
        f"created_ts, displayname) SELECT {uid}, :hash, FALSE, FALSE, FALSE, FALSE, :base + i * 1000, "
        "CASE WHEN i % 10 = 0 THEN NULL ELSE 'Bench ' || printf('%010d', (i * 2654435761) % 4294967291) END "
        "FROM n", args)
    c.execute(
        f"{n}, d(k) AS (SELECT 0 UNION ALL SELECT k + 1 FROM d WHERE k < :devices - 1) "
        "INSERT INTO devices (user_id, device_id, display_name, last_seen_ts, last_seen_ip, created_ts, "
        f"last_seen_user_agent) SELECT {uid}, 'D' || k || 'U' || printf('%07d', i), "
        f"CASE k % 3 WHEN 0 THEN '{DEVICE_NAMES[0]}' WHEN 1 THEN '{DEVICE_NAMES[1]}' ELSE '{DEVICE_NAMES[2]}' END, "
        f":now - ((i * 2654435761 + k * 104729) % ({27 * DAY_MS})), "
        "'10.' || (i % 256) || '.' || ((i / 256) % 256) || '.' || (k + 1), :base + i * 1000 + k, "
        f"CASE k % 3 WHEN 0 THEN '{USER_AGENTS[0]}' WHEN 1 THEN '{USER_AGENTS[1]}' ELSE '{USER_AGENTS[2]}' END "
        "FROM n CROSS JOIN d", args)
    c.execute(
        f"{n} INSERT INTO user_threepids (user_id, medium, address, validated_ts, added_ts) "
        f"SELECT {uid}, 'email', 'u' || printf('%07d', i) || '@mail.' || :server, :base + i * 1000, "
        ":base + i * 1000 FROM n", args)
    c.execute(
        f"{n} INSERT INTO monthly_active_users (user_id, last_seen_ts) "
        f"SELECT {uid}, :now - ((i * 2654435761) % ({35 * DAY_MS})) FROM n", args)
    t["users_devices_emails_mau_s"] = time.monotonic() - s
    s = time.monotonic()
    c.executemany(
        "INSERT INTO access_tokens (token_hash, user_id, device_id, created_ts, last_used_ts) "
        "VALUES (?, ?, ?, ?, ?)", tokens)
    t["access_tokens_s"] = time.monotonic() - s
    s = time.monotonic()
    c.execute(CLIENT_IPS_FILL)
    t["user_ips_s"] = time.monotonic() - s
    s = time.monotonic()
    c.execute("COMMIT")
    t["commit_s"] = time.monotonic() - s
    return t


# One client-IP row per access token: its device's address and agent.
CLIENT_IPS_FILL = (
    "INSERT INTO user_ips (user_id, token_id, ip, user_agent, device_id, last_seen_ts) "
    "SELECT t.user_id, t.id, d.last_seen_ip, d.last_seen_user_agent, t.device_id, d.last_seen_ts "
    "FROM access_tokens t JOIN devices d ON d.user_id = t.user_id AND d.device_id = t.device_id "
    "WHERE t.user_id LIKE '@u%'"
)


def pg_fill(db, users, devices, server, pw_hash, now, tokens):
    c = db.conn
    cur = c.cursor()
    uid = "'@u' || lpad(i::text, 7, '0') || ':' || %(server)s"
    args = {"users": users, "server": server, "hash": pw_hash, "now": now, "base": BASE_TS_MS,
            "devices": devices}
    t = {}
    s = time.monotonic()
    cur.execute(
        "INSERT INTO users (name, password_hash, admin, is_guest, deactivated, locked, created_ts, "
        f"displayname) SELECT {uid}, %(hash)s, FALSE, FALSE, FALSE, FALSE, %(base)s + i * 1000, "
        "CASE WHEN i %% 10 = 0 THEN NULL ELSE 'Bench ' || lpad(((i * 2654435761) %% 4294967291)::text, 10, '0') END "
        "FROM generate_series(1::bigint, %(users)s) i", args)
    cur.execute(
        "INSERT INTO devices (user_id, device_id, display_name, last_seen_ts, last_seen_ip, created_ts, "
        f"last_seen_user_agent) SELECT {uid}, 'D' || k || 'U' || lpad(i::text, 7, '0'), "
        f"CASE k %% 3 WHEN 0 THEN '{DEVICE_NAMES[0]}' WHEN 1 THEN '{DEVICE_NAMES[1]}' ELSE '{DEVICE_NAMES[2]}' END, "
        f"%(now)s - ((i * 2654435761 + k * 104729) %% {27 * DAY_MS}), "
        "'10.' || (i %% 256) || '.' || ((i / 256) %% 256) || '.' || (k + 1), %(base)s + i * 1000 + k, "
        f"CASE k %% 3 WHEN 0 THEN '{USER_AGENTS[0]}' WHEN 1 THEN '{USER_AGENTS[1]}' ELSE '{USER_AGENTS[2]}' END "
        "FROM generate_series(1::bigint, %(users)s) i CROSS JOIN generate_series(0, %(devices)s - 1) k "
        "ORDER BY i, k", args)
    cur.execute(
        "INSERT INTO user_threepids (user_id, medium, address, validated_ts, added_ts) "
        f"SELECT {uid}, 'email', 'u' || lpad(i::text, 7, '0') || '@mail.' || %(server)s, "
        "%(base)s + i * 1000, %(base)s + i * 1000 FROM generate_series(1::bigint, %(users)s) i", args)
    cur.execute(
        "INSERT INTO monthly_active_users (user_id, last_seen_ts) "
        f"SELECT {uid}, %(now)s - ((i * 2654435761) %% {35 * DAY_MS}) FROM generate_series(1::bigint, %(users)s) i",
        args)
    t["users_devices_emails_mau_s"] = time.monotonic() - s
    s = time.monotonic()
    cur.copy_expert(
        "COPY access_tokens (token_hash, user_id, device_id, created_ts, last_used_ts) FROM STDIN",
        CopyStream(tokens), size=1 << 20)
    t["access_tokens_s"] = time.monotonic() - s
    s = time.monotonic()
    cur.execute(CLIENT_IPS_FILL)
    t["user_ips_s"] = time.monotonic() - s
    s = time.monotonic()
    c.commit()
    t["commit_s"] = time.monotonic() - s
    # As autovacuum would have it on a live server: planner statistics and
    # the visibility map (index-only scans).
    s = time.monotonic()
    c.autocommit = True
    cur.execute("VACUUM ANALYZE")
    t["vacuum_analyze_s"] = time.monotonic() - s
    cur.close()
    return t


def fill(spec, users, devices, server, sample_file, sample_size):
    users, devices, sample_size = int(users), int(devices), int(sample_size)
    started = time.monotonic()
    db = Db(spec)
    rows = db.q("SELECT password_hash FROM users WHERE name = ?", (f"@seed:{server}",))
    if not rows or not rows[0][0]:
        sys.exit(f"no password hash for @seed:{server}")
    pw_hash = rows[0][0]
    sample = []
    every = max(1, (users * devices) // sample_size)
    tokens = token_rows(users, devices, server, now_ms(), every, sample)
    fn = pg_fill if db.postgres else sqlite_fill
    t = fn(db, users, devices, server, pw_hash, now_ms(), tokens)
    db.close()
    with open(sample_file, "w") as f:
        f.write("\n".join(sample) + "\n")
    t["total_s"] = time.monotonic() - started
    t["rows"] = users * (3 + 2 * devices)
    t["sample_tokens"] = len(sample)
    print(json.dumps(t))


# --- the statements that must scale ----------------------------------------

# Copies of simple statements of src/store/ (usage.rs, tokens.rs), timed
# alone. The admin user list (two statements in parallel and a kept total),
# the MAU count (kept per process) and the reaper's cut-off are timed only
# through the server, as a copy of their SQL would drift from the code.


def statements(db, users, server):
    """(name, sql, args, rollback) for EXPLAIN and timing."""
    mid = users // 2
    mid_user = f"@{localpart(max(mid, 1))}:{server}"
    token_hash = db.q("SELECT token_hash FROM access_tokens WHERE user_id = ? LIMIT 1", (mid_user,))[0][0]
    token_hash = bytes(token_hash)
    now = now_ms()
    out = [
        ("token lookup (store/tokens.rs get_token_owner)",
         "SELECT t.id, t.user_id, t.device_id, t.puppet_owner, t.valid_until_ts, t.refresh_token_id, "
         "t.first_used_ts, t.oauth_client_id, t.scope, u.deactivated, u.locked, u.is_guest, u.admin "
         "FROM access_tokens t JOIN users u ON u.name = t.user_id WHERE t.token_hash = ?", (token_hash,), False),
    ]
    out += [
        ("MAU reaper 1: older than 30 days (store/usage.rs reap_monthly_active_users)",
         "DELETE FROM monthly_active_users WHERE last_seen_ts < ?", (now - 30 * DAY_MS,), True),
        ("MAU: one user's entry (store/usage.rs mau_last_seen)",
         "SELECT last_seen_ts FROM monthly_active_users WHERE user_id = ?", (mid_user,), False),
        ("client-IP flush: one upsert of the batch (store/usage.rs record_client_ips)",
         "INSERT INTO user_ips (user_id, token_id, ip, user_agent, device_id, last_seen_ts) "
         "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (user_id, token_id, ip) DO UPDATE "
         "SET last_seen_ts = excluded.last_seen_ts, device_id = excluded.device_id, "
         "user_agent = excluded.user_agent WHERE user_ips.last_seen_ts < excluded.last_seen_ts",
         (mid_user, 1, "192.0.2.1", "bench", "D0", now), True),
        ("client-IP flush: one device's last sighting (store/usage.rs record_device_last_seen)",
         "UPDATE devices SET last_seen_ts = ?, last_seen_ip = COALESCE(?, last_seen_ip) "
         "WHERE user_id = ? AND device_id = ?", (now, "192.0.2.1", mid_user, f"D0U{mid:07d}"), True),
        ("client-IP flush: one token's last use (store/usage.rs record_tokens_last_used)",
         "UPDATE access_tokens SET last_used_ts = ? WHERE id = ?", (now, 1), True),
        ("client-IP prune (store/usage.rs prune_client_ips)",
         "DELETE FROM user_ips WHERE last_seen_ts IN (SELECT last_seen_ts FROM user_ips "
         "WHERE last_seen_ts <= ? ORDER BY last_seen_ts LIMIT ?)", (now - 28 * DAY_MS, 5000), True),
        ("whois (store/usage.rs list_client_ips)",
         "SELECT user_id, token_id, ip, user_agent, device_id, last_seen_ts FROM user_ips "
         "WHERE user_id = ? ORDER BY last_seen_ts DESC, token_id, ip", (mid_user,), False),
    ]
    return out


def to_pg(sql):
    """`?` to `%s` (psycopg2) and `$n`-free text; booleans bind as is."""
    return sql.replace("%", "%%").replace("?", "%s")


def sql_report(spec, users, server, out_path):
    """EXPLAIN (QUERY PLAN) of each statement and its time, median of 3
    (writes rolled back; PostgreSQL statements bounded by a timeout)."""
    users = int(users)
    db = Db(spec)
    results = []
    for name, sql, args, rollback in statements(db, users, server):
        r = {"name": name, "sql": sql}
        cur = db.conn.cursor()
        try:
            if db.postgres:
                db.conn.rollback()
                cur.execute("SET statement_timeout = %s", (int(os.environ.get("BENCH_SQL_TIMEOUT_S", "120")) * 1000,))
                cur.execute("EXPLAIN " + to_pg(sql), args)
                r["plan"] = [row[0] for row in cur.fetchall()]
                db.conn.rollback()
            else:
                cur.execute("EXPLAIN QUERY PLAN " + sql, args)
                r["plan"] = ["%s%s" % ("  " * (0 if row[1] == 0 else 1), row[3]) for row in cur.fetchall()]
            times = []
            for _ in range(1 if rollback else 3):
                if db.postgres:
                    cur.execute("SET statement_timeout = %s", (int(os.environ.get("BENCH_SQL_TIMEOUT_S", "120")) * 1000,))
                else:
                    cur.execute("BEGIN")
                s = time.monotonic()
                cur.execute(to_pg(sql) if db.postgres else sql, args)
                if cur.description:
                    cur.fetchall()
                times.append(time.monotonic() - s)
                r["rows"] = cur.rowcount
                db.conn.rollback() if db.postgres else cur.execute("ROLLBACK")
            r["ms"] = statistics.median(times) * 1000
        except Exception as e:  # a timeout, say: the plan is what matters
            r["error"] = str(e).strip().splitlines()[0]
            if db.postgres:
                db.conn.rollback()
            else:
                try:
                    cur.execute("ROLLBACK")
                except sqlite3.Error:
                    pass
        cur.close()
        results.append(r)
        print(f"   {r.get('ms', float('nan')):9.1f} ms  {name}{'  [' + r['error'] + ']' if 'error' in r else ''}",
              file=sys.stderr)
    db.close()
    json.dump(results, open(out_path, "w"), indent=1)


# --- server and requests ----------------------------------------------------


def http_status(url, headers=None, timeout=2):
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=timeout) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code
    except Exception:
        return None


def start(log, cwd, pidfile, url, out, *cmd, timeout=300):
    """Starts CMD (the server) and polls URL every 5 ms until it answers
    200: start-up from exec to the first 200, without this script's own
    start in it. The server keeps running; its PID goes to PIDFILE."""
    cmd = [c for c in cmd if c != "--"]
    with open(log, "ab") as f:
        t_exec = time.time()
        proc = subprocess.Popen(cmd, cwd=cwd, stdout=f, stderr=subprocess.STDOUT)
    open(pidfile, "w").write(str(proc.pid))
    while time.time() - t_exec < timeout:
        if http_status(url, timeout=1) == 200:
            up = time.time()
            json.dump({"t_exec": t_exec, "up_epoch": up, "startup_s": up - t_exec}, open(out, "w"))
            return
        if proc.poll() is not None:
            sys.exit("the server exited")
        time.sleep(0.005)
    sys.exit(f"no 200 from {url} after {timeout} s")


def wait_up(url, pid, t_exec, timeout=300):
    t_exec = float(t_exec)
    while time.time() - t_exec < timeout:
        if http_status(url, timeout=1) == 200:
            up = time.time()
            print(json.dumps({"up_epoch": up, "startup_s": up - t_exec}))
            return
        try:
            os.kill(int(pid), 0)
        except OSError:
            sys.exit("the server exited")
        time.sleep(0.005)
    sys.exit(f"no 200 from {url} after {timeout} s")


def rss(pid):
    out = {}
    for line in open(f"/proc/{pid}/status"):
        k, _, v = line.partition(":")
        if k in ("VmRSS", "VmHWM"):
            out[k] = int(v.split()[0])
    print(json.dumps(out))


def watch_reap(spec, out_dir, timeout):
    """The reaper's two DELETEs commit together: the oldest monthly-active
    row (an index look-up) jumps past the 30-day line at that moment.
    Writes OUT_DIR/reap.ready once it has counted (the server is started
    after that) and reads the server's exec time from OUT_DIR/reap.t_exec."""
    timeout = float(timeout)
    db = Db(spec)
    if db.postgres:
        db.conn.autocommit = True
    # A minute older than the reaper's line (now - 30 days at the server,
    # a little after this): every row before it must go, none after it.
    line = now_ms() - 30 * DAY_MS - 60_000
    before = db.q("SELECT COUNT(*) FROM monthly_active_users")[0][0]
    old = db.q("SELECT COUNT(*) FROM monthly_active_users WHERE last_seen_ts < ?", (line,))[0][0]
    out = {"rows_before": before, "older_than_30_days": old}
    open(os.path.join(out_dir, "reap.ready"), "w").close()
    started = time.time()
    while True:
        oldest = db.q("SELECT MIN(last_seen_ts) FROM monthly_active_users")[0][0]
        if oldest is None or oldest >= line:
            out["reaped_epoch"] = time.time()
            break
        if time.time() - started > timeout:
            out["timeout_s"] = timeout
            break
        time.sleep(0.02)
    out["rows_after"] = db.q("SELECT COUNT(*) FROM monthly_active_users")[0][0]
    db.close()
    for _ in range(100):
        p = os.path.join(out_dir, "reap.t_exec")
        if os.path.exists(p) and open(p).read().strip():
            out["t_exec"] = float(open(p).read())
            break
        time.sleep(0.1)
    if "reaped_epoch" in out and "t_exec" in out:
        out["exec_to_reaped_s"] = out["reaped_epoch"] - out["t_exec"]
    print(json.dumps(out))


def curl_time(url, headers, method="GET", data=None):
    cmd = ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code} %{time_total}", "--max-time", "300", url]
    for h in headers:
        cmd += ["-H", h]
    if method != "GET":
        cmd += ["-X", method]
    if data is not None:
        cmd += ["-H", "Content-Type: application/json", "--data", data]
    code, t = subprocess.run(cmd, capture_output=True, text=True).stdout.split()
    return int(code), float(t) * 1000


def curl_times(out_path, repeats, specs, headers=(), method="GET", data=None):
    """specs: NAME|URL; each timed REPEATS times, one after the other."""
    results = []
    for spec in specs:
        name, _, url = spec.partition("|")
        codes, ms = [], []
        for _ in range(int(repeats)):
            c, t = curl_time(url, headers, method, data)
            codes.append(c)
            ms.append(t)
        results.append({"name": name, "url": url, "codes": codes, "ms": ms, "median_ms": statistics.median(ms)})
        print(f"   {statistics.median(ms):9.1f} ms  {name}  (statuses {sorted(set(codes))})", file=sys.stderr)
    json.dump(results, open(out_path, "w"), indent=1)


def admin_urls(base, users, token):
    """NAME|URL lines: first page, the middle by offset (as synapse-admin
    sends `from`), a cursor after walking three pages, and a cursor in
    the middle, for each order."""
    users = int(users)
    mid = users // 2
    lines = []
    h = {"Authorization": f"Bearer {token}"}
    for order, back in [("name", False), ("name", True), ("displayname", False),
                        ("displayname", True), ("creation_ts", False)]:
        label = f"order_by={order}" + ("&dir=b" if back else "")
        q = f"{base}/_synapse/admin/v2/users?limit=100&order_by={order}" + ("&dir=b" if back else "")
        lines.append(f"{label}: first page|{q}")
        lines.append(f"{label}: from={mid}|{q}&from={mid}")
        # a cursor from walking three pages
        cursor = None
        for _ in range(3):
            url = q + (f"&from={urllib.parse.quote(cursor)}" if cursor else "")
            with urllib.request.urlopen(urllib.request.Request(url, headers=h), timeout=300) as r:
                cursor = json.load(r).get("next_token")
            if not cursor:
                break
        if cursor:
            lines.append(f"{label}: 4th page by next_token|{q}&from={urllib.parse.quote(cursor)}")
        with urllib.request.urlopen(urllib.request.Request(f"{q}&from={max(mid - 100, 0)}", headers=h),
                                    timeout=300) as r:
            cursor = json.load(r).get("next_token")
        if cursor:
            lines.append(f"{label}: next_token in the middle|{q}&from={urllib.parse.quote(cursor)}")
    print("\n".join(lines))


# --- the client-IP flush ----------------------------------------------------


def run_wrk(out, url, threads, conns, duration, script, args, timeout="10s"):
    cmd = ["wrk", f"-t{threads}", f"-c{conns}", f"-d{duration}", "--timeout", timeout, "--latency",
           "-s", script, url, "--"] + list(args)
    with open(out, "w") as f:
        return subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT)


def flush(spec, base, t0, interval_s, out_dir, lua, tokens_file, sightings, threads, conns, duration):
    """Two rounds: each waits for a flush tick (they fall every INTERVAL_S
    from T0, the server's start), makes SIGHTINGS distinct (token, address)
    sightings with X-Forwarded-For, and watches for the next flush's commit
    (the batch is one transaction on both backends: its rows appear at
    once). The first flush runs alone; over the second, a whoami load
    (many tokens) runs from 1 s before the tick for DURATION."""
    t0, interval_s, sightings, threads = float(t0), float(interval_s), int(sightings), int(threads)
    url = f"{base}/_matrix/client/v3/account/whoami"
    out = {"interval_s": interval_s, "sightings_asked": sightings}
    db = Db(spec)
    if db.postgres:
        db.conn.autocommit = True
    probe = "SELECT 1 FROM user_ips WHERE last_seen_ts >= ? LIMIT 1"

    def next_tick(after):
        return t0 + (int((after - t0) // interval_s) + 1) * interval_s

    for rnd in ["alone", "loaded"]:
        r = out[rnd] = {}
        tick = next_tick(time.time())
        time.sleep(max(0.0, tick + 3 - time.time()))  # the earlier flush is done by then
        load_start_ms = now_ms()
        budget = next_tick(time.time()) - time.time() - 4
        p = run_wrk(os.path.join(out_dir, f"flush-load-{rnd}.txt"), url, threads, conns,
                    f"{max(int(budget), 1)}s", lua, [tokens_file, str(-(-sightings // threads)), "xff"])
        p.wait()
        flush_tick = next_tick(time.time())
        if db.q(probe, (load_start_ms,)):
            r["warning"] = "sightings of the load were written before the flush tick (the load spanned a tick)"
        time.sleep(max(0.0, flush_tick - 1 - time.time()))
        p = None
        if rnd == "loaded":
            p = run_wrk(os.path.join(out_dir, "flush-whoami.txt"), url, threads, conns, duration, lua,
                        [tokens_file, "0"])
        deadline = flush_tick + interval_s - 1
        while time.time() < deadline:
            if db.q(probe, (load_start_ms,)):
                r["flush_s"] = time.time() - flush_tick
                break
            time.sleep(0.02)
        else:
            r["warning"] = f"no commit seen within {interval_s - 1:.0f} s of the tick"
        if p:
            p.wait()
            r["whoami_from_tick_s"] = time.time() - flush_tick
        r["rows_written"] = db.q(
            "SELECT COUNT(*) FROM user_ips WHERE last_seen_ts >= ? AND ip NOT LIKE ?", (load_start_ms, "127.%"))[0][0]
        print(f"   {rnd}: {json.dumps(r)}", file=sys.stderr)
    db.close()
    json.dump(out, open(os.path.join(out_dir, "flush.json"), "w"), indent=1)


# --- PostgreSQL databases ---------------------------------------------------


def pg_parts(url):
    p = urllib.parse.urlsplit(url)
    return {"host": p.hostname or "127.0.0.1", "port": p.port or 5432,
            "user": urllib.parse.unquote(p.username or "postgres"),
            "password": urllib.parse.unquote(p.password) if p.password else None,
            "dbname": p.path.lstrip("/") or "postgres"}


def pg_admin(url, sql):
    import psycopg2

    conn = psycopg2.connect(**pg_parts(url))
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(sql)
    conn.close()


def pg_url(url, name):
    p = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit((p.scheme, p.netloc, "/" + name, p.query, p.fragment))


def pg_database(url, name):
    p = pg_parts(url)
    args = {"user": p["user"], "host": p["host"], "port": p["port"], "database": name, "cp_max": 10}
    if p["password"]:
        args["password"] = p["password"]
    return json.dumps({"name": "psycopg2", "args": args})


# --- the report -------------------------------------------------------------

UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def parse_wrk(path):
    if not os.path.exists(path):
        return None
    text = open(path, encoding="utf-8", errors="replace").read()
    r = {}
    m = re.search(r"^Requests/sec:\s+([\d.]+)", text, re.M)
    r["rps"] = float(m.group(1)) if m else None
    for pct in ("50", "99"):
        m = re.search(r"^\s+%s%%\s+([\d.]+)(us|ms|s|m)" % pct, text, re.M)
        r["p" + pct] = float(m.group(1)) * UNITS[m.group(2)] if m else None
    m = re.search(r"^\s+Latency\s+\S+\s+\S+\s+([\d.]+)(us|ms|s|m)", text, re.M)
    r["max"] = float(m.group(1)) * UNITS[m.group(2)] if m else None
    m = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    r["non2xx"] = int(m.group(1)) if m else 0
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    r["socket_errors"] = sum(int(x) for x in m.groups()) if m else 0
    m = re.search(r"^mxbench: (.*)$", text, re.M)
    r["lua"] = {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", m.group(1))} if m else {}
    m = re.search(r"^\s+(\d+) requests in ([\d.]+)(us|ms|s|m)", text, re.M)
    if m:
        r["requests"] = int(m.group(1))
        r["seconds"] = float(m.group(2)) * UNITS[m.group(3)] / 1000
    return r


def ms(v):
    if v is None:
        return "?"
    return "%.2f ms" % v if v < 10 else "%.0f ms" % v


def ratio(a, b):
    if not a or not b:
        return "?"
    return "%.2f" % (a / b)


def load(d, name):
    p = os.path.join(d, name)
    return json.load(open(p)) if os.path.exists(p) else None


def notes(w, expect_non2xx=False):
    n = []
    if w.get("socket_errors"):
        n.append("%d socket errors" % w["socket_errors"])
    if w.get("non2xx") and not expect_non2xx:
        n.append("%d non-2xx" % w["non2xx"])
    if w["lua"].get("failed"):
        n.append("%d failed" % w["lua"]["failed"])
    if w["lua"].get("limited"):
        n.append("%d answered 429" % w["lua"]["limited"])
    return " [" + "; ".join(n) + "]" if n else ""


def report(work):
    meta = load(work, "meta.json")
    small, large = meta["small_users"], meta["users"]
    S, L = os.path.join(work, "small"), os.path.join(work, "large")
    sl, ll = f"{small:,}", f"{large:,}"
    p = print
    p(f"mxauth scale benchmark: {meta['backend']}, {large:,} users against {small:,}, "
      f"{meta['devices']} devices and tokens each; wrk -t{meta['threads']} -c{meta['connections']} "
      f"-d{meta['duration']}; {os.cpu_count()} cores")
    for tag, d, n in [("small", S, sl), ("large", L, ll)]:
        f = load(d, "fill.json")
        if f:
            extra = f", VACUUM ANALYZE {f['vacuum_analyze_s']:.1f} s" if "vacuum_analyze_s" in f else ""
            p(f"fill {n} users: {f['total_s']:.1f} s ({f['rows']:,} rows, {f['rows'] / f['total_s']:,.0f} rows/s: "
              f"users/devices/emails/MAU {f['users_devices_emails_mau_s']:.1f} s, access tokens "
              f"{f['access_tokens_s']:.1f} s, client IPs {f['user_ips_s']:.1f} s, commit {f['commit_s']:.1f} s"
              f"{extra}); database {meta.get(tag + '_db_mib', 0):,.0f} MiB")
    hello = parse_wrk(os.path.join(work, "hello.txt"))
    ceiling = hello["rps"] if hello else None
    if hello:
        p(f"hello-world (ceiling): {ceiling:.0f} req/s, p99 {ms(hello['p99'])}")
    else:
        p(f"hello-world ceiling: not measured ({meta.get('hello_note', '')})")

    def pair(name, fn):
        a, b = fn(S), fn(L)
        return a, b

    for label, stem in [("whoami, many tokens", "whoami-many"), ("whoami, one token", "whoami-one")]:
        runs = {}
        for tag, d in [("small", S), ("large", L)]:
            runs[tag] = [w for w in (parse_wrk(os.path.join(d, f"{stem}-{r}.txt")) for r in range(1, 20)) if w]
        if not runs["small"] or not runs["large"]:
            continue
        med = {t: (statistics.median(w["rps"] for w in runs[t]), statistics.median(w["p99"] for w in runs[t]))
               for t in runs}
        per_round = ", ".join(ratio(b["rps"], a["rps"]) for a, b in zip(runs["small"], runs["large"]))
        (ar, ap), (br, bp) = med["small"], med["large"]
        ceil = f"; {ratio(br, ceiling)} of hello-world" if ceiling else ""
        n_ = "".join(notes(w) for w in runs["large"] + runs["small"])
        p(f"{label} (median of {len(runs['large'])} alternating rounds): {ll} users {br:.0f} req/s, p99 {ms(bp)}; "
          f"{sl} users {ar:.0f} req/s, p99 {ms(ap)}; ratio {ratio(br, ar)} (req/s; per round {per_round}), "
          f"{ratio(bp, ap)} (p99){ceil}{n_}")
    a, b = parse_wrk(os.path.join(S, "login.txt")), parse_wrk(os.path.join(L, "login.txt"))
    if a and b:
        ra = a["lua"].get("ok", 0) / a["seconds"]
        rb = b["lua"].get("ok", 0) / b["seconds"]
        p(f"password login: {ll} {rb:.1f}/s, p50 {ms(b['p50'])}, p99 {ms(b['p99'])}{notes(b)}; {sl} {ra:.1f}/s, "
          f"p50 {ms(a['p50'])}, p99 {ms(a['p99'])}{notes(a)}; ratio {ratio(rb, ra)} (rate), {ratio(b['p50'], a['p50'])} (p50)")
    a, b = parse_wrk(os.path.join(S, "register.txt")), parse_wrk(os.path.join(L, "register.txt"))
    if a and b:
        ra = a["lua"].get("ok", 0) / (a["lua"].get("duration_us", 1) / 1e6)
        rb = b["lua"].get("ok", 0) / (b["lua"].get("duration_us", 1) / 1e6)
        p(f"registration: {ll} {rb:.1f}/s, per-request p99 {ms(b['p99'])}{notes(b, True)}; {sl} {ra:.1f}/s, "
          f"p99 {ms(a['p99'])}{notes(a, True)}; ratio {ratio(rb, ra)}")
    a, b = load(S, "admin.json"), load(L, "admin.json")
    if a and b:
        p(f"admin user list (GET /_synapse/admin/v2/users, limit=100; median of {len(b[0]['ms'])}, goal < 50 ms):")
        small_by = {r["name"]: r for r in a}
        for r in b:
            name = r["name"].replace(f"from={large // 2}", "from=<middle>")
            s = next((x for x in a if x["name"].replace(f"from={small // 2}", "from=<middle>") == name), None)
            bad = "" if set(r["codes"]) == {200} else f" [statuses {sorted(set(r['codes']))}]"
            flag = "" if r["median_ms"] < 50 else "  OVER 50 ms"
            p(f"  {name}: {ll} {ms(r['median_ms'])}{bad}; {sl} {ms(s['median_ms']) if s else '?'}; "
              f"ratio {ratio(r['median_ms'], s['median_ms'] if s else None)}{flag}")
        del small_by
    for tag, d, n in [("small", S, sl), ("large", L, ll)]:
        g_off, g_on, reap = load(d, "guest-mau-off.json"), load(d, "guest-mau-on.json"), load(d, "reap.json")
        if g_off and g_on:
            off, on = g_off[0]["median_ms"], g_on[0]["median_ms"]
            p(f"MAU count, {n} users ({reap['rows_before'] if reap else '?':,} monthly-active rows): guest registration "
              f"{ms(on)} with limit_usage_by_mau, {ms(off)} without: the count costs about {ms(on - off)} (goal < 50 ms)")
        if reap:
            if "exec_to_reaped_s" in reap:
                up = (load(d, "startup-mau.json") or {}).get("startup_s", 0)
                after = reap["exec_to_reaped_s"] - up
                p(f"MAU reaper, {n} users: {reap['older_than_30_days']:,} of {reap['rows_before']:,} rows reaped, "
                  f"committed {reap['exec_to_reaped_s']:.2f} s after exec, "
                  + (f"{after:.2f} s after the first 200 (start-up {up:.2f} s)" if after > 0.02 else
                     f"before the first 200 came (start-up {up:.2f} s): under the poll's resolution")
                  + "; goal < 1 s")
            else:
                p(f"MAU reaper, {n} users: NOT DONE after {reap['timeout_s']:.0f} s "
                  f"({reap['rows_after']:,} of {reap['rows_before']:,} rows left)")
    for tag, d, n in [("small", S, sl), ("large", L, ll)]:
        f = load(d, "flush.json")
        base_w, over_w = parse_wrk(os.path.join(d, "whoami-many-1.txt")), parse_wrk(os.path.join(d, "flush-whoami.txt"))
        if not f:
            continue
        parts = []
        for rnd, what in [("alone", "alone"), ("loaded", "under the whoami load")]:
            r = f.get(rnd, {})
            fl = f"{r['flush_s']:.2f} s" if "flush_s" in r else "not seen"
            parts.append(f"{what} {fl} for {r.get('rows_written', 0):,} sightings"
                         + (f" [{r['warning']}]" if r.get("warning") else ""))
        line = f"client-IP flush, {n} users: " + "; ".join(parts)
        if base_w and over_w:
            line += (f"; whoami over the flush p99 {ms(over_w['p99'])}, max {ms(over_w['max'])}, "
                     f"{over_w['rps']:.0f} req/s{notes(over_w)} (without: p99 {ms(base_w['p99'])}, max "
                     f"{ms(base_w['max'])}, {base_w['rps']:.0f} req/s; p99 ratio {ratio(over_w['p99'], base_w['p99'])})")
        p(line)
    a, b = load(S, "startup.json"), load(L, "startup.json")
    if a and b:
        p(f"start-up (exec to the first 200 on /versions): {ll} {b['startup_s'] * 1000:.0f} ms; "
          f"{sl} {a['startup_s'] * 1000:.0f} ms; ratio {ratio(b['startup_s'], a['startup_s'])}")
    a, b = load(S, "rss-idle.json"), load(L, "rss-idle.json")
    if a and b:
        p(f"idle RSS (1 s after start): {ll} {b['VmRSS'] / 1024:.1f} MiB; {sl} {a['VmRSS'] / 1024:.1f} MiB; "
          f"ratio {ratio(b['VmRSS'], a['VmRSS'])}")
        a, b = load(S, "rss-end.json"), load(L, "rss-end.json")
        if a and b:
            p(f"peak RSS (VmHWM, after every phase): {ll} {b['VmHWM'] / 1024:.1f} MiB; {sl} {a['VmHWM'] / 1024:.1f} MiB")
    sq = load(L, "sql.json")
    if sq:
        p(f"statements alone at {ll} users (median of 3; writes rolled back; plans in {L}/sql.json with BENCH_KEEP=1):")
        for r in sq:
            t = f"{r['ms']:9.1f} ms" if "ms" in r else f"  [{r.get('error')}]"
            p(f"  {t}  {r['name']}")


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "fill":
        fill(*args)
    elif cmd == "sql":
        sql_report(*args)
    elif cmd == "start":
        start(*args)
    elif cmd == "wait-up":
        wait_up(*args)
    elif cmd == "rss":
        rss(*args)
    elif cmd == "watch-reap":
        watch_reap(*args)
    elif cmd == "curl-times":
        headers = [args[i + 1] for i, a in enumerate(args) if a == "-H"]
        method = next((args[i + 1] for i, a in enumerate(args) if a == "-X"), "GET")
        data = next((args[i + 1] for i, a in enumerate(args) if a == "-d"), None)
        skip = {i for i, a in enumerate(args) if a in ("-H", "-X", "-d")}
        skip |= {i + 1 for i in skip}
        rest = [a for i, a in enumerate(args) if i not in skip]
        curl_times(rest[0], rest[1], rest[2:], headers, method, data)
    elif cmd == "admin-urls":
        admin_urls(*args)
    elif cmd == "flush":
        flush(*args)
    elif cmd == "report":
        report(*args)
    elif cmd == "pg-create":
        name = f"{args[1]}_{os.getpid()}_{int.from_bytes(os.urandom(3), 'big'):06x}"
        pg_admin(args[0], f"CREATE DATABASE {name}")
        print(name)
    elif cmd == "pg-drop":
        pg_admin(args[0], f"DROP DATABASE IF EXISTS {args[1]} WITH (FORCE)")
    elif cmd == "pg-database":
        print(pg_database(*args))
    elif cmd == "pg-url":
        print(pg_url(*args))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
