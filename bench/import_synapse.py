"""Helper of bench/import_synapse.sh; runs with the Synapse venv's Python
(Synapse's own token generator, psycopg2 for PostgreSQL).

    import_synapse.py wait-updates DB        until Synapse's background updates are done
    import_synapse.py fill DB USERS DEVICES  the accounts, straight into Synapse's tables
    import_synapse.py change DB PERCENT      renames the devices of PERCENT % of the users
    import_synapse.py count DB               rows of mxauth's tables, as JSON
    import_synapse.py report DIR             the figures, from the files the script left in DIR
    import_synapse.py timed OUT CMD...       runs CMD, writes `/usr/bin/time -v`'s lines to OUT
    import_synapse.py pg-create URL PREFIX   a new database (C collation) on URL's server; prints its name
    import_synapse.py pg-drop URL NAME       drops it
    import_synapse.py pg-database URL NAME   the `database:` block for it (YAML flow style)
    import_synapse.py pg-url URL NAME        URL with the database NAME instead

DB is `sqlite:PATH` or a `postgresql://` URL.
"""

import io
import json
import os
import random
import re
import sqlite3
import sys
import time
import zlib

SERVER_NAME = "bench.test"
# bcrypt-shaped, not a real hash: nothing logs in, and the import copies it as is.
PASSWORD_HASH = "$2b$12$" + "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0"
assert len(PASSWORD_HASH) == 60
BASE_TS_S = 1_700_000_000  # users.creation_ts is in seconds at Synapse
USER_AGENTS = [
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Element/1.11.85 Chrome/130.0 Safari/537.36",
    "Element/1.6.34 (iPhone15,3; iOS 17.5.1; Scale/3.00)",
    "Element/1.6.20 (Google Pixel 8; Android 14; UP1A.231005.007; Flavour GooglePlay; MatrixAndroidSdk2 1.6.20)",
]
DEVICE_NAMES = ["Element Desktop: Linux", "Element X: iPhone", "Element: Android"]


# --- databases --------------------------------------------------------------


class Db:
    """A connection to `sqlite:PATH` or a PostgreSQL URL, with `?`/`%s` hidden."""

    def __init__(self, spec):
        self.postgres = not spec.startswith("sqlite:")
        if self.postgres:
            import psycopg2

            self.conn = psycopg2.connect(spec)
        else:
            self.conn = sqlite3.connect(spec[len("sqlite:"):], timeout=30)

    def sql(self, text):
        return text.replace("?", "%s") if self.postgres else text

    def args(self, args):
        # psycopg2 reads `%` as a placeholder only when given arguments.
        return (args or None) if self.postgres else args

    def query(self, text, args=()):
        cur = self.conn.cursor()
        cur.execute(self.sql(text), self.args(args))
        rows = cur.fetchall()
        cur.close()
        return rows

    def execute(self, text, args=()):
        cur = self.conn.cursor()
        cur.execute(self.sql(text), self.args(args))
        cur.close()

    def insert(self, table, columns, rows):
        """Bulk insert in the open transaction: COPY on PostgreSQL,
        executemany on SQLite."""
        if not self.postgres:
            marks = ", ".join("?" for _ in columns)
            self.conn.executemany(
                f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows
            )
            return
        buf = io.StringIO()
        for row in rows:
            buf.write("\t".join(copy_text(v) for v in row))
            buf.write("\n")
        buf.seek(0)
        cur = self.conn.cursor()
        cur.copy_expert(f"COPY {table} ({', '.join(columns)}) FROM STDIN", buf)
        cur.close()

    def close(self):
        self.conn.close()


def copy_text(value):
    if value is None:
        return "\\N"
    if isinstance(value, bool):
        return "t" if value else "f"
    text = str(value)
    return (
        text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
    )


# --- Synapse side -----------------------------------------------------------


