"""mxauth as Synapse's delegated auth service, through nginx.

Accounts and sessions are made at mxauth (nginx sends /register, /login,
/logout, DELETE /devices/{id}, /_synapse/admin/v1/register there); their
tokens are then used on endpoints Synapse serves (whoami, createRoom,
GET /devices, the admin API), which Synapse checks by asking mxauth's
/oauth2/introspect.
"""

import time

from conftest import describe, errcode, eventually, unique


def test_login_flows_come_from_mxauth(mx):
    # Under delegation Synapse does not register /login at all (login.py):
    # an answer with the password flow means nginx sent it to mxauth.
    response = mx.client("GET", "/login")
    assert response.status_code == 200, describe(response)
    types = [flow["type"] for flow in response.json()["flows"]]
    assert "m.login.password" in types, types


def test_synapse_serves_auth_metadata_from_mxauth_discovery(mx):
    # Synapse answers /auth_metadata from mxauth's
    # /.well-known/openid-configuration (api/auth/mas.py auth_metadata).
    response = mx.request("GET", "/_matrix/client/v1/auth_metadata")
    assert response.status_code == 200, describe(response)
    metadata = response.json()
    assert metadata.get("issuer"), metadata
    assert metadata.get("account_management_uri"), metadata


def test_registered_token_works_at_synapse(mx):
    account = mx.register(device_name="e2e registration device")
    whoami = mx.whoami(account.token)
    assert whoami.status_code == 200, describe(whoami)
    assert whoami.json()["user_id"] == account.user_id
    assert whoami.json()["device_id"] == account.device_id

    room = mx.client("POST", "/createRoom", account.token, json={"name": "e2e"})
    assert room.status_code == 200, describe(room)
    assert room.json()["room_id"].startswith("!")

    devices = mx.synapse_devices(account.token)
    assert account.device_id in devices, devices
    assert devices[account.device_id]["display_name"] == "e2e registration device"


def test_login_token_works_at_synapse(mx):
    account = mx.register()
    session = mx.login_ok(account.username, account.password, device_name="e2e phone")
    assert session["user_id"] == account.user_id

    whoami = mx.whoami(session["access_token"])
    assert whoami.status_code == 200, describe(whoami)
    assert whoami.json()["user_id"] == account.user_id
    assert whoami.json()["device_id"] == session["device_id"]

    room = mx.client("POST", "/createRoom", session["access_token"], json={})
    assert room.status_code == 200, describe(room)

    # GET /devices is Synapse's: both devices, with the display name given
    # at login.
    devices = mx.synapse_devices(session["access_token"])
    assert {account.device_id, session["device_id"]} <= set(devices), devices
    assert devices[session["device_id"]]["display_name"] == "e2e phone"

    # GET /devices/{id} stays with Synapse too (only DELETE goes to mxauth).
    one = mx.client("GET", f"/devices/{session['device_id']}", session["access_token"])
    assert one.status_code == 200, describe(one)
    assert one.json()["display_name"] == "e2e phone"


def test_logout_kills_the_token_in_synapse_at_once(mx):
    account = mx.register()
    session = mx.login_ok(account.username, account.password)
    token = session["access_token"]
    # Synapse has now introspected the token and caches that for 2 minutes.
    assert mx.whoami(token).status_code == 200

    logout = mx.client("POST", "/logout", token, json={})
    assert logout.status_code == 200, describe(logout)
    logged_out = time.monotonic()

    # mxauth deletes the device in Synapse; Synapse checks the device on
    # every request, so the cached introspection does not keep it alive.
    def rejected():
        response = mx.whoami(token)
        if response.status_code == 401 and errcode(response) == "M_UNKNOWN_TOKEN":
            return True
        raise AssertionError(describe(response))

    eventually(rejected, timeout=5, interval=0.2, what="Synapse rejecting the token")
    assert time.monotonic() - logged_out < 5

    # The other device is untouched.
    assert mx.whoami(account.token).status_code == 200
    assert session["device_id"] not in mx.synapse_devices(account.token)


def test_logout_all_kills_every_token_in_synapse(mx):
    account = mx.register()
    other = mx.login_ok(account.username, account.password)
    logout = mx.client("POST", "/logout/all", other["access_token"], json={})
    assert logout.status_code == 200, describe(logout)
    for token in (account.token, other["access_token"]):
        eventually(
            lambda: errcode(mx.whoami(token)) == "M_UNKNOWN_TOKEN",
            timeout=5,
            interval=0.2,
            what="Synapse rejecting the token after logout/all",
        )


def test_device_deleted_with_uia_disappears_from_synapse(mx):
    account = mx.register()
    doomed = mx.login_ok(account.username, account.password, device_name="doomed")
    assert doomed["device_id"] in mx.synapse_devices(account.token)

    path = f"/devices/{doomed['device_id']}"
    first = mx.client("DELETE", path, account.token, json={})
    # 401 with a UIA challenge: mxauth answered (Synapse would say 404).
    assert first.status_code == 401, describe(first)
    challenge = first.json()
    assert any("m.login.password" in f["stages"] for f in challenge["flows"]), challenge
    auth = {
        "type": "m.login.password",
        "identifier": {"type": "m.id.user", "user": account.user_id},
        "password": account.password,
        "session": challenge["session"],
    }
    done = mx.client("DELETE", path, account.token, json={"auth": auth})
    assert done.status_code == 200, describe(done)

    eventually(
        lambda: doomed["device_id"] not in mx.synapse_devices(account.token),
        timeout=5,
        interval=0.2,
        what="the device gone from Synapse's list",
    )
    gone = mx.whoami(doomed["access_token"])
    assert gone.status_code == 401, describe(gone)
    assert errcode(gone) == "M_UNKNOWN_TOKEN", describe(gone)


