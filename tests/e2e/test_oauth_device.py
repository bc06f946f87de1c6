"""The device authorization grant (RFC 8628) under Synapse delegation.

A device without a browser (a TV, a CLI) finds the device authorization
endpoint in Synapse's `auth_metadata`, asks mxauth for codes through nginx
and polls the token endpoint, while the user's browser elsewhere follows
`verification_uri_complete` (`/link`, routed to mxauth by nginx), logs in
and approves or declines. The token then works at Synapse.
"""

import time
from urllib.parse import urljoin

import pytest

from conftest import TIMEOUT, describe
from test_oauth import Browser, device_scope, discover, forms_of, new_device_id

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"


def register_device_client(mx, metadata):
    """A public native client of the device grant alone (no redirect URI)."""
    response = mx.request(
        "POST",
        "",
        base=metadata["registration_endpoint"],
        json={
            "client_name": "E2E TV",
            "client_uri": "https://tv.e2e.test/",
            "application_type": "native",
            "token_endpoint_auth_method": "none",
            "grant_types": [DEVICE_GRANT, "refresh_token"],
        },
    )
    assert response.status_code == 201, describe(response)
    return response.json()["client_id"]


def start(mx, metadata, client_id, device_id):
    response = mx.http.post(
        metadata["device_authorization_endpoint"],
        data={"client_id": client_id, "scope": device_scope(device_id)},
        timeout=TIMEOUT,
    )
    assert response.status_code == 200, describe(response)
    codes = response.json()
    for field in ("device_code", "user_code", "verification_uri",
                  "verification_uri_complete", "expires_in", "interval"):
        assert field in codes, (field, codes)
    return codes


def poll(mx, metadata, client_id, codes):
    return mx.http.post(
        metadata["token_endpoint"],
        data={
            "grant_type": DEVICE_GRANT,
            "device_code": codes["device_code"],
            "client_id": client_id,
        },
        timeout=TIMEOUT,
    )


def verify(mx, link, account, action):
    """The user's browser from the link through the code form, the login
    and the consent page (answered `action`): the last page."""
    browser = Browser(mx)
    response = browser.go(link)
    for _ in range(8):
        if response.is_redirect:
            target = urljoin(response.url, response.headers["Location"])
            assert target.startswith(mx.base + "/"), target
            response = browser.go(target)
            continue
        assert response.status_code == 200, describe(response)
        forms = forms_of(response.text)
        if not forms:
            return response
        form = next(
            (f for f in forms if f["inputs"].get("action") == action), forms[0]
        )
        fields = dict(form["inputs"])
        if "password" in fields:
            fields["username"] = account.username
            fields["password"] = account.password
        response = browser.go(urljoin(response.url, form["action"]), "POST", fields)
    raise AssertionError(f"the verification did not end: {browser.pages}")


def wait_for_tokens(mx, metadata, client_id, codes):
    """Polls as RFC 8628 says (every `interval`, slower after slow_down)."""
    interval = codes["interval"]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        response = poll(mx, metadata, client_id, codes)
        if response.status_code == 200:
            return response.json()
        error = response.json().get("error")
        assert error in ("authorization_pending", "slow_down"), describe(response)
        if error == "slow_down":
            interval += 5
        time.sleep(interval)
    raise AssertionError("no tokens within a minute")


@pytest.fixture(scope="module")
def tv(mx):
    """The metadata and a device client, registered once for the module
    (registrations are rate limited per address)."""
    metadata = discover(mx)
    return metadata, register_device_client(mx, metadata)


def test_a_device_logs_in_through_the_device_grant_and_uses_synapse(mx, tv):
    metadata, client_id = tv
    assert metadata["device_authorization_endpoint"].startswith(mx.base + "/"), metadata
    assert DEVICE_GRANT in metadata["grant_types_supported"], metadata
    account = mx.register()
    device_id = new_device_id()
    codes = start(mx, metadata, client_id, device_id)
    assert codes["verification_uri"] == metadata["issuer"] + "link", codes

    pending = poll(mx, metadata, client_id, codes)
    assert pending.status_code == 400, describe(pending)
    assert pending.json()["error"] == "authorization_pending", pending.json()

    last = verify(mx, codes["verification_uri_complete"], account, "approve")
    assert 'data-outcome="approved"' in last.text, describe(last)

    tokens = wait_for_tokens(mx, metadata, client_id, codes)
    token = tokens["access_token"]
    whoami = mx.whoami(token)
    assert whoami.status_code == 200, describe(whoami)
    assert whoami.json()["user_id"] == account.user_id, whoami.json()
    assert whoami.json()["device_id"] == device_id, whoami.json()
    assert device_id in mx.synapse_devices(account.token)
    room = mx.client("POST", "/createRoom", token, json={"name": "device grant e2e"})
    assert room.status_code == 200, describe(room)

    # The device code gave its tokens once.
    again = poll(mx, metadata, client_id, codes)
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant", describe(again)


def test_a_declined_device_hears_access_denied(mx, tv):
    metadata, client_id = tv
    account = mx.register()
    codes = start(mx, metadata, client_id, new_device_id())
    last = verify(mx, codes["verification_uri_complete"], account, "decline")
    assert 'data-outcome="declined"' in last.text, describe(last)
    denied = poll(mx, metadata, client_id, codes)
    assert denied.status_code == 400, describe(denied)
    assert denied.json()["error"] == "access_denied", denied.json()
