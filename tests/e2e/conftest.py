"""Shared helpers for the end-to-end tests (run by tests/e2e/run.sh).

Every client request goes through nginx (E2E_BASE_URL) with the repo's
deploy/nginx/mxauth.conf: the test does not choose between mxauth and
Synapse, the proxy does. The direct URLs are only used to look at one side
(e.g. mxauth's own device list) when the test needs to compare.
"""

import hashlib
import hmac
import os
import secrets
import subprocess
import time

import pytest
import requests

TIMEOUT = 15  # seconds; no single request may take longer


def env(name):
    value = os.environ.get(name)
    if not value:
        pytest.skip(f"{name} is not set: run the tests with tests/e2e/run.sh")
    return value


class Matrix:
    def __init__(self):
        self.base = env("E2E_BASE_URL").rstrip("/")
        self.mxauth = env("E2E_MXAUTH_URL").rstrip("/")
        self.synapse = env("E2E_SYNAPSE_URL").rstrip("/")
        self.server_name = env("E2E_SERVER_NAME")
        self.shared_secret = env("E2E_REGISTRATION_SHARED_SECRET")
        self.http = requests.Session()

    # --- plumbing
    def request(self, method, path, token=None, json=None, base=None, **kw):
        headers = kw.pop("headers", {})
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        kw.setdefault("timeout", TIMEOUT)
        return self.http.request(
            method, (base or self.base) + path, headers=headers, json=json, **kw
        )

    def client(self, method, path, token=None, json=None, **kw):
        return self.request(method, "/_matrix/client/v3" + path, token, json, **kw)

    def user_id(self, localpart):
        return f"@{localpart}:{self.server_name}"

    # --- accounts and sessions (at mxauth, through nginx)
    def register(self, username=None, password=None, device_name=None):
        username = username or unique("user")
        password = password or secrets.token_urlsafe(16)
        body = {"username": username, "password": password}
        if device_name is not None:
            body["initial_device_display_name"] = device_name
        first = self.client("POST", "/register", json=body)
        assert first.status_code == 401, describe(first)
        challenge = first.json()
        assert any(
            flow.get("stages") == ["m.login.dummy"] for flow in challenge["flows"]
        ), challenge
        body["auth"] = {"type": "m.login.dummy", "session": challenge["session"]}
        done = self.client("POST", "/register", json=body)
        assert done.status_code == 200, describe(done)
        answer = done.json()
        assert answer["user_id"] == self.user_id(username), answer
        return Account(username, password, answer)

    def login(self, username, password, device_name=None, device_id=None):
        body = {
            "type": "m.login.password",
            "identifier": {"type": "m.id.user", "user": username},
            "password": password,
        }
        if device_name is not None:
            body["initial_device_display_name"] = device_name
        if device_id is not None:
            body["device_id"] = device_id
        return self.client("POST", "/login", json=body)

    def login_ok(self, username, password, **kw):
        response = self.login(username, password, **kw)
        assert response.status_code == 200, describe(response)
        return response.json()

    def register_admin(self, username=None, password=None, admin=True):
        username = username or unique("admin")
        password = password or secrets.token_urlsafe(16)
        path = "/_synapse/admin/v1/register"
        nonce = self.request("GET", path)
        assert nonce.status_code == 200, describe(nonce)
        nonce = nonce.json()["nonce"]
        mac = hmac.new(self.shared_secret.encode(), digestmod=hashlib.sha1)
        mac.update(nonce.encode())
        for part in (username, password, "admin" if admin else "notadmin"):
            mac.update(b"\x00")
            mac.update(part.encode())
        body = {
            "nonce": nonce,
            "username": username,
            "password": password,
            "admin": admin,
            "mac": mac.hexdigest(),
        }
        done = self.request("POST", path, json=body)
        assert done.status_code == 200, describe(done)
        return Account(username, password, done.json())

    # --- what Synapse knows (through nginx: these paths are Synapse's)
    def whoami(self, token):
        return self.client("GET", "/account/whoami", token)

    def synapse_devices(self, token):
        response = self.client("GET", "/devices", token)
        assert response.status_code == 200, describe(response)
        return {d["device_id"]: d for d in response.json()["devices"]}


class Account:
    def __init__(self, username, password, answer):
        self.username = username
        self.password = password
        self.user_id = answer["user_id"]
        self.token = answer.get("access_token")
        self.device_id = answer.get("device_id")


def unique(prefix):
    return f"{prefix}-{secrets.token_hex(4)}"


def describe(response):
    """A failed assertion shows what came back and from where."""
    body = response.text
    if len(body) > 600:
        body = body[:600] + "..."
    return f"{response.request.method} {response.url} -> {response.status_code}: {body}"


def errcode(response):
    try:
        return response.json().get("errcode")
    except ValueError:
        return None


def eventually(check, timeout=30.0, interval=0.5, what="condition"):
    """Calls check() until it returns a truthy value; returns that value."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            last = check()
            if last:
                return last
        except AssertionError as e:  # keep the last reason for the report
            last = e
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not reached within {timeout} s; last: {last}")
        time.sleep(interval)


@pytest.fixture(scope="session")
def mx():
    return Matrix()


class SynapseCtl:
    """Stops and starts the test's Synapse (the runner's synapse-ctl script)."""

    def __init__(self):
        self.path = env("E2E_SYNAPSE_CTL")

    def run(self, action, timeout=180):
        return subprocess.run(
            [self.path, action], check=True, timeout=timeout, capture_output=True
        )

    def stop(self):
        self.run("stop")

    def start(self):
        self.run("start")

    def running(self):
        return (
            subprocess.run([self.path, "status"], capture_output=True).returncode == 0
        )


@pytest.fixture
def synapse_ctl():
    ctl = SynapseCtl()
    yield ctl
    # Whatever happened, leave Synapse running for the next test.
    if not ctl.running():
        ctl.start()
