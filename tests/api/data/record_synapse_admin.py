#!/usr/bin/env python3
"""Records what a real Synapse 1.163.2 answers to the steps of
tests/api/data/synapse_admin.json (its user admin API), for the replay
test tests/api/admin_parity.rs, which runs the same steps against mxauth
and compares.

Re-run it (from the repository root) after changing the steps:

    python3 tests/api/data/record_synapse_admin.py
    git diff tests/api/data/synapse_admin.json   # only the steps you changed

It uses the virtualenv ${CARGO_TARGET_DIR:-target}/venv-synapse (the one
tests/e2e/run.sh makes), and makes it if it is missing or holds another
version: `python3 -m venv` + `pip install matrix-synapse==1.163.2
requests` (SYNAPSE_VERSION overrides the version). It then re-runs itself
with that virtualenv's Python, writes a standalone homeserver.yaml into a
temp dir (SQLite, server_name test.example, a free loopback port, the
shared secret, guest access, no federation, rate limits lifted, bcrypt
at 4 rounds so it is quick), starts Synapse, waits until it answers and
has run its background updates (some indexes of a fresh database come
from them), runs the steps in order on that one fresh server, writes
each step's answer into its `synapse` field (the hand-written `mxauth`
fields are kept), and stops Synapse. The temp dir (with Synapse's log)
is removed unless RECORD_KEEP=1 or the run fails. Running it twice gives
the same file.

The steps file (a JSON object):

  about         what the file is, in short
  server_name   "test.example"
  device_ids    the device IDs the scenario chooses itself; any other
                `device_id` in an answer is the server's own, normalised
                to "<device_id>"
  generated     names of saved values that the server generates and that
                appear in answers (a guest's user ID): in recorded bodies
                the value is written as "$name", and the replay puts its
                own server's value back before comparing
  steps         in order; each is one of:
    {"name", "settle": true}
        no request: wait until the server has written its client-IP /
        last-seen data (Synapse flushes every 5 s; the replay flushes
        mxauth's), so later `last_seen_*` fields do not depend on timing
    {"name", "as", "method", "path", "body" | "raw_body", "mac", "save",
     "synapse", "mxauth"}
        as        "none" (no Authorization header) or the name of a saved
                  value holding an access token ("admin", "alice", ...)
        path      with the query string; "$name" is replaced by a saved
                  value (also inside "body" strings; a string that is
                  exactly "$name" takes the saved JSON value)
        body      JSON sent as the body (Content-Type: application/json)
        raw_body  a string sent as the body as is (bad JSON, or "")
                  neither: no body
        mac       true: add "mac" to the body, the HMAC-SHA1 of Synapse's
                  shared-secret registration over the body's nonce,
                  username, password, admin (and user_type) with the
                  secret "this is the shared secret"
        save      {"name": "/json/pointer"}: remember a value of the
                  answer's body for later steps (removed if absent)
        synapse   written by this script: {"status", "body"}, the body
                  normalised (below), the `error` text kept as Synapse
                  gives it (the replay compares errcodes, not English)
        mxauth    written by hand, only where mxauth must answer
                  differently: {"status", "body", "why"}

Normalisation (mirrored by the replay test; applied to every object in a
body, at any depth):
  access_token, refresh_token (strings)        -> "<token>"
  nonce (string)                               -> "<nonce>"
  next_token (not null)                        -> "<next_token>"
  creation_ts, last_seen_ts, validated_at, added_at, consent_ts (numbers)
                                               -> "<ts>" in milliseconds
                                                  (>= 10^11), "<ts_s>" in
                                                  seconds (below)
  last_seen_ip (string)                        -> "<ip>"
  device_id (string, not in device_ids)        -> "<device_id>"
  threepids, external_ids, devices (arrays)    -> sorted by their items'
                                                  JSON (keys sorted)
Every request is sent with User-Agent "mxauth-parity", which is how it
appears in `last_seen_user_agent`.
"""

import hashlib
import hmac
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
STEPS_FILE = os.path.join(HERE, "synapse_admin.json")
SYNAPSE_VERSION = os.environ.get("SYNAPSE_VERSION", "1.163.2")
SHARED_SECRET = "this is the shared secret"
USER_AGENT = "mxauth-parity"
SETTLE_SECONDS = 6  # Synapse writes client IPs every 5 s
TIMEOUT = 30


