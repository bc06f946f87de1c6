"""`mxauth import-synapse`: the accounts of a real Synapse move to mxauth.

For each backend (a SQLite Synapse into a SQLite mxauth, a PostgreSQL
Synapse into a PostgreSQL mxauth) the module starts a Synapse 1.163.2 of
its own (password login and registration on, not delegating; guest access,
refresh tokens, a pepper, registration tokens and an application service
configured) and an mxauth serving its own empty database, in a temp dir on
free ports. It fills Synapse through Synapse's own APIs with users of every
kind (see `populate`) and writes down what Synapse answers about them
(`record`): the admin API's view of each user, each device list, each
token's whoami, the refused logins, the registration tokens.

The tests then run in file order on that one pair, as an admin would
migrate: refused while Synapse serves logins; a dry run; a first import
while Synapse still serves (`--while-synapse-runs`); everything Synapse had
checked at mxauth; re-runs (idempotent, a change at Synapse carried over, a
change at mxauth kept); the last import with Synapse stopped; Synapse
switched to delegate to mxauth, where a client logged in before the switch
keeps working.

Needs E2E_MXAUTH_BIN (tests/e2e/run.sh sets it); the PostgreSQL half
needs MXAUTH_TEST_POSTGRES_URL (a server where it may CREATE DATABASE;
scripts/test.sh sets it) and skips without it.
"""

import hashlib
import hmac
import os
import re
import secrets
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

import pytest
import requests
import yaml

from conftest import TIMEOUT, describe, env, errcode

SERVER_NAME = "import.test"
ADMIN = "/_synapse/admin"
SSO_PROVIDER = "oidc-upstream"
TOKEN_USES = 3  # the registration token's uses_allowed
REFUSED = ("gone", "erased", "locked")  # users whose password login Synapse refuses
START_TIMEOUT_S = 120
CLIENT_IPS_BATCH_S = 5  # Synapse writes client IPs and last-seen times this often


def user_id(localpart):
    return f"@{localpart}:{SERVER_NAME}"


def password():
    return "pw-" + secrets.token_urlsafe(12)


