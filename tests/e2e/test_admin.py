"""Synapse's user admin API under delegation, with the real Synapse.

nginx sends the user admin API that works on accounts (GET/PUT v2
users/{user}, the v2 and v3 user lists, deactivate, reset_password,
users/{user}/admin) to mxauth, which tells Synapse what it must know
through its queue of homeserver calls (`provision_user` with the profile,
the emails and the lock; `delete_user` with `erase`; `reactivate_user`;
`delete_device` for the sessions ended). Suspension stays Synapse's (it
enforces it) and nginx mirrors the request to mxauth.

What reaches Synapse is checked where Synapse shows it: its client API
through nginx (profile, sync, createRoom, send) and, to read its own
records, its admin API `GET /_synapse/admin/v2/users/{user}` on its own
listener (E2E_SYNAPSE_URL; nginx sends that path to mxauth).

Synapse caches each introspection answer for 2 minutes
(api/auth/mas.py `_introspection_cache`), and under delegation it checks
neither the lock nor the admin flag itself: it knows them only from
mxauth's introspection (`active`, the `urn:synapse:admin:*` scope). Only
a deleted device drops a cached answer at once. So a lock or a change of
the admin flag reaches a token Synapse has cached within those 2 minutes,
and a token it has not seen yet at once; the tests below bound the wait
from the moment Synapse last asked mxauth about the token.
"""

import secrets
import time

import pytest

from conftest import describe, errcode, eventually, unique

ADMIN = "/_synapse/admin"
# Synapse's introspection cache (api/auth/mas.py: Duration(minutes=2)),
# counted from when its answer came back, and some slack.
INTROSPECTION_CACHE_S = 120
SLACK_S = 15


def user_path(user_id):
    return f"{ADMIN}/v2/users/{user_id}"


class Admin:
    """An admin (shared-secret registration at mxauth) using the admin API
    through nginx, and Synapse's own records on Synapse's listener."""

    def __init__(self, mx):
        self.mx = mx
        self.account = mx.register_admin()
        self.token = self.account.token

    def call(self, method, path, json=None, **kw):
        return self.mx.request(method, path, self.token, json=json, **kw)

    def put_user(self, user_id, body):
        return self.call("PUT", user_path(user_id), body)

    def get_user(self, user_id):
        response = self.call("GET", user_path(user_id))
        assert response.status_code == 200, describe(response)
        return response.json()

    def create_user(self, localpart=None, password=None, **fields):
        localpart = localpart or unique("made")
        password = password or secrets.token_urlsafe(16)
        user_id = self.mx.user_id(localpart)
        response = self.put_user(user_id, {"password": password, **fields})
        assert response.status_code == 201, describe(response)
        return localpart, password, user_id

    def synapse_user(self, user_id):
        """Synapse's own record of the user (its admin API, directly)."""
        response = self.mx.request("GET", user_path(user_id), self.token, base=self.mx.synapse)
        assert response.status_code == 200, describe(response)
        return response.json()


@pytest.fixture(scope="module")
def admin(mx):
    return Admin(mx)


def used_at_synapse(mx, token):
    """Presents the token to Synapse (which introspects and caches the
    answer); returns when that happened (time.monotonic())."""
    whoami = mx.whoami(token)
    assert whoami.status_code == 200, describe(whoami)
    return time.monotonic()


def rejected(mx, token):
    response = mx.client("GET", "/sync?timeout=0", token)
    return response.status_code == 401 and errcode(response) == "M_UNKNOWN_TOKEN"


def works(mx, token):
    response = mx.client("GET", "/sync?timeout=0", token)
    return response.status_code == 200


def until(deadline):
    """Seconds left to a time.monotonic() deadline, at least one."""
    return max(1.0, deadline - time.monotonic())


def profile(mx, user_id, token):
    return mx.client("GET", f"/profile/{user_id}", token)


# --- creation and profile -----------------------------------------------------


