"""The OAuth 2.0 API (Matrix spec v1.15+) under Synapse delegation.

mxauth is the authorization server, Synapse the resource server. Everything
goes through nginx (E2E_BASE_URL) as a client and its user's browser would:
discovery at Synapse's `/_matrix/client/v1/auth_metadata`, a client
registered at mxauth, the browser walking `/authorize`, the login page and
the consent page (a `requests.Session` that reads each page's first form
with the stdlib's HTML parser), the code exchanged with PKCE, and then the
token used at Synapse.
"""

import base64
import hashlib
import secrets
from html.parser import HTMLParser
from urllib.parse import parse_qs, urlencode, urljoin, urlparse

import pytest
import requests

from conftest import TIMEOUT, describe, errcode, eventually

CLIENT_URI = "https://app.e2e.test/"
REDIRECT_URI = "https://app.e2e.test/callback"


# --- what a client does ------------------------------------------------------


def discover(mx):
    """The server metadata, as a client finds it: from the homeserver."""
    response = mx.request("GET", "/_matrix/client/v1/auth_metadata")
    assert response.status_code == 200, describe(response)
    return response.json()


def register_client(mx, metadata):
    """A public web client, by dynamic registration (RFC 7591)."""
    response = mx.request(
        "POST",
        "",
        base=metadata["registration_endpoint"],
        json={
            "client_name": "E2E App",
            "client_uri": CLIENT_URI,
            "redirect_uris": [REDIRECT_URI],
            "application_type": "web",
            "token_endpoint_auth_method": "none",
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
        },
    )
    assert response.status_code == 201, describe(response)
    client = response.json()
    assert client["redirect_uris"] == [REDIRECT_URI], client
    assert client["token_endpoint_auth_method"] == "none", client
    assert "client_secret" not in client, client
    return client["client_id"]


def pkce():
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    challenge = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    return verifier, challenge


def device_scope(device_id):
    return f"urn:matrix:client:api:* urn:matrix:client:device:{device_id}"


def new_device_id():
    return "E2EOAUTH" + secrets.token_hex(4).upper()


def post_form(mx, url, fields):
    return mx.http.post(url, data=fields, timeout=TIMEOUT)


def token_request(mx, metadata, fields):
    return post_form(mx, metadata["token_endpoint"], fields)


def exchange(mx, metadata, client_id, code, verifier):
    response = token_request(
        mx,
        metadata,
        {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT_URI,
            "client_id": client_id,
            "code_verifier": verifier,
        },
    )
    assert response.status_code == 200, describe(response)
    tokens = response.json()
    assert tokens["token_type"].lower() == "bearer", tokens
    assert tokens["access_token"] and tokens["refresh_token"], tokens
    assert tokens["expires_in"] > 0, tokens
    return tokens


# --- what the user's browser does --------------------------------------------


class Forms(HTMLParser):
    """Every <form> of a page: its action and its inputs (name -> value)."""

    def __init__(self):
        super().__init__()
        self.forms = []
        self._current = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form":
            self._current = {
                "action": attrs.get("action") or "",
                "method": (attrs.get("method") or "get").lower(),
                "inputs": {},
            }
            self.forms.append(self._current)
        elif tag == "input" and self._current is not None and attrs.get("name"):
            self._current["inputs"][attrs["name"]] = attrs.get("value") or ""

    def handle_endtag(self, tag):
        if tag == "form":
            self._current = None


def forms_of(html):
    parser = Forms()
    parser.feed(html)
    parser.close()
    return parser.forms


class Browser:
    """A browser that follows mxauth's redirects and submits a form per page,
    keeping cookies; stops at the redirect back to the client."""

    def __init__(self, mx):
        self.mx = mx
        self.http = requests.Session()
        self.pages = []  # (url, status) visited, for the failure report

    def go(self, url, method="GET", data=None):
        response = self.http.request(
            method, url, data=data, allow_redirects=False, timeout=TIMEOUT
        )
        self.pages.append((method, url, response.status_code))
        return response

    def walk(self, url, username, password, choose_form=0, max_pages=8):
        """From /authorize to the client's redirect URI: that URL."""
        response = self.go(url)
        for _ in range(max_pages):
            if response.is_redirect:
                target = urljoin(response.url, response.headers["Location"])
                if target.startswith(REDIRECT_URI):
                    return target
                # Every page of the grant is on the public origin (nginx).
                assert target.startswith(self.mx.base + "/"), target
                response = self.go(target)
                continue
            assert response.status_code == 200, describe(response)
            assert response.headers["Content-Type"].startswith("text/html"), describe(response)
            forms = forms_of(response.text)
            assert forms, describe(response)
            # The login page has one form; on the consent page the first
            # form approves and the second declines.
            form = forms[choose_form] if "password" not in forms[0]["inputs"] else forms[0]
            assert form["method"] == "post", form
            fields = dict(form["inputs"])
            if "password" in fields:
                fields["username"] = username
                fields["password"] = password
            response = self.go(urljoin(response.url, form["action"]), "POST", fields)
        raise AssertionError(f"the walk did not reach the client: {self.pages}")