# ---------------------------------------------------------------------------
# Plumbing: ports, processes, PostgreSQL databases, HTTP
# ---------------------------------------------------------------------------


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_up(url, process, what, log):
    """Waits until `url` answers anything (or the process exits)."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"{what} exited with {process.returncode}; log: {log}")
        try:
            requests.get(url, timeout=2)
            return
        except requests.RequestException:
            time.sleep(0.2)
    raise AssertionError(f"{what} did not answer at {url} within {START_TIMEOUT_S} s; log: {log}")


def stop_process(process):
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=15)


class Postgres:
    """Databases made for the test on the server MXAUTH_TEST_POSTGRES_URL
    names, dropped by `drop_all`."""

    def __init__(self, url):
        import psycopg2  # only the PostgreSQL half needs it

        self.psycopg2 = psycopg2
        parts = urllib.parse.urlsplit(url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 5432
        self.user = urllib.parse.unquote(parts.username or "postgres")
        self.password = urllib.parse.unquote(parts.password) if parts.password else None
        self.admin_database = parts.path.lstrip("/") or "postgres"
        self.made = []

    def connect(self, database):
        return self.psycopg2.connect(
            host=self.host, port=self.port, user=self.user, password=self.password, dbname=database
        )

    def admin(self, sql):
        db = self.connect(self.admin_database)
        db.autocommit = True
        try:
            with db.cursor() as cursor:
                cursor.execute(sql)
        finally:
            db.close()

    def create(self, prefix):
        """A new database with the C collation Synapse insists on."""
        name = f"{prefix}_{secrets.token_hex(4)}"
        self.admin(
            f"CREATE DATABASE {name} TEMPLATE template0 "
            "LC_COLLATE 'C' LC_CTYPE 'C' ENCODING 'UTF8'"
        )
        self.made.append(name)
        return name

    def config(self, name):
        """The `database:` block (Synapse's keys, which mxauth reads too)."""
        args = {"user": self.user, "host": self.host, "port": self.port, "database": name,
                "cp_min": 1, "cp_max": 5}
        if self.password:
            args["password"] = self.password
        return {"name": "psycopg2", "args": args}

    def drop_all(self):
        for name in self.made:
            self.admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        self.made.clear()


class Api:
    """Client-server and admin API calls on one server's base URL."""

    def __init__(self, base):
        self.base = base.rstrip("/")
        self.http = requests.Session()

    def request(self, method, path, token=None, json=None, **kw):
        headers = kw.pop("headers", {})
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        kw.setdefault("timeout", TIMEOUT)
        return self.http.request(method, self.base + path, headers=headers, json=json, **kw)

    def client(self, method, path, token=None, json=None, **kw):
        return self.request(method, "/_matrix/client/v3" + path, token, json, **kw)

    def ok(self, method, path, token=None, json=None, **kw):
        """The JSON answer of a call that must succeed."""
        response = self.request(method, path, token, json, **kw)
        assert response.status_code == 200, describe(response)
        return response.json()

    def login(self, localpart, password_, device_name=None, refresh=False):
        body = {
            "type": "m.login.password",
            "identifier": {"type": "m.id.user", "user": localpart},
            "password": password_,
        }
        if device_name is not None:
            body["initial_device_display_name"] = device_name
        if refresh:
            body["refresh_token"] = True
        return self.client("POST", "/login", json=body)

    def login_ok(self, localpart, password_, **kw):
        response = self.login(localpart, password_, **kw)
        assert response.status_code == 200, describe(response)
        return response.json()

    def whoami(self, token, **params):
        return self.client("GET", "/account/whoami", token, params=params)

    def devices(self, token):
        """{device_id: display_name} of the token's user, from GET /devices."""
        devices = self.ok("GET", "/_matrix/client/v3/devices", token)["devices"]
        return {d["device_id"]: d.get("display_name") for d in devices}

    def admin_user(self, admin_token, user):
        return self.ok("GET", f"{ADMIN}/v2/users/{user}", admin_token)

    def user_total(self, admin_token):
        """How many users the admin user list has, of every kind."""
        answer = self.ok(
            "GET",
            f"{ADMIN}/v2/users",
            admin_token,
            params={"guests": "true", "deactivated": "true", "locked": "true", "limit": 1000},
        )
        return answer["total"]


def whoami_summary(response):
    """What a whoami answer says, comparable between the two servers."""
    if response.status_code != 200:
        return (response.status_code, errcode(response))
    body = response.json()
    return (200, body["user_id"], body.get("device_id"), body.get("is_guest", False))


# The admin API's fields of a user that an import must carry over.
USER_FIELDS = ("name", "admin", "deactivated", "erased", "locked", "suspended", "is_guest",
               "user_type", "appservice_id", "shadow_banned", "creation_ts")


def user_view(admin_answer):
    """The part of `GET /_synapse/admin/v2/users/{id}` both sides must agree on."""
    view = {key: admin_answer.get(key) for key in USER_FIELDS}
    view["threepids"] = sorted((t["medium"], t["address"]) for t in admin_answer.get("threepids") or [])
    view["external_ids"] = sorted(
        (e["auth_provider"], e["external_id"]) for e in admin_answer.get("external_ids") or []
    )
    return view


# `users: 5 new, 0 changed, 0 unchanged, 0 deleted, 0 skipped` (and, in a
# dry run, ` (dry run: nothing written)` after it).
SUMMARY_LINE = re.compile(r"^([a-z_]+): (\d+ [a-z]+(?:, \d+ [a-z]+)*)")


def parse_summary(text):
    """{kind: {word: count}} from the summary's lines of counts."""
    kinds = {}
    for line in text.splitlines():
        match = SUMMARY_LINE.match(line)
        if match:
            counts = {}
            for part in match.group(2).split(", "):
                number, word = part.split()
                counts[word] = int(number)
            kinds[match.group(1)] = counts
    return kinds


# ---------------------------------------------------------------------------
# The two servers
# ---------------------------------------------------------------------------


class Synapse:
    """A Synapse of the test's own: password login and registration (with a
    registration token), guests, refresh tokens, a pepper, an appservice."""

    def __init__(self, directory, database, postgres=None):
        self.dir = directory
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.api = Api(self.url)
        self.config_path = directory / "homeserver.yaml"
        self.log = directory / "synapse.log"
        self.process = None
        self.database = database  # the `database:` block
        self.postgres = postgres
        self.macaroon_secret_key = secrets.token_hex(32)
        self.pepper = secrets.token_hex(16)
        self.shared_secret = secrets.token_hex(32)
        self.as_token = "as-" + secrets.token_hex(16)
        self.appservice_file = directory / "appservice.yaml"
        (directory / "media").mkdir()
        subprocess.run(
            [sys.executable, "-m", "synapse._scripts.generate_signing_key",
             "-o", str(directory / "signing.key")],
            check=True,
        )
        self.write_log_config()
        self.write_appservice()
        self.write_config(self.standalone_config())

    def write_log_config(self):
        log_config = {
            "version": 1,
            "formatters": {"precise": {"format": "%(asctime)s - %(name)s - %(lineno)d - "
                                                 "%(levelname)s - %(request)s - %(message)s"}},
            "filters": {"context": {"()": "synapse.logging.context.LoggingContextFilter",
                                    "request": ""}},
            "handlers": {"file": {"class": "logging.FileHandler", "formatter": "precise",
                                  "filename": str(self.log), "filters": ["context"]}},
            "loggers": {"synapse.storage.SQL": {"level": "WARNING"}},
            "root": {"level": "INFO", "handlers": ["file"]},
            "disable_existing_loggers": False,
        }
        (self.dir / "log.yaml").write_text(yaml.safe_dump(log_config))

    def write_appservice(self):
        registration = {
            "id": "bridge",
            "url": None,  # sends it nothing
            "as_token": self.as_token,
            "hs_token": "hs-" + secrets.token_hex(16),
            "sender_localpart": "bridgebot",
            "namespaces": {
                "users": [{"exclusive": True, "regex": f"@bridge_.*:{SERVER_NAME}"}],
                "aliases": [],
                "rooms": [],
            },
            "rate_limited": False,
        }
        self.appservice_file.write_text(yaml.safe_dump(registration))

    def base_config(self):
        high = {"per_second": 1000, "burst_count": 1000}
        return {
            "server_name": SERVER_NAME,
            "public_baseurl": self.url + "/",
            "pid_file": str(self.dir / "homeserver.pid"),
            "listeners": [{
                "port": self.port,
                "bind_addresses": ["127.0.0.1"],
                "type": "http",
                "tls": False,
                "x_forwarded": True,
                "resources": [{"names": ["client"], "compress": False}],
            }],
            "database": self.database,
            "log_config": str(self.dir / "log.yaml"),
            "media_store_path": str(self.dir / "media"),
            "signing_key_path": str(self.dir / "signing.key"),
            "report_stats": False,
            "macaroon_secret_key": self.macaroon_secret_key,
            "form_secret": secrets.token_hex(32),
            "registration_shared_secret": self.shared_secret,
            "trusted_key_servers": [],
            "suppress_key_server_warning": True,
            "app_service_config_files": [str(self.appservice_file)],
            "rc_message": high,
            "rc_registration": high,
            "rc_registration_token_validity": high,
            "rc_login": {"address": high, "account": high, "failed_attempts": high},
            "rc_admin_redaction": high,
            "rc_joins": {"local": high},
            "background_updates": {"sleep_enabled": False},
        }

    def standalone_config(self):
        config = self.base_config()
        config.update({
            "enable_registration": True,
            "registration_requires_token": True,
            "allow_guest_access": True,
            "password_config": {"enabled": True, "pepper": self.pepper},
            "refreshable_access_token_lifetime": "5m",
        })
        return config

    def delegating_config(self, mxauth_url, secret):
        """Auth handed to mxauth, as tests/e2e/run.sh configures the main pair."""
        config = self.base_config()
        config.update({
            "enable_registration": False,
            "password_config": {"enabled": False},
            "matrix_authentication_service": {
                "enabled": True, "endpoint": mxauth_url + "/", "secret": secret,
            },
        })
        return config

    def write_config(self, config):
        self.config_path.write_text(yaml.safe_dump(config))

    def start(self):
        out = open(self.dir / "synapse.out", "ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "synapse.app.homeserver", "-c", str(self.config_path)],
            cwd=self.dir, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )
        out.close()
        wait_until_up(self.url + "/health", self.process, "Synapse", self.log)
        self.wait_for_background_updates()

    def stop(self):
        stop_process(self.process)
        self.process = None

    def let_usage_settle(self):
        """Waits until Synapse has written the client IPs and last-seen
        times of the requests so far: it batches them every 5 s
        (storage/databases/main/client_ips.py). The import carries them
        over, so one that lands after an import is a change the next run
        sees."""
        time.sleep(CLIENT_IPS_BATCH_S + 1)

    def wait_for_background_updates(self):
        """Until they are done Synapse lacks indexes its own queries rely on
        (see run.sh)."""
        deadline = time.monotonic() + START_TIMEOUT_S
        while self.background_updates_left() != 0:
            assert time.monotonic() < deadline, "Synapse's background updates did not finish"
            time.sleep(0.2)

    def background_updates_left(self):
        query = "SELECT count(*) FROM background_updates"
        try:
            if self.postgres is None:
                with sqlite3.connect(self.database["args"]["database"], timeout=5) as db:
                    return db.execute(query).fetchone()[0]
            db = self.postgres.connect(self.database["args"]["database"])
            try:
                with db.cursor() as cursor:
                    cursor.execute(query)
                    return cursor.fetchone()[0]
            finally:
                db.close()
        except sqlite3.OperationalError:  # not created yet
            return None
        except Exception as e:  # psycopg2.Error, without importing it on SQLite
            if self.postgres is not None and isinstance(e, self.postgres.psycopg2.Error):
                return None
            raise


class Mxauth:
    """mxauth serving its own database on a free port; `run` runs its
    command line on the same config."""

    def __init__(self, directory, database, synapse):
        self.bin = os.path.abspath(env("E2E_MXAUTH_BIN"))
        self.dir = directory
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.api = Api(self.url)
        self.config_path = directory / "mxauth.yaml"
        self.log = directory / "mxauth.log"
        self.process = None
        self.database = database
        self.synapse = synapse
        self.write_config(self.standalone_config())

    def standalone_config(self):
        high = {"per_second": 1000, "burst_count": 1000}
        return {
            "server_name": SERVER_NAME,
            "listeners": [{"port": self.port, "bind_addresses": ["127.0.0.1"], "type": "http"}],
            "database": self.database,
            # Shared with Synapse: its hashes are peppered, its guest
            # tokens are macaroons signed with this key.
            "macaroon_secret_key": self.synapse.macaroon_secret_key,
            "password_config": {"pepper": self.synapse.pepper},
            "allow_guest_access": True,
            "registration_requires_token": True,
            "refreshable_access_token_lifetime": "5m",
            "app_service_config_files": [str(self.synapse.appservice_file)],
            "rc_login": {"address": high, "account": high, "failed_attempts": high},
            "rc_registration": high,
        }

    def delegated_config(self, secret):
        """Synapse delegates to this mxauth: the `matrix:` section."""
        config = self.standalone_config()
        config["public_baseurl"] = self.url + "/"  # the issuer Synapse is told about
        config["matrix"] = {
            "kind": "synapse",
            "homeserver": SERVER_NAME,
            "endpoint": self.synapse.url + "/",
            "secret": secret,
        }
        return config

    def write_config(self, config):
        self.config_path.write_text(yaml.safe_dump(config))

    def start(self):
        log = open(self.log, "ab")
        self.process = subprocess.Popen(
            [self.bin, "serve", "--config", str(self.config_path)],
            cwd=self.dir, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env={**os.environ, "RUST_LOG": os.environ.get("RUST_LOG", "info")},
        )
        log.close()
        wait_until_up(self.url + "/_matrix/client/versions", self.process, "mxauth", self.log)

    def stop(self):
        stop_process(self.process)
        self.process = None

    def run(self, *args, timeout=300):
        """The completed `mxauth <args>` (the caller checks the exit code)."""
        return subprocess.run(
            [self.bin, *args], capture_output=True, text=True, timeout=timeout,
            stdin=subprocess.DEVNULL,
        )

    def import_synapse(self, *flags):
        done = self.run(
            "import-synapse", "--config", str(self.config_path),
            "--synapse-config", str(self.synapse.config_path), *flags,
        )
        with open(self.dir / "imports.log", "a") as log:
            log.write(f"=== import-synapse {' '.join(flags)} -> {done.returncode}\n"
                      f"--- stdout\n{done.stdout}\n--- stderr\n{done.stderr}\n")
        return done

    def import_ok(self, *flags):
        """Runs the import, which must succeed: its summary, parsed."""
        done = self.import_synapse(*flags)
        assert done.returncode == 0, shown(done)
        summary = parse_summary(done.stdout)
        assert "users" in summary, f"no `users:` line in the summary; {shown(done)}"
        return summary


def shown(done):
    return (f"{' '.join(done.args)} -> exit {done.returncode}\n"
            f"--- stdout\n{done.stdout}\n--- stderr\n{done.stderr}")


# ---------------------------------------------------------------------------
# Filling Synapse, through its own APIs
# ---------------------------------------------------------------------------


class Person:
    """A user made at Synapse: the password they have there now, and each
    token (by a label) with its device."""

    def __init__(self, localpart, password_=None):
        self.localpart = localpart
        self.user_id = user_id(localpart)
        self.password = password_
        self.old_password = None  # before a change at Synapse
        self.tokens = {}  # label -> access token
        self.devices = {}  # label -> device_id
        self.refresh_tokens = {}  # label -> refresh token

    def add_session(self, label, answer):
        self.tokens[label] = answer["access_token"]
        self.devices[label] = answer.get("device_id")
        if "refresh_token" in answer:
            self.refresh_tokens[label] = answer["refresh_token"]


class Population:
    """Who was made at Synapse, and what Synapse answered about them
    (`record`): the picture the import must reproduce at mxauth."""

    def __init__(self):
        self.people = {}  # localpart -> Person
        self.registration_token = "import-" + secrets.token_hex(4)
        self.spare_registration_token = "spare-" + secrets.token_hex(4)
        self.as_user = None  # the appservice's user's localpart
        # Filled by record():
        self.user_total = None
        self.users = {}  # user_id -> user_view at Synapse
        self.whoami = {}  # (localpart, label) -> whoami_summary at Synapse
        self.devices = {}  # localpart -> {device_id: display_name} at Synapse
        self.registration_tokens = {}  # token -> Synapse's answer
        self.refused_logins = {}  # localpart -> (status, errcode) of their password login

    def add(self, person):
        self.people[person.localpart] = person
        return person

    @property
    def boss(self):
        return self.people["boss"]

    def all_tokens(self):
        for person in self.people.values():
            for label, token in person.tokens.items():
                yield person, label, token


def populate(synapse):
    """Makes users of every kind at Synapse; returns the Population."""
    hs = synapse.api
    population = Population()

    # An admin, by the shared-secret registration.
    boss = population.add(Person("boss", password()))
    boss.add_session("registration", shared_secret_register(synapse, boss, admin=True))
    boss.add_session("console", hs.login_ok("boss", boss.password, device_name="Boss's console"))
    admin = boss.tokens["console"]

    def make(localpart, **fields):
        person = population.add(Person(localpart, password()))
        body = {"password": person.password, **fields}
        response = hs.request("PUT", f"{ADMIN}/v2/users/{person.user_id}", admin, json=body)
        assert response.status_code == 201, describe(response)
        return person

    def login(person, label, device_name, **kw):
        person.add_session(label, hs.login_ok(person.localpart, person.password,
                                              device_name=device_name, **kw))

    # A normal user with an email, a phone number and an SSO link, who
    # changed their password at Synapse; three devices, one renamed.
    alice = make(
        "alice",
        displayname="Alice",
        threepids=[{"medium": "email", "address": "alice@example.org"},
                   {"medium": "msisdn", "address": "447700900123"}],
        external_ids=[{"auth_provider": SSO_PROVIDER, "external_id": "alice-sub"}],
    )
    login(alice, "laptop", "Alice's laptop")
    alice.old_password = alice.password
    alice.password = change_password(hs, alice, alice.tokens["laptop"])
    login(alice, "phone", "Alice's phone")
    login(alice, "tablet", None)  # a device with no name
    rename = hs.client("PUT", f"/devices/{alice.devices['laptop']}", alice.tokens["laptop"],
                       json={"display_name": "Alice's old laptop"})
    assert rename.status_code == 200, describe(rename)

    # Refresh tokens.
    bob = make("bob")
    login(bob, "refreshing", "Bob's tablet", refresh=True)
    assert bob.refresh_tokens["refreshing"], "Synapse gave no refresh token"

    # Users the later runs change: carol at both ends, dave at Synapse.
    carol = make("carol", threepids=[{"medium": "email", "address": "carol@example.org"}])
    login(carol, "desktop", "Carol's desktop")
    dave = make("dave")
    login(dave, "phone", "Dave's phone")
    login(dave, "laptop", "Dave's laptop")

    # A bot.
    robot = make("robot", user_type="bot")
    login(robot, "bot", "robot")

    # Suspended and locked (each with a token from before).
    suspended = make("suspended")
    login(suspended, "phone", "Suspended phone")
    hs.ok("PUT", f"{ADMIN}/v1/suspend/{suspended.user_id}", admin, json={"suspend": True})
    locked = make("locked")
    login(locked, "phone", "Locked phone")
    hs.ok("PUT", f"{ADMIN}/v2/users/{locked.user_id}", admin, json={"locked": True})

    # Deactivated, and deactivated and erased. Deactivation deletes the
    # password hash, so Synapse answers any password M_FORBIDDEN; "gone"
    # is given one again by the admin (without reactivating): with it
    # Synapse answers M_USER_DEACTIVATED.
    for localpart, erase in (("gone", False), ("erased", True)):
        person = make(localpart, threepids=[{"medium": "email", "address": f"{localpart}@example.org"}])
        login(person, "phone", f"{localpart}'s phone")
        hs.ok("POST", f"{ADMIN}/v1/deactivate/{person.user_id}", admin, json={"erase": erase})
        person.tokens.clear()  # Synapse deleted them
    hs.ok("PUT", f"{ADMIN}/v2/users/{user_id('gone')}", admin,
          json={"password": population.people["gone"].password})

    # A guest.
    guest_answer = hs.client("POST", "/register", params={"kind": "guest"}, json={})
    assert guest_answer.status_code == 200, describe(guest_answer)
    guest_answer = guest_answer.json()
    guest = population.add(Person(guest_answer["user_id"].split(":")[0][1:]))
    guest.add_session("guest", guest_answer)

    # The application service's user.
    population.as_user = "bridge_one"
    bridged = population.add(Person(population.as_user))
    answer = hs.client("POST", "/register", synapse.as_token,
                       json={"type": "m.login.application_service", "username": population.as_user})
    assert answer.status_code == 200, describe(answer)
    bridged.add_session("appservice", answer.json())

    # Registration with a token of 3 uses: two used, one pending (a
    # registration that passed the token stage and went no further).
    hs.ok("POST", f"{ADMIN}/v1/registration_tokens/new", admin,
          json={"token": population.registration_token, "uses_allowed": TOKEN_USES})
    hs.ok("POST", f"{ADMIN}/v1/registration_tokens/new", admin,
          json={"token": population.spare_registration_token})
    for localpart in ("tok1", "tok2"):
        person = population.add(Person(localpart, password()))
        person.add_session("registration",
                           register_with_token(hs, person, population.registration_token, finish=True))
    register_with_token(hs, Person("tok3", password()), population.registration_token, finish=False)

    record(synapse, population)
    check_population(population)
    synapse.let_usage_settle()
    return population


def shared_secret_register(synapse, person, admin):
    """Synapse's /_synapse/admin/v1/register (registration_shared_secret)."""
    path = f"{ADMIN}/v1/register"
    nonce = synapse.api.ok("GET", path)["nonce"]
    mac = hmac.new(synapse.shared_secret.encode(), digestmod=hashlib.sha1)
    mac.update(nonce.encode())
    for part in (person.localpart, person.password, "admin" if admin else "notadmin"):
        mac.update(b"\x00")
        mac.update(part.encode())
    return synapse.api.ok("POST", path, json={
        "nonce": nonce, "username": person.localpart, "password": person.password,
        "admin": admin, "mac": mac.hexdigest(),
    })


def change_password(api, person, token):
    """POST /account/password through UIA m.login.password; the new password."""
    new = password()
    body = {"new_password": new, "logout_devices": False}
    first = api.client("POST", "/account/password", token, json=body)
    assert first.status_code == 401, describe(first)
    body["auth"] = {
        "type": "m.login.password",
        "identifier": {"type": "m.id.user", "user": person.localpart},
        "password": person.password,
        "session": first.json()["session"],
    }
    done = api.client("POST", "/account/password", token, json=body)
    assert done.status_code == 200, describe(done)
    return new


def register_with_token(api, person, token, finish):
    """UIA registration: m.login.registration_token, then m.login.dummy
    (skipped unless `finish`: the token's use stays pending)."""
    body = {"username": person.localpart, "password": person.password,
            "initial_device_display_name": f"{person.localpart}'s first device"}
    first = api.client("POST", "/register", json=body)
    assert first.status_code == 401, describe(first)
    session = first.json()["session"]
    body["auth"] = {"type": "m.login.registration_token", "token": token, "session": session}
    second = api.client("POST", "/register", json=body)
    assert second.status_code == 401, describe(second)
    assert "m.login.registration_token" in second.json().get("completed", []), describe(second)
    if not finish:
        return None
    body["auth"] = {"type": "m.login.dummy", "session": session}
    done = api.client("POST", "/register", json=body)
    assert done.status_code == 200, describe(done)
    return done.json()


def record(synapse, population):
    """Writes down what Synapse says about everyone."""
    hs = synapse.api
    admin = population.boss.tokens["console"]
    population.user_total = hs.user_total(admin)
    for person in population.people.values():
        population.users[person.user_id] = user_view(hs.admin_user(admin, person.user_id))
        devices = hs.ok("GET", f"{ADMIN}/v2/users/{person.user_id}/devices", admin)["devices"]
        population.devices[person.localpart] = {d["device_id"]: d.get("display_name") for d in devices}
    for person, label, token in population.all_tokens():
        population.whoami[(person.localpart, label)] = whoami_summary(hs.whoami(token))
    for localpart in REFUSED:
        response = hs.login(localpart, population.people[localpart].password)
        population.refused_logins[localpart] = (response.status_code, errcode(response))
    for token in (population.registration_token, population.spare_registration_token):
        population.registration_tokens[token] = hs.ok("GET", f"{ADMIN}/v1/registration_tokens/{token}", admin)


def check_population(population):
    """The population is what the tests assume: Synapse answers as described."""
    users = population.users
    assert users[user_id("boss")]["admin"] is True
    assert users[user_id("robot")]["user_type"] == "bot"
    assert users[user_id("locked")]["locked"] is True
    assert users[user_id("suspended")]["suspended"] is True
    assert users[user_id("gone")]["deactivated"] and not users[user_id("gone")]["erased"]
    assert users[user_id("erased")]["deactivated"] and users[user_id("erased")]["erased"]
    assert users[user_id("bridge_one")]["appservice_id"] == "bridge"
    assert population.whoami[("locked", "phone")] == (401, "M_USER_LOCKED")
    assert population.refused_logins == {
        "gone": (403, "M_USER_DEACTIVATED"),
        "erased": (403, "M_FORBIDDEN"),  # no password any more
        "locked": (401, "M_USER_LOCKED"),
    }
    guest = next(p for p in population.people.values() if "guest" in p.tokens)
    assert population.whoami[(guest.localpart, "guest")][3] is True, population.whoami
    assert population.registration_tokens[population.registration_token]["pending"] == 1
    assert population.registration_tokens[population.registration_token]["completed"] == 2
    # Every user made is in the admin list, and nothing else (Synapse makes
    # no user for the appservice's sender_localpart).
    assert population.user_total == len(population.people), population.user_total


# ---------------------------------------------------------------------------
# The module's world: one populated Synapse and one mxauth per backend
# ---------------------------------------------------------------------------


class World:
    def __init__(self, synapse, mxauth, before):
        self.synapse = synapse
        self.mxauth = mxauth
        self.before = before
        self.made_at_mxauth = set()  # (localpart, device_id) of the tests' logins at mxauth
        self.logged_out_at_synapse = None  # a token test_a_change_at_synapse... ended
        self.dry_run_summary = None

    @property
    def people(self):
        return self.before.people

    def mx_login_ok(self, localpart, password_, **kw):
        """A login at mxauth, whose device the device checks leave out."""
        answer = self.mxauth.api.login_ok(localpart, password_, **kw)
        self.made_at_mxauth.add((localpart, answer["device_id"]))
        return answer

    def mx_admin(self):
        """An admin's token at mxauth: the imported admin's old one."""
        return self.people["boss"].tokens["console"]


@pytest.fixture(scope="module", params=[
    "sqlite-to-sqlite", "postgres-to-postgres", "sqlite-to-postgres", "postgres-to-sqlite",
])
def world(request):
    """A Synapse on one backend, imported into mxauth on one backend."""
    env("E2E_MXAUTH_BIN")
    synapse_backend, mxauth_backend = request.param.split("-to-")
    postgres = None
    if "postgres" in (synapse_backend, mxauth_backend):
        url = os.environ.get("MXAUTH_TEST_POSTGRES_URL")
        if not url:
            pytest.skip("MXAUTH_TEST_POSTGRES_URL is not set (scripts/test.sh sets it)")
        postgres = Postgres(url)
    # Under run.sh's temp dir, kept (with the logs) when a test fails.
    directory = Path(tempfile.mkdtemp(prefix=f"import-{request.param}-", dir=os.environ.get("E2E_TMP")))
    synapse = mxauth = None
    try:
        if synapse_backend == "sqlite":
            synapse_db = {"name": "sqlite3", "args": {"database": str(directory / "homeserver.db")}}
        else:
            synapse_db = postgres.config(postgres.create("mxauth_import_synapse"))
        if mxauth_backend == "sqlite":
            mxauth_db = {"name": "sqlite3", "args": {"database": str(directory / "mxauth.db")}}
        else:
            mxauth_db = postgres.config(postgres.create("mxauth_import_mxauth"))
        synapse = Synapse(directory, synapse_db, postgres if synapse_backend == "postgres" else None)
        synapse.start()
        before = populate(synapse)
        mxauth = Mxauth(directory, mxauth_db, synapse)
        mxauth.start()
        yield World(synapse, mxauth, before)
    finally:
        if mxauth is not None:
            mxauth.stop()
        if synapse is not None:
            synapse.stop()
        if postgres is not None:
            postgres.drop_all()
        if not os.environ.get("E2E_TMP") and not os.environ.get("E2E_KEEP"):
            shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope="module")