def wait_updates(spec, timeout_s=300):
    """Until `background_updates` is empty: the indexes Synapse builds
    after its first start are then in place, as on a real server."""
    deadline = time.monotonic() + timeout_s
    left = None
    while True:
        try:
            db = Db(spec)
            left = db.query("SELECT COUNT(*) FROM background_updates")[0][0]
            db.close()
        except Exception:  # not created yet, or locked
            left = None
        if left == 0:
            return
        if time.monotonic() > deadline:
            sys.exit(f"Synapse still has {left} background updates after {timeout_s} s")
        time.sleep(0.5)


def access_token(localpart):
    """As Synapse's AuthHandler.generate_access_token makes them (mxauth
    checks the CRC)."""
    import unpaddedbase64
    from synapse.util.stringutils import base62_encode, random_string

    b64 = unpaddedbase64.encode_base64(localpart.encode("utf-8"))
    base = f"syt_{b64}_{random_string(20)}"
    crc = base62_encode(zlib.crc32(base.encode("ascii")), minwidth=6)
    return f"{base}_{crc}"


def fill(spec, users, devices_per_user):
    """USERS users with a profile, an email, DEVICES devices each and an
    access token per device, in one transaction."""
    from synapse.util.stringutils import random_string

    started = time.monotonic()
    now_ms = int(time.time() * 1000)
    rng = random.Random(1)
    user_rows, profile_rows, device_rows, token_rows, threepid_rows = [], [], [], [], []
    token_id = 1
    for i in range(1, users + 1):
        localpart = f"u{i:06d}"
        user_id = f"@{localpart}:{SERVER_NAME}"
        created_s = BASE_TS_S + i
        # name, password_hash, creation_ts, admin, is_guest, deactivated,
        # shadow_banned, approved, locked, suspended
        user_rows.append((user_id, PASSWORD_HASH, created_s, 0, 0, 0, False, True, False, False))
        profile_rows.append((localpart, user_id, f"Bench User {i}"))
        threepid_rows.append(
            (user_id, "email", f"{localpart}@mail.{SERVER_NAME}", created_s * 1000, created_s * 1000)
        )
        for d in range(devices_per_user):
            device_id = random_string(10).upper()
            last_seen = now_ms - rng.randrange(0, 30 * 86400 * 1000)
            ip = f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
            k = d % len(USER_AGENTS)
            device_rows.append(
                (user_id, device_id, DEVICE_NAMES[k], last_seen, ip, USER_AGENTS[k], False)
            )
            # id, user_id, device_id, token, valid_until_ms, puppets_user_id,
            # last_validated, refresh_token_id, used
            token_rows.append(
                (token_id, user_id, device_id, access_token(localpart), None, None, last_seen, None, False)
            )
            token_id += 1
    made = time.monotonic()

    db = Db(spec)
    db.insert(
        "users",
        ["name", "password_hash", "creation_ts", "admin", "is_guest", "deactivated",
         "shadow_banned", "approved", "locked", "suspended"],
        user_rows,
    )
    db.insert("profiles", ["user_id", "full_user_id", "displayname"], profile_rows)
    db.insert(
        "devices",
        ["user_id", "device_id", "display_name", "last_seen", "ip", "user_agent", "hidden"],
        device_rows,
    )
    db.insert(
        "access_tokens",
        ["id", "user_id", "device_id", "token", "valid_until_ms", "puppets_user_id",
         "last_validated", "refresh_token_id", "used"],
        token_rows,
    )
    db.insert(
        "user_threepids", ["user_id", "medium", "address", "validated_at", "added_at"], threepid_rows
    )
    db.conn.commit()
    # Fresh planner statistics, as autovacuum would have them on a live
    # server (Synapse never runs ANALYZE on SQLite).
    if db.postgres:
        db.conn.autocommit = True
        db.execute("ANALYZE")
    db.close()
    rows = len(user_rows) + len(profile_rows) + len(device_rows) + len(token_rows) + len(threepid_rows)
    print(
        f"{rows} rows made in {made - started:.1f} s, inserted in {time.monotonic() - made:.1f} s",
        file=sys.stderr,
    )