def authorize_url(metadata, client_id, scope, challenge, state):
    query = urlencode(
        {
            "response_type": "code",
            "client_id": client_id,
            "redirect_uri": REDIRECT_URI,
            "scope": scope,
            "state": state,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
    )
    return f"{metadata['authorization_endpoint']}?{query}"


def callback_params(url):
    return {k: v[0] for k, v in parse_qs(urlparse(url).query).items()}


class Client:
    """What an app keeps after its first start: the metadata and its
    client_id. Registered once for the module, as a real app does (and
    registrations are rate-limited per address)."""

    def __init__(self, mx):
        self.metadata = discover(mx)
        self.client_id = register_client(mx, self.metadata)


@pytest.fixture(scope="module")
def app(mx):
    return Client(mx)


class OAuthLogin:
    """A whole login: the browser through the pages, the code exchange."""

    def __init__(self, mx, app, account, device_id=None):
        self.metadata = app.metadata
        self.client_id = app.client_id
        self.device_id = device_id or new_device_id()
        verifier, challenge = pkce()
        state = secrets.token_urlsafe(12)
        url = authorize_url(
            self.metadata, self.client_id, device_scope(self.device_id), challenge, state
        )
        back = Browser(mx).walk(url, account.username, account.password)
        params = callback_params(back)
        assert params.get("state") == state, back
        assert params.get("iss") == self.metadata["issuer"], back
        assert params.get("code"), back
        self.tokens = exchange(mx, self.metadata, self.client_id, params["code"], verifier)
        assert set(self.tokens["scope"].split()) == set(
            device_scope(self.device_id).split()
        ), self.tokens


# --- the tests ----------------------------------------------------------------


def test_synapse_auth_metadata_is_the_complete_document(mx):
    metadata = discover(mx)
    for field in (
        "issuer",
        "authorization_endpoint",
        "token_endpoint",
        "revocation_endpoint",
        "registration_endpoint",
        "jwks_uri",
        "userinfo_endpoint",
        "account_management_uri",
    ):
        assert metadata.get(field), (field, metadata)
    # The issuer is mxauth's public_baseurl: this origin, where every
    # endpoint a client or browser calls is routed by nginx.
    assert metadata["issuer"].rstrip("/") == mx.base, metadata
    for field in (
        "authorization_endpoint",
        "token_endpoint",
        "revocation_endpoint",
        "registration_endpoint",
        "jwks_uri",
        "userinfo_endpoint",
    ):
        assert metadata[field].startswith(mx.base + "/"), (field, metadata)
    assert "code" in metadata["response_types_supported"], metadata
    assert {"authorization_code", "refresh_token"} <= set(
        metadata["grant_types_supported"]
    ), metadata
    assert {"query", "fragment"} <= set(metadata["response_modes_supported"]), metadata
    assert "S256" in metadata["code_challenge_methods_supported"], metadata
    assert "create" in metadata["prompt_values_supported"], metadata
    assert "none" in metadata["token_endpoint_auth_methods_supported"], metadata

    # The same document as mxauth's own, which is public at the issuer.
    own = mx.request("GET", "/.well-known/openid-configuration")
    assert own.status_code == 200, describe(own)
    assert own.json() == metadata
    # And the unstable MSC2965 path at Synapse.
    unstable = mx.request(
        "GET", "/_matrix/client/unstable/org.matrix.msc2965/auth_metadata"
    )
    assert unstable.status_code == 200, describe(unstable)
    assert unstable.json() == metadata

    jwks = mx.request("GET", "", base=metadata["jwks_uri"])
    assert jwks.status_code == 200, describe(jwks)
    assert jwks.json()["keys"], jwks.json()


def test_registered_client_is_known_at_authorize(mx, app):
    # The client registered at mxauth is known at the authorization endpoint: a request with its redirect URI goes on
    # to the pages; one with an unregistered redirect URI is refused at
    # mxauth (a page, never a redirect).
    _, challenge = pkce()
    url = authorize_url(app.metadata, app.client_id, device_scope("X"), challenge, "s")
    ok = mx.http.get(url, allow_redirects=False, timeout=TIMEOUT)
    assert ok.status_code == 303, describe(ok)
    bad = mx.http.get(
        url.replace("callback", "elsewhere"), allow_redirects=False, timeout=TIMEOUT
    )
    assert bad.status_code == 400, describe(bad)
    assert "Location" not in bad.headers, describe(bad)


def test_oauth_login_works_at_synapse(mx, app):
    account = mx.register()
    login = OAuthLogin(mx, app, account)
    token = login.tokens["access_token"]

    # Provisioning happened before the token was handed out: the device is
    # at Synapse right after the exchange, no waiting.
    devices = mx.synapse_devices(account.token)
    assert login.device_id in devices, devices

    whoami = mx.whoami(token)
    assert whoami.status_code == 200, describe(whoami)
    assert whoami.json()["user_id"] == account.user_id, whoami.json()
    assert whoami.json()["device_id"] == login.device_id, whoami.json()

    room = mx.client("POST", "/createRoom", token, json={"name": "oauth e2e"})
    assert room.status_code == 200, describe(room)
    assert room.json()["room_id"].startswith("!"), room.json()

    # userinfo (mxauth's, through nginx) knows the same user.
    userinfo = mx.request("GET", "", token, base=login.metadata["userinfo_endpoint"])
    assert userinfo.status_code == 200, describe(userinfo)
    assert userinfo.json()["sub"] == account.user_id, userinfo.json()


def test_refreshed_token_works_at_synapse(mx, app):
    account = mx.register()
    login = OAuthLogin(mx, app, account)
    assert mx.whoami(login.tokens["access_token"]).status_code == 200

    response = token_request(
        mx,
        login.metadata,
        {
            "grant_type": "refresh_token",
            "refresh_token": login.tokens["refresh_token"],
            "client_id": login.client_id,
        },
    )
    assert response.status_code == 200, describe(response)
    fresh = response.json()
    assert fresh["access_token"] != login.tokens["access_token"], fresh
    assert fresh["refresh_token"] != login.tokens["refresh_token"], fresh

    whoami = mx.whoami(fresh["access_token"])
    assert whoami.status_code == 200, describe(whoami)
    assert whoami.json()["user_id"] == account.user_id, whoami.json()
    assert whoami.json()["device_id"] == login.device_id, whoami.json()
    room = mx.client("POST", "/createRoom", fresh["access_token"], json={})
    assert room.status_code == 200, describe(room)


def test_revoked_token_is_refused_by_synapse_and_the_device_is_gone(mx, app):
    account = mx.register()
    login = OAuthLogin(mx, app, account)
    token = login.tokens["access_token"]
    # Synapse has now introspected the token and caches that for 2 minutes:
    # only the device's deletion at Synapse can end it sooner.
    assert mx.whoami(token).status_code == 200
    assert login.device_id in mx.synapse_devices(account.token)

    revoke = post_form(
        mx,
        login.metadata["revocation_endpoint"],
        {"token": token, "client_id": login.client_id},
    )
    assert revoke.status_code == 200, describe(revoke)

    def refused():
        response = mx.whoami(token)
        if response.status_code == 401 and errcode(response) == "M_UNKNOWN_TOKEN":
            return True
        raise AssertionError(describe(response))

    # mxauth deletes the device at Synapse through its homeserver queue.
    eventually(refused, timeout=10, interval=0.2, what="Synapse refusing the revoked token")
    eventually(
        lambda: login.device_id not in mx.synapse_devices(account.token),
        timeout=10,
        interval=0.2,
        what="the device gone from Synapse's GET /devices",
    )
    # The refresh token went with the session.
    again = token_request(
        mx,
        login.metadata,
        {
            "grant_type": "refresh_token",
            "refresh_token": login.tokens["refresh_token"],
            "client_id": login.client_id,
        },
    )
    assert again.status_code == 400, describe(again)
    assert again.json()["error"] == "invalid_grant", describe(again)
    # The user's other session is untouched.
    assert mx.whoami(account.token).status_code == 200


def test_declined_consent_goes_back_with_access_denied(mx, app):
    account = mx.register()
    metadata, client_id = app.metadata, app.client_id
    _, challenge = pkce()
    device_id = new_device_id()
    url = authorize_url(metadata, client_id, device_scope(device_id), challenge, "st4te")
    back = Browser(mx).walk(url, account.username, account.password, choose_form=1)
    params = callback_params(back)
    assert params.get("error") == "access_denied", back
    assert params.get("state") == "st4te", back
    assert "code" not in params, back
    # No device was made at Synapse.
    assert device_id not in mx.synapse_devices(account.token)