def imported(world):
    """The first import, while Synapse still serves: its summary."""
    return world.mxauth.import_ok("--while-synapse-runs")


# ---------------------------------------------------------------------------
# Before the import
# ---------------------------------------------------------------------------


def test_refuses_while_synapse_serves_logins(world):
    done = world.mxauth.import_synapse()
    assert done.returncode != 0, shown(done)
    assert done.stderr.strip(), shown(done)
    assert "running" in done.stderr.lower() or "serv" in done.stderr.lower(), shown(done)
    assert world.mxauth.api.login(
        "boss", world.people["boss"].password
    ).status_code == 403, "the refused import wrote users"


def test_refuses_another_server_name(world):
    config = world.mxauth.standalone_config()
    config["server_name"] = "elsewhere.test"
    other = world.mxauth.dir / "mxauth-elsewhere.yaml"
    other.write_text(yaml.safe_dump(config))
    done = world.mxauth.run(
        "import-synapse", "--config", str(other), "--synapse-config",
        str(world.synapse.config_path), "--synapse-stopped",
    )
    assert done.returncode != 0, shown(done)
    assert "server_name" in done.stderr or SERVER_NAME in done.stderr, shown(done)


def test_dry_run_writes_nothing(world):
    summary = world.mxauth.import_ok("--dry-run", "--while-synapse-runs")
    assert summary["users"].get("new") == world.before.user_total, summary
    world.dry_run_summary = summary
    mx = world.mxauth.api
    admins = world.mxauth.run("manage", "list-admins", "-c", str(world.mxauth.config_path))
    assert admins.returncode == 0, shown(admins)
    assert admins.stdout.strip() == "", shown(admins)
    boss = world.people["boss"]
    assert mx.whoami(boss.tokens["console"]).status_code == 401
    login = mx.login("boss", boss.password)
    assert login.status_code == 403, describe(login)


