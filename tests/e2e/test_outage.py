"""Synapse down while users log in and register at mxauth.

mxauth must create the user and device in Synapse before it hands out a
token. With Synapse down, a login either fails cleanly (a Matrix error, no
token, within a few seconds) or succeeds with a token Synapse accepts once
it is back. Either way the provisioning queue drains after Synapse returns:
the user can log in, Synapse knows the user and the device, and the device
lists of mxauth and Synapse agree (nothing half-provisioned).
"""

import time

import requests

from conftest import describe, eventually, unique

CLEAN_FAILURE_SECONDS = 12  # mxauth waits ~5 s for the homeserver, then 503


def attempt(mx, method, *args, **kw):
    """One request during the outage: (elapsed seconds, response)."""
    started = time.monotonic()
    try:
        response = method(*args, **kw)
    except requests.exceptions.Timeout:
        raise AssertionError(f"no answer within the client timeout: {args}")
    return time.monotonic() - started, response


def assert_clean(elapsed, response):
    assert elapsed < CLEAN_FAILURE_SECONDS, f"took {elapsed:.1f} s: {describe(response)}"
    if response.status_code == 200:
        return True
    assert 500 <= response.status_code < 600, describe(response)
    body = response.json()  # a Matrix error, not an HTML page from nginx
    assert isinstance(body.get("errcode"), str), describe(response)
    assert "access_token" not in body, describe(response)
    return False


def mxauth_device_ids(mx, token):
    response = mx.request("GET", "/_matrix/client/v3/devices", token, base=mx.mxauth)
    assert response.status_code == 200, describe(response)
    return {d["device_id"] for d in response.json()["devices"]}


def test_login_and_registration_while_synapse_is_down(mx, synapse_ctl):
    known = mx.register()
    assert mx.whoami(known.token).status_code == 200

    synapse_ctl.stop()
    try:
        # A login for a user Synapse already knows (needs upsert_device) ...
        elapsed, login = attempt(
            mx, mx.login, known.username, known.password, device_name="during outage"
        )
        login_ok = assert_clean(elapsed, login)
        # ... and a registration (needs provision_user as well).
        new_name = unique("outage")
        body = {
            "username": new_name,
            "password": known.password,
            "auth": {"type": "m.login.dummy"},
        }
        first = mx.client("POST", "/register", json={k: v for k, v in body.items() if k != "auth"})
        assert first.status_code == 401, describe(first)
        body["auth"]["session"] = first.json()["session"]
        elapsed, registered = attempt(mx, mx.client, "POST", "/register", json=body)
        register_ok = assert_clean(elapsed, registered)
    finally:
        synapse_ctl.start()
    print(f"outage: login -> {login.status_code}, registration -> {registered.status_code}")

    # Tokens handed out during the outage must work now.
    if login_ok:
        token = login.json()["access_token"]
        eventually(
            lambda: mx.whoami(token).status_code == 200,
            timeout=60,
            what="the outage login's token accepted by Synapse",
        )
    if register_ok:
        token = registered.json()["access_token"]
        eventually(
            lambda: mx.whoami(token).status_code == 200,
            timeout=60,
            what="the outage registration's token accepted by Synapse",
        )

    # The queue drains: logging in works again and Synapse knows the device.
    def fresh_login(username):
        response = mx.login(username, known.password)
        assert response.status_code == 200, describe(response)
        return response.json()

    after = eventually(
        lambda: fresh_login(known.username), timeout=90, interval=2, what="login after outage"
    )
    whoami = mx.whoami(after["access_token"])
    assert whoami.status_code == 200, describe(whoami)
    assert whoami.json()["device_id"] == after["device_id"]

    # The user registered during the outage exists in mxauth either way
    # (or registration failed cleanly and the name is still free).
    if register_ok:
        newcomer = fresh_login(new_name)
    else:
        available = mx.client("GET", f"/register/available?username={new_name}")
        print(f"outage: after a failed registration, available -> {available.status_code}")
        if available.status_code == 200:
            newcomer = None  # nothing was created: nothing to check
        else:
            newcomer = eventually(
                lambda: fresh_login(new_name), timeout=90, interval=2,
                what="login of the user registered during the outage",
            )
    if newcomer is not None:
        whoami = mx.whoami(newcomer["access_token"])
        assert whoami.status_code == 200, describe(whoami)
        assert whoami.json()["user_id"] == mx.user_id(new_name)

    # Nothing half-provisioned: Synapse's device list and mxauth's agree.
    def same_devices():
        ours = mxauth_device_ids(mx, after["access_token"])
        theirs = set(mx.synapse_devices(after["access_token"]))
        assert ours == theirs, f"mxauth {sorted(ours)} != Synapse {sorted(theirs)}"
        return True

    eventually(same_devices, timeout=90, interval=2, what="device lists in step")


def test_logout_while_synapse_is_down_reaches_synapse_later(mx, synapse_ctl):
    account = mx.register()
    session = mx.login_ok(account.username, account.password)
    assert mx.whoami(session["access_token"]).status_code == 200

    synapse_ctl.stop()
    try:
        elapsed, logout = attempt(
            mx, mx.client, "POST", "/logout", session["access_token"], json={}
        )
        # Logging out must not depend on Synapse being up.
        assert elapsed < CLEAN_FAILURE_SECONDS, describe(logout)
        assert logout.status_code == 200, describe(logout)
        print(f"outage: logout answered in {elapsed:.2f} s")
    finally:
        synapse_ctl.start()

    eventually(
        lambda: session["device_id"] not in mx.synapse_devices(account.token),
        timeout=90,
        interval=2,
        what="the logged-out device deleted in Synapse after it returned",
    )
    assert mx.whoami(session["access_token"]).status_code == 401