def test_a_user_created_by_an_admin_exists_at_synapse(mx, admin):
    localpart = unique("made")
    email = f"{localpart}@example.org"
    localpart, password, user_id = admin.create_user(
        localpart,
        displayname="Made By An Admin",
        threepids=[{"medium": "email", "address": email}],
    )
    made = admin.get_user(user_id)
    assert made["name"] == user_id, made
    assert made["displayname"] == "Made By An Admin", made
    assert [t["address"] for t in made["threepids"]] == [email], made

    # The provision reached Synapse: its profile and its threepids.
    theirs = admin.synapse_user(user_id)
    assert theirs["displayname"] == "Made By An Admin", theirs
    assert [(t["medium"], t["address"]) for t in theirs["threepids"]] == [("email", email)], theirs

    session = mx.login_ok(localpart, password)
    token = session["access_token"]
    room = mx.client("POST", "/createRoom", token, json={"name": "made by an admin"})
    assert room.status_code == 200, describe(room)
    shown = profile(mx, user_id, token)
    assert shown.status_code == 200, describe(shown)
    assert shown.json().get("displayname") == "Made By An Admin", shown.json()


def test_profile_changes_reach_synapse(mx, admin):
    localpart, password, user_id = admin.create_user(displayname="Before")
    token = mx.login_ok(localpart, password)["access_token"]

    changed = admin.put_user(
        user_id, {"displayname": "After", "avatar_url": "mxc://e2e.test/avatarAfter"}
    )
    assert changed.status_code == 200, describe(changed)
    assert changed.json()["displayname"] == "After", changed.json()
    shown = profile(mx, user_id, token)
    assert shown.status_code == 200, describe(shown)
    assert shown.json() == {"displayname": "After", "avatar_url": "mxc://e2e.test/avatarAfter"}, (
        shown.json()
    )

    # An empty string removes each: unset_displayname / unset_avatar_url.
    cleared = admin.put_user(user_id, {"displayname": "", "avatar_url": ""})
    assert cleared.status_code == 200, describe(cleared)
    theirs = admin.synapse_user(user_id)
    assert theirs["displayname"] is None and theirs["avatar_url"] is None, theirs

    # The addresses are replaced as a whole (set_emails), canonical.
    emails = admin.put_user(
        user_id,
        {"threepids": [{"medium": "email", "address": f"{localpart}@Example.ORG"}]},
    )
    assert emails.status_code == 200, describe(emails)
    theirs = admin.synapse_user(user_id)
    assert [t["address"] for t in theirs["threepids"]] == [f"{localpart}@example.org"], theirs


# --- lock ----------------------------------------------------------------------


def test_a_locked_user_is_refused_by_synapse_and_an_unlocked_one_is_back(mx, admin):
    localpart, password, user_id = admin.create_user()
    cached = mx.login_ok(localpart, password)["access_token"]
    unseen = mx.login_ok(localpart, password)["access_token"]
    later = mx.login_ok(localpart, password)["access_token"]
    cached_at = used_at_synapse(mx, cached)

    locked = admin.put_user(user_id, {"locked": True})
    assert locked.status_code == 200, describe(locked)
    assert locked.json()["locked"] is True, locked.json()
    # provision_user {locked: true} reached Synapse (it uses it for the
    # user directory; it does not refuse requests on it under delegation).
    assert admin.synapse_user(user_id)["locked"] is True

    # A token Synapse has not cached: refused at once (mxauth's
    # introspection answers inactive), by every endpoint.
    sync = mx.client("GET", "/sync?timeout=0", unseen)
    assert sync.status_code == 401 and errcode(sync) == "M_UNKNOWN_TOKEN", describe(sync)
    refused_at = time.monotonic()
    room = mx.client("POST", "/createRoom", unseen, json={})
    assert room.status_code == 401 and errcode(room) == "M_UNKNOWN_TOKEN", describe(room)
    # The login is refused too (at mxauth).
    login = mx.login(localpart, password)
    assert login.status_code == 401 and errcode(login) == "M_USER_LOCKED", describe(login)

    # A token Synapse introspected before the lock: refused once that
    # answer leaves Synapse's cache, at most 2 minutes after it was asked.
    eventually(
        lambda: rejected(mx, cached),
        timeout=until(cached_at + INTROSPECTION_CACHE_S + SLACK_S),
        interval=2,
        what="Synapse refusing the locked user's cached token",
    )

    unlocked = admin.put_user(user_id, {"locked": False})
    assert unlocked.status_code == 200, describe(unlocked)
    assert admin.synapse_user(user_id)["locked"] is False
    # A token from before the lock that Synapse did not see meanwhile
    # works again at once: the lock ended no session.
    assert works(mx, later)
    room = mx.client("POST", "/createRoom", later, json={})
    assert room.status_code == 200, describe(room)
    # The token refused while locked: back once Synapse forgets that answer.
    eventually(
        lambda: works(mx, unseen),
        timeout=until(refused_at + INTROSPECTION_CACHE_S + SLACK_S),
        interval=2,
        what="Synapse taking the unlocked user's token again",
    )