# ---------------------------------------------------------------------------
# The first import: everything Synapse had is at mxauth
# ---------------------------------------------------------------------------


def test_first_import_brings_every_user(world, imported):
    assert imported["users"].get("new") == world.before.user_total, imported
    if world.dry_run_summary is not None:
        assert imported == world.dry_run_summary, "what the dry run said it would do"
    total = world.mxauth.api.user_total(world.mx_admin())
    assert total == world.before.user_total, "users at mxauth vs Synapse"


def test_old_access_tokens_work_at_mxauth(world, imported):
    mx = world.mxauth.api
    for person, label, token in world.before.all_tokens():
        if label == "appservice":
            continue  # an appservice's own token: test_appservice_acts_for_its_users
        at_synapse = world.before.whoami[(person.localpart, label)]
        at_mxauth = whoami_summary(mx.whoami(token))
        assert at_mxauth == at_synapse, f"{person.localpart}'s {label} token: whoami at mxauth " \
            f"{at_mxauth}, at Synapse {at_synapse}"


def test_appservice_acts_for_its_users(world, imported):
    mx = world.mxauth.api
    bridged = world.people[world.before.as_user]
    answer = mx.whoami(world.synapse.as_token, user_id=bridged.user_id)
    assert answer.status_code == 200, describe(answer)
    assert answer.json()["user_id"] == bridged.user_id
    # The token the appservice's registration answered.
    expected = world.before.whoami[(bridged.localpart, "appservice")]
    assert whoami_summary(mx.whoami(bridged.tokens["appservice"])) == expected
    login = mx.client("POST", "/login", world.synapse.as_token, json={
        "type": "m.login.application_service",
        "identifier": {"type": "m.id.user", "user": bridged.localpart},
    })
    assert login.status_code == 200, describe(login)
    world.made_at_mxauth.add((bridged.localpart, login.json()["device_id"]))