# --- the virtualenv ----------------------------------------------------------


def venv_dir():
    target = os.environ.get("CARGO_TARGET_DIR") or os.path.join(ROOT, "target")
    return os.path.abspath(os.path.join(target, "venv-synapse"))


def venv_ready(python):
    check = (
        "import synapse, requests, sys, importlib.metadata as m; "
        f"sys.exit(m.version('matrix-synapse') != '{SYNAPSE_VERSION}')"
    )
    return (
        os.path.exists(python)
        and subprocess.run([python, "-c", check], capture_output=True).returncode
        == 0
    )


def ensure_venv_and_reexec():
    venv = venv_dir()
    python = os.path.join(venv, "bin", "python")
    if os.path.realpath(sys.prefix) == os.path.realpath(venv):
        return python
    if not venv_ready(python):
        print(f"== installing matrix-synapse=={SYNAPSE_VERSION}, requests into {venv}",
              file=sys.stderr)
        os.makedirs(os.path.dirname(venv), exist_ok=True)
        subprocess.run([sys.executable, "-m", "venv", venv], check=True)
        subprocess.run(
            [python, "-m", "pip", "install", "-q",
             f"matrix-synapse=={SYNAPSE_VERSION}", "requests"],
            check=True,
        )
    os.execv(python, [python, os.path.abspath(__file__), *sys.argv[1:]])


# --- normalisation (mirrored in tests/api/admin_parity.rs) -------------------

TS_KEYS = {"creation_ts", "last_seen_ts", "validated_at", "added_at", "consent_ts"}
SORTED_KEYS = {"threepids", "external_ids", "devices"}


def canonical(value):
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def normalise(value, device_ids):
    if isinstance(value, list):
        return [normalise(v, device_ids) for v in value]
    if not isinstance(value, dict):
        return value
    out = {}
    for key, v in value.items():
        is_number = isinstance(v, (int, float)) and not isinstance(v, bool)
        if key in ("access_token", "refresh_token") and isinstance(v, str):
            v = "<token>"
        elif key == "nonce" and isinstance(v, str):
            v = "<nonce>"
        elif key == "next_token" and v is not None:
            v = "<next_token>"
        elif key in TS_KEYS and is_number:
            v = "<ts>" if v >= 10**11 else "<ts_s>"
        elif key == "last_seen_ip" and isinstance(v, str):
            v = "<ip>"
        elif key == "device_id" and isinstance(v, str) and v not in device_ids:
            v = "<device_id>"
        else:
            v = normalise(v, device_ids)
            if key in SORTED_KEYS and isinstance(v, list):
                v = sorted(v, key=canonical)
        out[key] = v
    return out


def unsubstitute(value, generated):
    """Writes the generated saved values found in an answer as "$name"."""
    if isinstance(value, list):
        return [unsubstitute(v, generated) for v in value]
    if isinstance(value, dict):
        return {k: unsubstitute(v, generated) for k, v in value.items()}
    if isinstance(value, str):
        for name, saved in generated.items():
            if value == saved:
                return "$" + name
    return value


# --- running the steps -------------------------------------------------------

SAVED_NAME = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")


class Missing(Exception):
    pass


def substitute(value, saved):
    if isinstance(value, list):
        return [substitute(v, saved) for v in value]
    if isinstance(value, dict):
        return {k: substitute(v, saved) for k, v in value.items()}
    if isinstance(value, str):
        whole = SAVED_NAME.fullmatch(value)
        if whole:
            if whole.group(1) not in saved:
                raise Missing(whole.group(1))
            return saved[whole.group(1)]

        def one(m):
            if m.group(1) not in saved:
                raise Missing(m.group(1))
            v = saved[m.group(1)]
            return v if isinstance(v, str) else json.dumps(v)

        return SAVED_NAME.sub(one, value)
    return value


def registration_mac(body):
    mac = hmac.new(SHARED_SECRET.encode(), digestmod=hashlib.sha1)
    mac.update(body["nonce"].encode())
    parts = [body["username"], body["password"], "admin" if body.get("admin") else "notadmin"]
    if body.get("user_type"):
        parts.append(body["user_type"])
    for part in parts:
        mac.update(b"\x00")
        mac.update(part.encode())
    return mac.hexdigest()