# --- deactivation and reactivation -------------------------------------------


def test_deactivation_with_erase_reaches_synapse(mx, admin):
    localpart, password, user_id = admin.create_user(
        displayname="To Be Erased", avatar_url="mxc://e2e.test/erased"
    )
    token = mx.login_ok(localpart, password)["access_token"]
    used_at_synapse(mx, token)
    room = mx.client("POST", "/createRoom", token, json={})
    assert room.status_code == 200, describe(room)

    done = admin.call("POST", f"{ADMIN}/v1/deactivate/{user_id}", {"erase": True})
    assert done.status_code == 200, describe(done)
    assert done.json() == {"id_server_unbind_result": "success"}, done.json()

    # delete_user deleted the devices in Synapse: the cached token dies.
    eventually(
        lambda: rejected(mx, token),
        timeout=10,
        interval=0.2,
        what="Synapse refusing the deactivated user's token",
    )
    login = mx.login(localpart, password)
    assert login.status_code == 403 and errcode(login) == "M_USER_DEACTIVATED", describe(login)

    ours = admin.get_user(user_id)
    assert ours["deactivated"] is True and ours["erased"] is True, ours
    theirs = admin.synapse_user(user_id)
    assert theirs["deactivated"] is True, theirs
    assert theirs["erased"] is True, theirs
    assert theirs["displayname"] is None and theirs["avatar_url"] is None, theirs
    shown = profile(mx, user_id, admin.token)
    assert shown.status_code == 404, describe(shown)


def test_reactivation_reaches_synapse(mx, admin):
    localpart, password, user_id = admin.create_user(displayname="Comes Back")
    token = mx.login_ok(localpart, password)["access_token"]
    used_at_synapse(mx, token)

    done = admin.call("POST", f"{ADMIN}/v1/deactivate/{user_id}", {})
    assert done.status_code == 200, describe(done)
    eventually(lambda: rejected(mx, token), timeout=10, interval=0.2, what="token refused")
    theirs = admin.synapse_user(user_id)
    assert theirs["deactivated"] is True and theirs["erased"] is False, theirs

    back = admin.put_user(user_id, {"deactivated": False, "password": "back-again-1"})
    assert back.status_code == 200, describe(back)
    assert back.json()["deactivated"] is False, back.json()
    assert admin.synapse_user(user_id)["deactivated"] is False

    # The old password went with the deactivation; the new one works.
    old = mx.login(localpart, password)
    assert old.status_code == 403, describe(old)
    fresh = mx.login_ok(localpart, "back-again-1")["access_token"]
    room = mx.client("POST", "/createRoom", fresh, json={})
    assert room.status_code == 200, describe(room)
    assert works(mx, fresh)
    # The session ended by the deactivation stays ended.
    assert rejected(mx, token)