def test_devices_and_their_names_match(world, imported):
    mx = world.mxauth.api
    admin = world.mx_admin()
    for person in world.people.values():
        at_synapse = world.before.devices[person.localpart]
        listed = mx.ok("GET", f"{ADMIN}/v2/users/{person.user_id}/devices", admin)["devices"]
        at_mxauth = {d["device_id"]: d.get("display_name") for d in listed
                     if (person.localpart, d["device_id"]) not in world.made_at_mxauth}
        assert at_mxauth == at_synapse, f"admin device list of {person.user_id}"
    # And as each user sees them (GET /devices with their own old token).
    for localpart in ("alice", "bob", "carol", "dave", "robot", "boss"):
        person = world.people[localpart]
        token = next(iter(person.tokens.values()))
        at_mxauth = {device: name for device, name in mx.devices(token).items()
                     if (localpart, device) not in world.made_at_mxauth}
        assert at_mxauth == world.before.devices[localpart], f"GET /devices of {localpart}"


def test_users_are_what_synapse_had(world, imported):
    mx = world.mxauth.api
    admin = world.mx_admin()
    for person in world.people.values():
        at_mxauth = user_view(mx.admin_user(admin, person.user_id))
        assert at_mxauth == world.before.users[person.user_id], person.user_id
    assert mx.admin_user(admin, user_id("boss"))["admin"] is True