def test_delete_devices_removes_them_from_synapse(mx):
    account = mx.register()
    a = mx.login_ok(account.username, account.password)
    b = mx.login_ok(account.username, account.password)
    body = {"devices": [a["device_id"], b["device_id"]]}
    first = mx.client("POST", "/delete_devices", account.token, json=body)
    assert first.status_code == 401, describe(first)
    body["auth"] = {
        "type": "m.login.password",
        "identifier": {"type": "m.id.user", "user": account.username},
        "password": account.password,
        "session": first.json()["session"],
    }
    done = mx.client("POST", "/delete_devices", account.token, json=body)
    assert done.status_code == 200, describe(done)
    eventually(
        lambda: not {a["device_id"], b["device_id"]} & set(mx.synapse_devices(account.token)),
        timeout=5,
        interval=0.2,
        what="both devices gone from Synapse's list",
    )


def test_admin_token_can_use_synapse_admin_api(mx):
    admin = mx.register_admin()
    assert admin.user_id == mx.user_id(admin.username)
    target = mx.register()

    # Synapse learns admin status only from the introspection scope
    # (urn:synapse:admin:*).
    path = f"/_synapse/admin/v2/users/{target.user_id}"
    ok = mx.request("GET", path, admin.token)
    assert ok.status_code == 200, describe(ok)
    assert ok.json()["name"] == target.user_id
    assert ok.json()["admin"] is False

    me = mx.request("GET", f"/_synapse/admin/v2/users/{admin.user_id}", admin.token)
    assert me.status_code == 200, describe(me)

    denied = mx.request("GET", path, target.token)
    assert denied.status_code == 403, describe(denied)
    assert errcode(denied) == "M_FORBIDDEN", describe(denied)


def test_non_admin_shared_secret_user_works_at_synapse(mx):
    user = mx.register_admin(username=unique("plain"), admin=False)
    whoami = mx.whoami(user.token)
    assert whoami.status_code == 200, describe(whoami)
    assert whoami.json()["user_id"] == user.user_id
    denied = mx.request("GET", f"/_synapse/admin/v2/users/{user.user_id}", user.token)
    assert denied.status_code == 403, describe(denied)


def test_bad_token_is_unknown_to_synapse(mx):
    for token in ("syt_not_a_real_token", "mxa_" + "0" * 40, "garbage"):
        response = mx.whoami(token)
        assert response.status_code == 401, describe(response)
        assert errcode(response) == "M_UNKNOWN_TOKEN", describe(response)


def test_missing_token_at_synapse(mx):
    response = mx.whoami(None)
    assert response.status_code == 401, describe(response)
    assert errcode(response) == "M_MISSING_TOKEN", describe(response)


def test_password_change_keeps_this_device_and_logs_out_others(mx):
    account = mx.register()
    other = mx.login_ok(account.username, account.password)
    new_password = account.password + "-new"
    body = {"new_password": new_password, "logout_devices": True}
    first = mx.client("POST", "/account/password", account.token, json=body)
    assert first.status_code == 401, describe(first)
    body["auth"] = {
        "type": "m.login.password",
        "identifier": {"type": "m.id.user", "user": account.username},
        "password": account.password,
        "session": first.json()["session"],
    }
    done = mx.client("POST", "/account/password", account.token, json=body)
    assert done.status_code == 200, describe(done)
    assert mx.whoami(account.token).status_code == 200
    eventually(
        lambda: errcode(mx.whoami(other["access_token"])) == "M_UNKNOWN_TOKEN",
        timeout=5,
        interval=0.2,
        what="the other device's token rejected by Synapse",
    )
    mx.login_ok(account.username, new_password)


def test_deactivation_removes_the_user_from_synapse(mx):
    account = mx.register()
    assert mx.whoami(account.token).status_code == 200
    body = {}
    first = mx.client("POST", "/account/deactivate", account.token, json=body)
    assert first.status_code == 401, describe(first)
    body["auth"] = {
        "type": "m.login.password",
        "identifier": {"type": "m.id.user", "user": account.username},
        "password": account.password,
        "session": first.json()["session"],
    }
    done = mx.client("POST", "/account/deactivate", account.token, json=body)
    assert done.status_code == 200, describe(done)
    eventually(
        lambda: mx.whoami(account.token).status_code == 401,
        timeout=5,
        interval=0.2,
        what="Synapse rejecting the deactivated user's token",
    )
    admin = mx.register_admin()
    user = mx.request("GET", f"/_synapse/admin/v2/users/{account.user_id}", admin.token)
    assert user.status_code == 200, describe(user)
    assert user.json()["deactivated"] is True, user.json()


def test_routing_of_device_paths(mx):
    # Synapse keeps GET/PUT /devices/{id}: a display-name change there is
    # Synapse's own (it is not an auth operation under delegation).
    account = mx.register()
    path = f"/devices/{account.device_id}"
    put = mx.client("PUT", path, account.token, json={"display_name": "renamed"})
    assert put.status_code == 200, describe(put)
    assert mx.synapse_devices(account.token)[account.device_id]["display_name"] == "renamed"


def test_synapse_provisioning_api_is_not_public(mx):
    response = mx.request("POST", "/_synapse/mas/query_user", json={})
    assert response.status_code == 404, describe(response)