def test_an_erased_user_reactivated_with_a_new_name_is_back_at_synapse(mx, admin):
    localpart, password, user_id = admin.create_user(displayname="Erased Once")
    done = admin.call("POST", f"{ADMIN}/v1/deactivate/{user_id}", {"erase": True})
    assert done.status_code == 200, describe(done)
    assert admin.synapse_user(user_id)["erased"] is True

    back = admin.put_user(
        user_id, {"deactivated": False, "password": "back-again-2", "displayname": "Back"}
    )
    assert back.status_code == 200, describe(back)
    assert back.json()["erased"] is False and back.json()["displayname"] == "Back", back.json()
    # Synapse deleted the profile on erasure: the provision sets the new
    # name, reactivate_user marks the user active and not erased.
    theirs = admin.synapse_user(user_id)
    assert theirs["deactivated"] is False and theirs["erased"] is False, theirs
    assert theirs["displayname"] == "Back", theirs
    token = mx.login_ok(localpart, "back-again-2")["access_token"]
    shown = profile(mx, user_id, token)
    assert shown.status_code == 200 and shown.json() == {"displayname": "Back"}, describe(shown)


def test_a_user_created_deactivated_is_deactivated_at_synapse(mx, admin):
    localpart = unique("stillborn")
    user_id = mx.user_id(localpart)
    made = admin.put_user(
        user_id, {"password": "never-used-1", "displayname": "Never", "deactivated": True}
    )
    assert made.status_code == 201, describe(made)
    assert made.json()["deactivated"] is True, made.json()
    # Made there first, then deactivated (a delete_user before the
    # provision found no one and left Synapse an active user).
    theirs = admin.synapse_user(user_id)
    assert theirs["deactivated"] is True, theirs
    login = mx.login(localpart, "never-used-1")
    assert login.status_code == 403 and errcode(login) == "M_USER_DEACTIVATED", describe(login)


# --- password reset ----------------------------------------------------------


def test_a_password_reset_logs_the_devices_out_at_synapse(mx, admin):
    account = mx.register()
    other = mx.login_ok(account.username, account.password)["access_token"]
    for token in (account.token, other):
        used_at_synapse(mx, token)

    reset = admin.call(
        "POST", f"{ADMIN}/v1/reset_password/{account.user_id}", {"new_password": "reset-pw-1"}
    )
    assert reset.status_code == 200, describe(reset)
    assert reset.json() == {}, reset.json()
    # delete_device for each: Synapse refuses the cached tokens at once.
    for token in (account.token, other):
        eventually(
            lambda: rejected(mx, token),
            timeout=10,
            interval=0.2,
            what="Synapse refusing a token after the password reset",
        )
    assert mx.login(account.username, account.password).status_code == 403
    kept = mx.login_ok(account.username, "reset-pw-1")
    kept_token, kept_device = kept["access_token"], kept["device_id"]
    used_at_synapse(mx, kept_token)
    unseen = mx.login_ok(account.username, "reset-pw-1")["access_token"]

    reset = admin.call(
        "POST",
        f"{ADMIN}/v1/reset_password/{account.user_id}",
        {"new_password": "reset-pw-2", "logout_devices": False},
    )
    assert reset.status_code == 200, describe(reset)
    # Nothing ended: the device is still at Synapse, and a token Synapse
    # had not cached is still active at mxauth.
    assert works(mx, unseen)
    assert works(mx, kept_token)
    assert kept_device in mx.synapse_devices(kept_token)
    assert mx.login(account.username, "reset-pw-1").status_code == 403
    mx.login_ok(account.username, "reset-pw-2")


# --- admin flag ----------------------------------------------------------------


def admin_only_at_synapse(mx, token, user_id):
    """An admin-only endpoint nginx sends to Synapse."""
    return mx.request("GET", f"{ADMIN}/v1/users/{user_id}/joined_rooms", token)


