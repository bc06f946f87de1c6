"""mxauth's account pages (the `account_management_uri`) under Synapse
delegation, through nginx as a browser uses them: a session ended on the
page is gone at Synapse, and a cross-signing reset approved on the page
lets Synapse accept new cross-signing keys (its `m.oauth` stage).
"""

import base64
import secrets
from urllib.parse import urljoin

import requests

from conftest import TIMEOUT, describe, errcode, eventually
from test_oauth import discover, forms_of


class AccountBrowser:
    """A browser at the account pages: it signs in through mxauth's login
    page when sent there, keeps its cookie, and posts the pages' forms."""

    def __init__(self, mx, account):
        self.mx = mx
        self.account = account
        self.http = requests.Session()
        self.base = discover(mx)["account_management_uri"]
        assert self.base == mx.base + "/account/", self.base

    def get(self, query):
        """The page at `account_management_uri?query`, signing in if asked."""
        url = f"{self.base}?{query}" if query else self.base
        response = self.http.get(url, allow_redirects=False, timeout=TIMEOUT)
        if response.status_code == 303 and "/oauth2/login" in response.headers["Location"]:
            login = self.http.get(
                urljoin(url, response.headers["Location"]), timeout=TIMEOUT
            )
            assert login.status_code == 200, describe(login)
            form = forms_of(login.text)[0]
            fields = dict(form["inputs"])
            fields["username"] = self.account.username
            fields["password"] = self.account.password
            back = self.http.post(
                urljoin(login.url, form["action"]),
                data=fields,
                allow_redirects=False,
                timeout=TIMEOUT,
            )
            assert back.status_code == 303, describe(back)
            # Back to the page the login started from.
            assert urljoin(url, back.headers["Location"]) == url, back.headers
            response = self.http.get(url, allow_redirects=False, timeout=TIMEOUT)
        assert response.status_code == 200, describe(response)
        return response

    def submit(self, page, op, extra=None):
        """Posts the form of `page` whose `op` is `op`."""
        form = next(f for f in forms_of(page.text) if f["inputs"].get("op") == op)
        fields = dict(form["inputs"])
        fields.update(extra or {})
        return self.http.post(
            urljoin(page.url, form["action"]),
            data=fields,
            allow_redirects=False,
            timeout=TIMEOUT,
        )


def test_a_session_ended_on_the_page_is_gone_at_synapse(mx):
    account = mx.register()
    other = mx.login_ok(account.username, account.password)
    assert mx.whoami(other["access_token"]).status_code == 200

    browser = AccountBrowser(mx, account)
    listing = browser.get("action=org.matrix.devices_list")
    for device in (account.device_id, other["device_id"]):
        assert f'data-device-id="{device}"' in listing.text, listing.text

    view = browser.get(
        f"action=org.matrix.device_delete&device_id={other['device_id']}"
    )
    # The page alone ends nothing.
    assert mx.whoami(other["access_token"]).status_code == 200
    ended = browser.submit(view, "end_session")
    assert ended.status_code == 303, describe(ended)

    def gone():
        response = mx.whoami(other["access_token"])
        return response.status_code == 401 and errcode(response) == "M_UNKNOWN_TOKEN"

    eventually(gone, timeout=10, what="the ended session's token refused at Synapse")
    assert other["device_id"] not in mx.synapse_devices(account.token)
    # The page's own session is untouched.
    assert mx.whoami(account.token).status_code == 200


def signing_key(user_id):
    public = base64.b64encode(secrets.token_bytes(32)).decode().rstrip("=")
    return {"user_id": user_id, "usage": ["master"], "keys": {f"ed25519:{public}": public}}


def upload_master_key(mx, account):
    return mx.client(
        "POST",
        "/keys/device_signing/upload",
        account.token,
        json={"master_key": signing_key(account.user_id)},
    )


def test_cross_signing_reset_is_approved_on_the_page(mx):
    account = mx.register()
    first = upload_master_key(mx, account)
    assert first.status_code == 200, describe(first)

    # Replacing the keys needs the auth service's approval: Synapse's
    # stage names the account page of the reset.
    refused = upload_master_key(mx, account)
    assert refused.status_code == 401, describe(refused)
    challenge = refused.json()
    stages = [flow["stages"] for flow in challenge["flows"]]
    assert ["m.oauth"] in stages or ["org.matrix.cross_signing_reset"] in stages, challenge
    url = challenge["params"]["org.matrix.cross_signing_reset"]["url"]
    assert url == f"{mx.base}/account/?action=org.matrix.cross_signing_reset", url

    browser = AccountBrowser(mx, account)
    page = browser.get("action=org.matrix.cross_signing_reset")
    assert 'id="cross-signing-form"' in page.text, page.text
    approved = browser.submit(page, "cross_signing_reset")
    assert approved.status_code == 200, describe(approved)

    accepted = upload_master_key(mx, account)
    assert accepted.status_code == 200, describe(accepted)