def test_everyone_logs_in_with_their_password(world, imported):
    for person in world.people.values():
        if person.password is None or person.localpart in REFUSED:
            continue
        world.mx_login_ok(person.localpart, person.password, device_name="after the import")
    alice = world.people["alice"]
    old = world.mxauth.api.login("alice", alice.old_password)
    assert old.status_code == 403 and errcode(old) == "M_FORBIDDEN", describe(old)


def test_deactivated_and_locked_users_cannot_log_in(world, imported):
    """As at Synapse: 403 M_USER_DEACTIVATED with the password, 401
    M_USER_LOCKED; the erased user has no password (M_FORBIDDEN)."""
    mx = world.mxauth.api
    for localpart in REFUSED:
        response = mx.login(localpart, world.people[localpart].password)
        assert (response.status_code, errcode(response)) == world.before.refused_logins[localpart], \
            describe(response)


def test_login_by_email(world, imported):
    alice = world.people["alice"]
    response = world.mxauth.api.client("POST", "/login", json={
        "type": "m.login.password",
        "identifier": {"type": "m.id.thirdparty", "medium": "email", "address": "alice@example.org"},
        "password": alice.password,
    })
    assert response.status_code == 200, describe(response)
    assert response.json()["user_id"] == alice.user_id
    world.made_at_mxauth.add(("alice", response.json()["device_id"]))