def change(spec, percent):
    """Renames every device of one user in 100/PERCENT (the first of each
    group of names): the incremental run's work."""
    step = max(1, round(100 / percent))
    db = Db(spec)
    users = [r[0] for r in db.query("SELECT name FROM users ORDER BY name")][::step]
    for user_id in users:
        db.execute("UPDATE devices SET display_name = display_name || ' (renamed)' WHERE user_id = ?",
                   (user_id,))
    db.conn.commit()
    devices = db.query("SELECT COUNT(*) FROM devices WHERE display_name LIKE '% (renamed)'")[0][0]
    db.close()
    print(json.dumps({"users": len(users), "devices": devices}))


# --- mxauth side ------------------------------------------------------------


def count(spec):
    db = Db(spec)
    out = {}
    for table in ["users", "devices", "access_tokens", "user_threepids", "synapse_import_rows"]:
        out[table] = db.query(f"SELECT COUNT(*) FROM {table}")[0][0]
    db.close()
    print(json.dumps(out))


# --- PostgreSQL databases -----------------------------------------------------


def pg_parts(url):
    import urllib.parse

    parts = urllib.parse.urlsplit(url)
    return {
        "host": parts.hostname or "127.0.0.1",
        "port": parts.port or 5432,
        "user": urllib.parse.unquote(parts.username or "postgres"),
        "password": urllib.parse.unquote(parts.password) if parts.password else None,
        "admin_database": parts.path.lstrip("/") or "postgres",
    }


def pg_admin(url, sql):
    import psycopg2

    p = pg_parts(url)
    conn = psycopg2.connect(host=p["host"], port=p["port"], user=p["user"],
                            password=p["password"], dbname=p["admin_database"])
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(sql)
    conn.close()


def pg_create(url, prefix):
    name = f"{prefix}_{os.getpid()}_{random.randrange(16**6):06x}"
    pg_admin(url, f"CREATE DATABASE {name} TEMPLATE template0 LC_COLLATE 'C' LC_CTYPE 'C' ENCODING 'UTF8'")
    print(name)


def pg_database(url, name):
    """Synapse's `database:` keys, which mxauth reads too; and the URL
    this helper connects to."""
    p = pg_parts(url)
    args = {"user": p["user"], "host": p["host"], "port": p["port"], "database": name,
            "cp_min": 1, "cp_max": 5}
    if p["password"]:
        args["password"] = p["password"]
    print(json.dumps({"name": "psycopg2", "args": args}))


# --- timing -----------------------------------------------------------------


def timed(out, cmd):
    """`/usr/bin/time -v -o OUT CMD` for machines without it: the lines the
    report reads."""
    import resource
    import subprocess

    started = time.monotonic()
    status = subprocess.call(cmd)
    wall = time.monotonic() - started
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    with open(out, "w") as f:
        f.write(f"\tUser time (seconds): {usage.ru_utime:.2f}\n")
        f.write(f"\tSystem time (seconds): {usage.ru_stime:.2f}\n")
        f.write(f"\tElapsed (wall clock) time (h:mm:ss or m:ss): {int(wall // 60)}:{wall % 60:05.2f}\n")
        f.write(f"\tMaximum resident set size (kbytes): {usage.ru_maxrss}\n")
        f.write(f"\tExit status: {status}\n")
    sys.exit(status)


# --- the report -------------------------------------------------------------


def time_v(path):
    """Wall time, CPU and max RSS from `/usr/bin/time -v`'s output."""
    text = open(path).read()

    def field(name):
        m = re.search(rf"^\s*{re.escape(name)}: (.+)$", text, re.M)
        return m.group(1).strip() if m else None

    wall = field("Elapsed (wall clock) time (h:mm:ss or m:ss)")
    seconds = 0.0
    for part in wall.split(":"):
        seconds = seconds * 60 + float(part)
    return {
        "wall_s": seconds,
        "cpu_s": float(field("User time (seconds)")) + float(field("System time (seconds)")),
        "max_rss_kib": int(field("Maximum resident set size (kbytes)")),
        "exit": int(field("Exit status")),
    }