def test_promotion_and_demotion_reach_synapse_through_introspection(mx, admin):
    localpart, password, user_id = admin.create_user()
    before = mx.login_ok(localpart, password)["access_token"]
    refused = admin_only_at_synapse(mx, before, user_id)
    assert refused.status_code == 403 and errcode(refused) == "M_FORBIDDEN", describe(refused)
    before_at = time.monotonic()

    promoted = admin.call("PUT", f"{ADMIN}/v1/users/{user_id}/admin", {"admin": True})
    assert promoted.status_code == 200, describe(promoted)
    assert promoted.json() == {}, promoted.json()
    shown = admin.call("GET", f"{ADMIN}/v1/users/{user_id}/admin")
    assert shown.json() == {"admin": True}, describe(shown)
    # A token Synapse has not seen carries the admin scope at once.
    promoted_token = mx.login_ok(localpart, password)["access_token"]
    allowed = admin_only_at_synapse(mx, promoted_token, user_id)
    assert allowed.status_code == 200, describe(allowed)
    promoted_at = time.monotonic()
    # mxauth's own admin API (it reads the flag on each request).
    assert mx.request("GET", user_path(user_id), promoted_token).status_code == 200
    # The token Synapse cached as no admin's: once the answer expires.
    eventually(
        lambda: admin_only_at_synapse(mx, before, user_id).status_code == 200,
        timeout=until(before_at + INTROSPECTION_CACHE_S + SLACK_S),
        interval=2,
        what="Synapse taking the promoted user's cached token on its admin API",
    )

    demoted = admin.call("PUT", f"{ADMIN}/v1/users/{user_id}/admin", {"admin": False})
    assert demoted.status_code == 200, describe(demoted)
    # At once: a new token at Synapse, and mxauth's admin API with any.
    after = mx.login_ok(localpart, password)["access_token"]
    refused = admin_only_at_synapse(mx, after, user_id)
    assert refused.status_code == 403 and errcode(refused) == "M_FORBIDDEN", describe(refused)
    ours = mx.request("GET", user_path(user_id), promoted_token)
    assert ours.status_code == 403 and errcode(ours) == "M_FORBIDDEN", describe(ours)
    # A token Synapse cached as an admin's: once that answer expires.
    eventually(
        lambda: admin_only_at_synapse(mx, promoted_token, user_id).status_code == 403,
        timeout=until(promoted_at + INTROSPECTION_CACHE_S + SLACK_S),
        interval=2,
        what="Synapse refusing the demoted user's cached token on its admin API",
    )


# --- suspension ----------------------------------------------------------------


def send_message(mx, token, room_id):
    txn = secrets.token_hex(8)
    return mx.client(
        "PUT",
        f"/rooms/{room_id}/send/m.room.message/{txn}",
        token,
        json={"msgtype": "m.text", "body": "hello"},
    )


def test_suspension_is_synapses_and_mirrored_to_mxauth(mx, admin):
    account = mx.register()
    room = mx.client("POST", "/createRoom", account.token, json={})
    assert room.status_code == 200, describe(room)
    room_id = room.json()["room_id"]
    sent = send_message(mx, account.token, room_id)
    assert sent.status_code == 200, describe(sent)

    path = f"{ADMIN}/v1/suspend/{account.user_id}"
    suspended = admin.call("PUT", path, {"suspend": True})
    assert suspended.status_code == 200, describe(suspended)
    assert suspended.json() == {f"user_{account.user_id}_suspended": True}
    refused = send_message(mx, account.token, room_id)
    assert refused.status_code == 403 and errcode(refused) == "M_USER_SUSPENDED", describe(refused)
    assert admin.synapse_user(account.user_id)["suspended"] is True
    # The mirror: mxauth's record shows it too.
    eventually(
        lambda: admin.get_user(account.user_id)["suspended"] is True,
        timeout=10,
        interval=0.2,
        what="mxauth showing the suspension",
    )

    lifted = admin.call("PUT", path, {"suspend": False})
    assert lifted.status_code == 200, describe(lifted)
    sent = send_message(mx, account.token, room_id)
    assert sent.status_code == 200, describe(sent)
    eventually(
        lambda: admin.get_user(account.user_id)["suspended"] is False,
        timeout=10,
        interval=0.2,
        what="mxauth showing the suspension lifted",
    )