def json_pointer(value, pointer):
    if pointer == "":
        return value
    for part in pointer.lstrip("/").split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        if isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        elif isinstance(value, dict) and part in value:
            value = value[part]
        else:
            raise KeyError(pointer)
    return value


def run_steps(doc, base):
    import requests

    http = requests.Session()
    http.headers["User-Agent"] = USER_AGENT
    device_ids = set(doc["device_ids"])
    generated_names = doc.get("generated", [])
    saved = {}
    names = set()
    for step in doc["steps"]:
        name = step["name"]
        if name in names:
            raise SystemExit(f"two steps are named {name!r}")
        names.add(name)
        if step.get("settle"):
            time.sleep(SETTLE_SECONDS)
            continue
        path = substitute(step["path"], saved)
        headers = {}
        if step["as"] != "none":
            headers["Authorization"] = "Bearer " + saved[step["as"]]
        data = None
        if "body" in step:
            body = substitute(step["body"], saved)
            if step.get("mac"):
                body["mac"] = registration_mac(body)
            data = json.dumps(body).encode()
        elif "raw_body" in step:
            data = step["raw_body"].encode()
        if data is not None:
            headers["Content-Type"] = "application/json"
        response = http.request(step["method"], base + path, data=data,
                                headers=headers, timeout=TIMEOUT)
        try:
            answer = response.json()
        except ValueError:
            answer = None
        for key, pointer in step.get("save", {}).items():
            try:
                saved[key] = json_pointer(answer, pointer)
            except KeyError:
                saved.pop(key, None)
        generated = {n: saved[n] for n in generated_names if isinstance(saved.get(n), str)}
        step["synapse"] = {
            "status": response.status_code,
            "body": unsubstitute(normalise(answer, device_ids), generated),
        }
        print(f"{response.status_code} {step['method']} {path}  ({name})", file=sys.stderr)


# --- the file ----------------------------------------------------------------

STEP_KEYS = ["name", "settle", "as", "method", "path", "body", "raw_body", "mac",
             "save", "synapse", "mxauth"]
WIDTH = 100


def dump(value, indent, used=0):
    """JSON with 2-space indents: a value on one line when it fits in 100
    columns (`used`: what precedes it on its line), and so is an object
    or list of scalars however long (a user in a list, a device): stable, and
    readable in a diff."""
    flat = json.dumps(value, ensure_ascii=False)
    if indent + used + len(flat) <= WIDTH or not isinstance(value, (dict, list)) or not value:
        return flat
    items = value.values() if isinstance(value, dict) else value
    if indent >= 4 and not any(isinstance(v, (dict, list)) for v in items):
        return flat
    pad = " " * (indent + 2)
    if isinstance(value, list):
        items = [pad + dump(v, indent + 2) for v in value]
        return "[\n" + ",\n".join(items) + "\n" + " " * indent + "]"
    items = []
    for k, v in value.items():
        key = json.dumps(k, ensure_ascii=False) + ": "
        items.append(pad + key + dump(v, indent + 2, len(key)))
    return "{\n" + ",\n".join(items) + "\n" + " " * indent + "}"


def ordered_step(step):
    unknown = set(step) - set(STEP_KEYS)
    if unknown:
        raise SystemExit(f"step {step.get('name')!r}: unknown keys {sorted(unknown)}")
    return {k: step[k] for k in STEP_KEYS if k in step}


def write(doc):
    doc["steps"] = [ordered_step(s) for s in doc["steps"]]
    with open(STEPS_FILE + ".tmp", "w", encoding="utf-8") as f:
        f.write(dump(doc, 0) + "\n")
    os.replace(STEPS_FILE + ".tmp", STEPS_FILE)


# --- Synapse -----------------------------------------------------------------


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