def test_login_by_phone(world, imported):
    # Alice's msisdn 3PID at Synapse, typed as a person in the UK would.
    alice = world.people["alice"]
    response = world.mxauth.api.client("POST", "/login", json={
        "type": "m.login.password",
        "identifier": {"type": "m.id.phone", "country": "GB", "phone": "07700 900123"},
        "password": alice.password,
    })
    assert response.status_code == 200, describe(response)
    assert response.json()["user_id"] == alice.user_id
    world.made_at_mxauth.add(("alice", response.json()["device_id"]))


def test_refresh_tokens_refresh(world, imported):
    mx = world.mxauth.api
    bob = world.people["bob"]
    response = mx.client("POST", "/refresh", json={"refresh_token": bob.refresh_tokens["refreshing"]})
    assert response.status_code == 200, describe(response)
    fresh = response.json()
    assert fresh["refresh_token"] != bob.refresh_tokens["refreshing"]
    whoami = mx.whoami(fresh["access_token"])
    assert whoami.status_code == 200, describe(whoami)
    assert whoami.json()["device_id"] == bob.devices["refreshing"]
    bob.tokens["refreshing"] = fresh["access_token"]
    bob.refresh_tokens["refreshing"] = fresh["refresh_token"]


def test_registration_tokens_keep_their_remaining_uses(world, imported):
    mx = world.mxauth.api
    admin = world.mx_admin()
    for token, at_synapse in world.before.registration_tokens.items():
        at_mxauth = mx.ok("GET", f"{ADMIN}/v1/registration_tokens/{token}", admin)
        # A use pending at Synapse (a registration half done there) is not
        # one at mxauth: it comes back.
        assert at_mxauth == {**at_synapse, "pending": 0}, token
    listed = mx.ok("GET", f"{ADMIN}/v1/registration_tokens", admin)["registration_tokens"]
    assert sorted(t["token"] for t in listed) == sorted(world.before.registration_tokens)
    valid = mx.request("GET", "/_matrix/client/v1/register/m.login.registration_token/validity",
                       params={"token": world.before.registration_token})
    assert valid.status_code == 200 and valid.json()["valid"] is True, describe(valid)