# --- lists ---------------------------------------------------------------------


def test_the_user_lists_come_from_mxauth(mx, admin):
    prefix = unique("listed")
    names = []
    for i in range(3):
        _, _, user_id = admin.create_user(f"{prefix}-{i}", displayname=f"Listed {i}")
        names.append(user_id)
    done = admin.call("POST", f"{ADMIN}/v1/deactivate/{names[2]}", {})
    assert done.status_code == 200, describe(done)

    # Under delegation Synapse refuses a list with guests (the default).
    theirs = mx.request("GET", f"{ADMIN}/v2/users", admin.token, base=mx.synapse)
    assert theirs.status_code == 400, describe(theirs)

    v2 = admin.call("GET", f"{ADMIN}/v2/users", params={"name": prefix})
    assert v2.status_code == 200, describe(v2)
    assert [u["name"] for u in v2.json()["users"]] == names[:2], v2.json()
    assert v2.json()["total"] == 2, v2.json()
    assert [u["displayname"] for u in v2.json()["users"]] == ["Listed 0", "Listed 1"]

    every = admin.call("GET", f"{ADMIN}/v2/users", params={"name": prefix, "deactivated": "true"})
    assert [u["name"] for u in every.json()["users"]] == names, every.json()

    v3 = admin.call("GET", f"{ADMIN}/v3/users", params={"name": prefix, "deactivated": "true"})
    assert v3.status_code == 200, describe(v3)
    assert [u["name"] for u in v3.json()["users"]] == names[2:], v3.json()

    page = admin.call("GET", f"{ADMIN}/v2/users", params={"name": prefix, "limit": "1"})
    assert [u["name"] for u in page.json()["users"]] == names[:1], page.json()
    rest = admin.call(
        "GET",
        f"{ADMIN}/v2/users",
        params={"name": prefix, "limit": "1", "from": page.json()["next_token"]},
    )
    assert [u["name"] for u in rest.json()["users"]] == names[1:2], rest.json()

    # A user registered at mxauth is listed too; a normal user may not list.
    account = mx.register()
    found = admin.call("GET", f"{ADMIN}/v3/users", params={"user_id": account.user_id})
    assert [u["name"] for u in found.json()["users"]] == [account.user_id], found.json()
    forbidden = mx.request("GET", f"{ADMIN}/v2/users", account.token)
    assert forbidden.status_code == 403 and errcode(forbidden) == "M_FORBIDDEN", describe(forbidden)


# --- devices, sessions and look-ups ----------------------------------------------


def synapse_admin_devices(admin, user_id):
    """Synapse's own device list of the user (its admin API, directly)."""
    response = admin.mx.request(
        "GET", f"{user_path(user_id)}/devices", admin.token, base=admin.mx.synapse
    )
    assert response.status_code == 200, describe(response)
    return {d["device_id"]: d for d in response.json()["devices"]}