HOMESERVER_YAML = """\
server_name: test.example
pid_file: {tmp}/homeserver.pid
listeners:
  - port: {port}
    bind_addresses: ['127.0.0.1']
    type: http
    tls: false
    x_forwarded: false
    resources:
      - names: [client]
        compress: false
database:
  name: sqlite3
  args:
    database: {tmp}/homeserver.db
log_config: {tmp}/log.yaml
media_store_path: {tmp}/media
signing_key_path: {tmp}/signing.key
report_stats: false
macaroon_secret_key: "recorder macaroon secret"
form_secret: "recorder form secret"
registration_shared_secret: "{secret}"
enable_registration: false
allow_guest_access: true
password_config:
  enabled: true
bcrypt_rounds: 4
presence:
  enabled: false
trusted_key_servers: []
suppress_key_server_warning: true
federation_domain_whitelist: []
# A fresh database gets some of its indexes from background updates (the
# unique index on profiles.full_user_id, without which reactivation is a
# 500 on SQLite): run them at once, and start only when they are done, as
# on a server that has been up a while.
background_updates:
  sleep_enabled: false
rc_message: {{per_second: 1000, burst_count: 1000}}
rc_registration: {{per_second: 1000, burst_count: 1000}}
rc_login:
  address: {{per_second: 1000, burst_count: 1000}}
  account: {{per_second: 1000, burst_count: 1000}}
  failed_attempts: {{per_second: 1000, burst_count: 1000}}
rc_admin_redaction: {{per_second: 1000, burst_count: 1000}}
rc_joins:
  local: {{per_second: 1000, burst_count: 1000}}
rc_3pid_validation: {{per_second: 1000, burst_count: 1000}}
rc_delayed_event_mgmt: {{per_second: 1000, burst_count: 1000}}
"""

LOG_YAML = """\
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
    filename: {tmp}/synapse.log
    filters: [context]
loggers:
  synapse.storage.SQL:
    level: WARNING
root:
  level: INFO
  handlers: [file]
disable_existing_loggers: false
"""


def background_updates_done(tmp):
    import sqlite3

    db = sqlite3.connect(os.path.join(tmp, "homeserver.db"))
    try:
        return db.execute("SELECT COUNT(*) FROM background_updates").fetchone()[0] == 0
    finally:
        db.close()


def start_synapse(tmp):
    port = free_port()
    os.makedirs(os.path.join(tmp, "media"))
    with open(os.path.join(tmp, "homeserver.yaml"), "w") as f:
        f.write(HOMESERVER_YAML.format(tmp=tmp, port=port, secret=SHARED_SECRET))
    with open(os.path.join(tmp, "log.yaml"), "w") as f:
        f.write(LOG_YAML.format(tmp=tmp))
    subprocess.run(
        [sys.executable, "-m", "synapse._scripts.generate_signing_key",
         "-o", os.path.join(tmp, "signing.key")],
        check=True,
    )
    out = open(os.path.join(tmp, "synapse.out"), "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "synapse.app.homeserver", "-c",
         os.path.join(tmp, "homeserver.yaml")],
        cwd=tmp, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    import requests

    deadline = time.monotonic() + 120
    while True:
        if proc.poll() is not None:
            raise SystemExit(f"Synapse exited during start; see {tmp}/synapse.out")
        try:
            if (requests.get(base + "/health", timeout=2).status_code == 200
                    and background_updates_done(tmp)):
                return proc, base
        except requests.RequestException:
            pass
        if time.monotonic() > deadline:
            raise SystemExit("Synapse did not answer, or finish its background updates,"
                             " within 120 s")
        time.sleep(0.2)


def stop_synapse(proc):
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def main():
    ensure_venv_and_reexec()
    with open(STEPS_FILE, encoding="utf-8") as f:
        doc = json.load(f)
    tmp = tempfile.mkdtemp(prefix="mxauth-record.")
    ok = False
    proc = None
    try:
        proc, base = start_synapse(tmp)
        print(f"== Synapse {SYNAPSE_VERSION} on {base} (temp dir {tmp})", file=sys.stderr)
        run_steps(doc, base)
        ok = True
    finally:
        if proc is not None:
            stop_synapse(proc)
        if ok and not os.environ.get("RECORD_KEEP"):
            shutil.rmtree(tmp)
        else:
            print(f"== Synapse's config and log kept in {tmp}", file=sys.stderr)
    write(doc)
    print(f"== wrote {os.path.relpath(STEPS_FILE, ROOT)}", file=sys.stderr)


if __name__ == "__main__":
    main()