def test_sso_links_resolve(world, imported):
    answer = world.mxauth.api.ok(
        "GET", f"{ADMIN}/v1/auth_providers/{SSO_PROVIDER}/users/alice-sub", world.mx_admin()
    )
    assert answer["user_id"] == user_id("alice")


# ---------------------------------------------------------------------------
# Later runs
# ---------------------------------------------------------------------------


def mxauth_state(world):
    """What mxauth says of everyone now: each token's whoami, each user's
    admin view and devices (the tests' own logins at mxauth left out)."""
    mx = world.mxauth.api
    admin = world.mx_admin()
    devices = {}
    for person in world.people.values():
        listed = mx.ok("GET", f"{ADMIN}/v2/users/{person.user_id}/devices", admin)["devices"]
        devices[person.localpart] = {d["device_id"]: d.get("display_name") for d in listed
                                     if (person.localpart, d["device_id"]) not in world.made_at_mxauth}
    return {
        "whoami": {(person.localpart, label): whoami_summary(mx.whoami(token))
                   for person, label, token in world.before.all_tokens()},
        "users": {person.user_id: user_view(mx.admin_user(admin, person.user_id))
                  for person in world.people.values()},
        "devices": devices,
    }


def changes_in(summary):
    """{kind: {word: count}} of the summary's non-zero new/changed/deleted."""
    changes = {}
    for kind, counts in summary.items():
        moved = {word: n for word, n in counts.items() if word in ("new", "changed", "deleted") and n}
        if moved:
            changes[kind] = moved
    return changes


def test_a_second_run_changes_nothing(world, imported):
    before = mxauth_state(world)
    summary = world.mxauth.import_ok("--while-synapse-runs")
    assert changes_in(summary) == {}, summary
    assert mxauth_state(world) == before
    assert world.mxauth.api.user_total(world.mx_admin()) == world.before.user_total


def test_a_change_at_synapse_is_carried_over(world, imported):
    """A device renamed and another logged out at Synapse: the next run
    brings exactly that."""
    hs = world.synapse.api
    dave = world.people["dave"]
    renamed = hs.client("PUT", f"/devices/{dave.devices['phone']}", dave.tokens["phone"],
                        json={"display_name": "Dave's new phone"})
    assert renamed.status_code == 200, describe(renamed)
    logout = hs.client("POST", "/logout", dave.tokens["laptop"], json={})
    assert logout.status_code == 200, describe(logout)
    world.synapse.let_usage_settle()
    expected = mxauth_state(world)
    expected["whoami"][("dave", "laptop")] = (401, "M_UNKNOWN_TOKEN")
    expected["devices"]["dave"][dave.devices["phone"]] = "Dave's new phone"
    del expected["devices"]["dave"][dave.devices["laptop"]]

    summary = world.mxauth.import_ok("--while-synapse-runs")

    assert changes_in(summary) == {
        "devices": {"changed": 1, "deleted": 1},  # renamed; logged out
        "access_tokens": {"deleted": 1},
    }, summary
    assert mxauth_state(world) == expected
    world.logged_out_at_synapse = dave.tokens.pop("laptop")


def test_a_change_at_mxauth_is_never_undone(world, imported):
    """A password changed at mxauth, and a device renamed at mxauth that
    Synapse renamed too: the next run leaves both as mxauth has them."""
    hs = world.synapse.api
    mx = world.mxauth.api
    carol = world.people["carol"]
    device = carol.devices["desktop"]
    token = carol.tokens["desktop"]
    at_mx = mx.client("PUT", f"/devices/{device}", token, json={"display_name": "named at mxauth"})
    assert at_mx.status_code == 200, describe(at_mx)
    at_hs = hs.client("PUT", f"/devices/{device}", token, json={"display_name": "named at Synapse"})
    assert at_hs.status_code == 200, describe(at_hs)
    old_password = carol.password
    carol.password = change_password(mx, carol, token)
    world.synapse.let_usage_settle()
    before = mxauth_state(world)
    assert before["devices"]["carol"][device] == "named at mxauth"

    world.mxauth.import_ok("--while-synapse-runs")

    assert mxauth_state(world) == before
    world.mx_login_ok("carol", carol.password)
    refused = mx.login("carol", old_password)
    assert refused.status_code == 403, describe(refused)


# ---------------------------------------------------------------------------
# The switch: Synapse stopped, the last import, Synapse delegating to mxauth
# ---------------------------------------------------------------------------


def test_after_the_switch_old_clients_work_through_delegating_synapse(world, imported):
    world.synapse.stop()
    summary = world.mxauth.import_ok()  # no flag: Synapse is stopped
    assert changes_in(summary) == {}, summary

    secret = secrets.token_hex(32)
    world.synapse.write_config(world.synapse.delegating_config(world.mxauth.url, secret))
    world.mxauth.stop()
    world.mxauth.write_config(world.mxauth.delegated_config(secret))
    world.mxauth.start()
    world.synapse.start()

    hs = world.synapse.api
    alice = world.people["alice"]
    for label in ("laptop", "phone"):
        whoami = hs.whoami(alice.tokens[label])
        assert whoami.status_code == 200, describe(whoami)
        assert whoami.json()["user_id"] == alice.user_id
        assert whoami.json()["device_id"] == alice.devices[label]
    room = hs.client("POST", "/createRoom", alice.tokens["laptop"], json={})
    assert room.status_code == 200, describe(room)
    # The token logged out at Synapse before the switch stays dead.
    if world.logged_out_at_synapse is not None:
        gone = hs.whoami(world.logged_out_at_synapse)
        assert gone.status_code == 401, describe(gone)
    # The password set at mxauth works and its token works at Synapse.
    carol = world.people["carol"]
    fresh = world.mx_login_ok("carol", carol.password)
    whoami = hs.whoami(fresh["access_token"])
    assert whoami.status_code == 200, describe(whoami)