def tallies(path):
    """{kind: {new, changed, unchanged, deleted, skipped}} and the
    problem lines of an import's output."""
    out, problems = {}, []
    for line in open(path):
        m = re.match(r"(\w+)s: (\d+) new, (\d+) changed, (\d+) unchanged, (\d+) deleted, (\d+) skipped", line)
        if m:
            out[m.group(1)] = dict(zip(["new", "changed", "unchanged", "deleted", "skipped"],
                                       map(int, m.groups()[1:])))
        elif line.startswith("problem:"):
            problems.append(line.strip())
    return out, problems


def report(work):
    meta = json.load(open(os.path.join(work, "meta.json")))
    users, per = meta["users"], meta["devices_per_user"]
    # Synapse rows carried over: users (with their profile), devices, access
    # tokens, 3PIDs.
    source_rows = users * (2 + 2 * per)
    counts = json.load(open(os.path.join(work, "mxauth-counts.json")))
    written = sum(counts.values())
    print(
        f"mxauth import-synapse benchmark: {meta['backend']} -> {meta['backend']}, {meta['binary']} binary, "
        f"batch size {meta['batch_size']}, {os.cpu_count()} cores"
    )
    print(
        f"Synapse: {users} users, {users * per} devices, {users * per} access tokens, {users} emails "
        f"({source_rows} rows, profiles not counted); made in {meta['fill_s']:.0f} s"
    )
    expected = {
        "first": {"user": ("new", users), "device": ("new", users * per),
                  "access_token": ("new", users * per), "threepid": ("new", users)},
        "again": {"user": ("unchanged", users), "device": ("unchanged", users * per),
                  "access_token": ("unchanged", users * per), "threepid": ("unchanged", users)},
    }
    if meta.get("changed_devices"):
        expected["changed"] = {"device": ("changed", meta["changed_devices"]),
                               "user": ("unchanged", users)}
    first = None
    for run, label in [("first", "first import"), ("again", "re-run (nothing new)"),
                       ("changed", f"after {meta.get('change_percent')} % of users changed")]:
        path = os.path.join(work, f"{run}.time")
        if not os.path.exists(path):
            continue
        t = time_v(path)
        got, problems = tallies(os.path.join(work, f"{run}.log"))
        line = (
            f"{label}: {t['wall_s']:.1f} s, {users / t['wall_s']:.0f} users/s, "
            f"{source_rows / t['wall_s']:.0f} Synapse rows/s"
        )
        if run == "first":
            first = t["wall_s"]
            line += f", {written / t['wall_s']:.0f} mxauth rows written/s ({written} with the import records)"
        else:
            line += f" ({t['wall_s'] / first:.2f} of the first import's time)"
        line += f"; CPU {t['cpu_s']:.1f} s ({t['cpu_s'] / t['wall_s']:.0%} of wall); max RSS {t['max_rss_kib'] / 1024:.1f} MiB"
        print(line)
        notes = []
        if t["exit"] != 0:
            notes.append(f"exit status {t['exit']}")
        for kind, (column, n) in expected.get(run, {}).items():
            if got.get(kind, {}).get(column) != n:
                notes.append(f"expected {kind}s {column} {n}, got {got.get(kind)}")
        notes.extend(problems)
        for note in notes:
            print(f"  [{note}]")
    print(f"mxauth rows after the first import: {json.dumps(counts)}")


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "wait-updates":
        wait_updates(args[0])
    elif cmd == "fill":
        fill(args[0], int(args[1]), int(args[2]))
    elif cmd == "change":
        change(args[0], float(args[1]))
    elif cmd == "count":
        count(args[0])
    elif cmd == "report":
        report(args[0])
    elif cmd == "timed":
        timed(args[0], args[1:])
    elif cmd == "pg-create":
        pg_create(args[0], args[1])
    elif cmd == "pg-drop":
        pg_admin(args[0], f"DROP DATABASE IF EXISTS {args[1]} WITH (FORCE)")
    elif cmd == "pg-database":
        pg_database(args[0], args[1])
    elif cmd == "pg-url":
        import urllib.parse

        parts = urllib.parse.urlsplit(args[0])
        print(urllib.parse.urlunsplit(parts._replace(path="/" + args[1])))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