def test_admin_device_changes_reach_synapse(mx, admin):
    account = mx.register()
    second = mx.login_ok(account.username, account.password)
    third = mx.login_ok(account.username, account.password)
    for token in (account.token, second["access_token"], third["access_token"]):
        used_at_synapse(mx, token)
    devices = f"{user_path(account.user_id)}/devices"

    # The list through nginx is mxauth's: every session's device.
    listed = admin.call("GET", devices)
    assert listed.status_code == 200, describe(listed)
    ids = {d["device_id"] for d in listed.json()["devices"]}
    assert {account.device_id, second["device_id"], third["device_id"]} <= ids, listed.json()

    # One deleted: its token is refused by Synapse at once, the device gone there.
    gone = admin.call("DELETE", f"{devices}/{second['device_id']}")
    assert gone.status_code == 200, describe(gone)
    eventually(
        lambda: rejected(mx, second["access_token"]),
        timeout=10,
        interval=0.2,
        what="Synapse refusing a device's token after the admin deleted it",
    )
    assert second["device_id"] not in synapse_admin_devices(admin, account.user_id)
    assert works(mx, account.token)

    # delete_devices: the list of IDs, and a string is refused (Synapse
    # itself would delete its characters as devices).
    refused = admin.call(
        "POST", f"{user_path(account.user_id)}/delete_devices", {"devices": third["device_id"]}
    )
    assert refused.status_code == 400 and errcode(refused) == "M_BAD_JSON", describe(refused)
    assert works(mx, third["access_token"])
    done = admin.call(
        "POST", f"{user_path(account.user_id)}/delete_devices", {"devices": [third["device_id"]]}
    )
    assert done.status_code == 200, describe(done)
    eventually(
        lambda: rejected(mx, third["access_token"]),
        timeout=10,
        interval=0.2,
        what="Synapse refusing a token after delete_devices",
    )

    # A device made by the admin exists at Synapse; a rename reaches it.
    made = admin.call("POST", devices, {"device_id": "ADMINMADE"})
    assert made.status_code == 201, describe(made)
    eventually(
        lambda: "ADMINMADE" in synapse_admin_devices(admin, account.user_id),
        timeout=10,
        interval=0.2,
        what="the admin's device at Synapse",
    )
    renamed = admin.call(
        "PUT", f"{devices}/{account.device_id}", {"display_name": "Renamed by the admin"}
    )
    assert renamed.status_code == 200, describe(renamed)
    eventually(
        lambda: mx.synapse_devices(account.token)[account.device_id].get("display_name")
        == "Renamed by the admin",
        timeout=10,
        interval=0.2,
        what="the new device name at Synapse",
    )


def test_a_session_ended_by_an_admin_ends_at_synapse(mx, admin):
    account = mx.register()
    other = mx.login_ok(account.username, account.password)
    used_at_synapse(mx, other["access_token"])
    sessions = f"/_mxauth/admin/v1/users/{account.user_id}/sessions"
    listed = admin.call("GET", sessions)
    assert listed.status_code == 200, describe(listed)
    by_id = {s["session_id"]: s for s in listed.json()["sessions"]}
    assert {account.device_id, other["device_id"]} <= set(by_id), listed.json()
    assert by_id[other["device_id"]]["kind"] == "legacy", by_id
    ended = admin.call("DELETE", f"{sessions}/{other['device_id']}")
    assert ended.status_code == 200, describe(ended)
    eventually(
        lambda: rejected(mx, other["access_token"]),
        timeout=10,
        interval=0.2,
        what="Synapse refusing the ended session's token",
    )
    assert works(mx, account.token)
    user = mx.register()
    refused = mx.request("GET", sessions, user.token)
    assert refused.status_code == 403 and errcode(refused) == "M_FORBIDDEN", describe(refused)


def test_look_ups_answer_from_mxauth(mx, admin):
    localpart = unique("looked")
    email = f"{localpart}@example.org"
    subject = secrets.token_hex(8)
    localpart, _, user_id = admin.create_user(
        localpart,
        threepids=[{"medium": "email", "address": email}],
        external_ids=[{"auth_provider": "oidc-elsewhere", "external_id": subject}],
    )
    found = admin.call("GET", f"{ADMIN}/v1/threepid/email/users/{email}")
    assert found.status_code == 200 and found.json() == {"user_id": user_id}, describe(found)
    found = admin.call("GET", f"{ADMIN}/v1/auth_providers/oidc-elsewhere/users/{subject}")
    assert found.status_code == 200 and found.json() == {"user_id": user_id}, describe(found)
    taken = admin.call("GET", f"{ADMIN}/v1/username_available?username={localpart}")
    assert taken.status_code == 400 and errcode(taken) == "M_USER_IN_USE", describe(taken)
    free = admin.call("GET", f"{ADMIN}/v1/username_available?username={unique('free')}")
    assert free.status_code == 200 and free.json() == {"available": True}, describe(free)
