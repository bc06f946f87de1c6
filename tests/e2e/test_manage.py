"""The admin's command line (`mxauth manage ...`) under delegation.

An admin runs the commands on mxauth's config (its database) while
mxauth and Synapse serve; what Synapse must hear of reaches it through the
homeserver queue, so the user's tokens stop working at Synapse too.
"""

import subprocess

from conftest import describe, env, errcode, eventually


def manage(*args, stdin=""):
    """Runs `mxauth manage <args>` on the e2e config: the completed process."""
    command = [env("E2E_MXAUTH_BIN"), "manage", args[0], "-c", env("E2E_MXAUTH_CONFIG"), *args[1:]]
    done = subprocess.run(command, input=stdin, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, (command, done.stdout, done.stderr)
    return done


def rejected_at_synapse(mx, token, what):
    eventually(
        lambda: mx.whoami(token).status_code == 401
        and errcode(mx.whoami(token)) == "M_UNKNOWN_TOKEN",
        timeout=10,
        interval=0.2,
        what=what,
    )


def test_set_password_logs_the_devices_out_at_synapse(mx):
    account = mx.register()
    other = mx.login_ok(account.username, account.password)
    assert mx.whoami(other["access_token"]).status_code == 200
    manage("set-password", account.username, stdin="a-new-password-1\n")
    for token in (account.token, other["access_token"]):
        rejected_at_synapse(mx, token, "Synapse rejecting a token after set-password")
    fresh = mx.login_ok(account.username, "a-new-password-1")
    room = mx.client("POST", "/createRoom", fresh["access_token"], json={})
    assert room.status_code == 200, describe(room)


def test_kill_sessions_and_deactivate_reach_synapse(mx):
    account = mx.register()
    manage("kill-sessions", account.username)
    rejected_at_synapse(mx, account.token, "Synapse rejecting the token after kill-sessions")

    session = mx.login_ok(account.username, account.password)
    assert mx.whoami(session["access_token"]).status_code == 200
    manage("deactivate-user", account.username)
    rejected_at_synapse(mx, session["access_token"], "Synapse rejecting the token after deactivate-user")
    login = mx.client(
        "POST",
        "/login",
        json={"type": "m.login.password", "user": account.username, "password": account.password},
    )
    assert login.status_code == 403, describe(login)


def test_an_issued_access_token_works_at_synapse(mx):
    account = mx.register()
    done = manage("issue-access-token", account.username, "--device-id", "E2EBOTDEVICE")
    token = done.stdout.strip()
    whoami = mx.whoami(token)
    assert whoami.status_code == 200, describe(whoami)
    assert whoami.json()["device_id"] == "E2EBOTDEVICE", whoami.json()
    assert "E2EBOTDEVICE" in mx.synapse_devices(account.token)
    room = mx.client("POST", "/createRoom", token, json={})
    assert room.status_code == 200, describe(room)
