"""deploy/nginx/mxauth.conf sends each path to the right service.

For every (method, path) the test asks nginx, then reads nginx's access log
(the runner logs `$upstream_addr`) to see which upstream answered. For the
paths given to mxauth it also asks Synapse directly and expects 404: that is
the check that Synapse really drops them under delegation (the list in the
config was read from Synapse's source; this keeps it honest when Synapse
changes). Paths Synapse keeps must not be 404 there.
"""

import os
import secrets
import time
from urllib.parse import urlparse

import pytest

from conftest import describe

C = "/_matrix/client"
U = "@someone:e2e.test"

MXAUTH = [
    ("GET", f"{C}/v3/login"),
    ("POST", f"{C}/v3/login"),
    ("POST", f"{C}/r0/login"),
    ("POST", f"{C}/api/v1/login"),
    ("GET", f"{C}/v3/login/sso/redirect"),
    ("GET", f"{C}/v3/login/sso/redirect/oidc-github"),
    ("GET", f"{C}/r0/login/cas/ticket"),
    ("POST", f"{C}/v3/logout"),
    ("POST", f"{C}/r0/logout/all"),
    ("POST", f"{C}/v3/refresh"),
    ("POST", f"{C}/v3/register"),
    ("POST", f"{C}/r0/register"),
    ("GET", f"{C}/v3/register/available"),
    ("POST", f"{C}/v3/register/email/requestToken"),
    ("POST", f"{C}/v3/register/msisdn/requestToken"),
    ("GET", f"{C}/v1/register/m.login.registration_token/validity"),
    ("POST", f"{C}/unstable/registration/email/submit_token"),
    ("POST", f"{C}/v3/account/password"),
    ("POST", f"{C}/v3/account/password/email/requestToken"),
    ("POST", f"{C}/v3/account/password/msisdn/requestToken"),
    ("POST", f"{C}/v3/account/deactivate"),
    ("POST", f"{C}/v3/account/3pid/add"),
    ("POST", f"{C}/v3/account/3pid/delete"),
    ("POST", f"{C}/v3/account/3pid/email/requestToken"),
    ("POST", f"{C}/v3/account/3pid/msisdn/requestToken"),
    ("POST", f"{C}/unstable/add_threepid/msisdn/submit_token"),
    ("POST", f"{C}/v3/delete_devices"),
    ("DELETE", f"{C}/v3/devices/SOMEDEVICE"),
    ("DELETE", f"{C}/r0/devices/SOMEDEVICE"),
    ("POST", f"{C}/v1/login/get_token"),
    ("POST", f"{C}/unstable/org.matrix.msc3882/login/token"),
    ("GET", f"{C}/v3/auth/m.login.password/fallback/web"),
    ("GET", f"{C}/r0/auth/m.login.terms/fallback/web"),
    ("GET", "/_synapse/admin/v1/register"),
    ("POST", "/_synapse/admin/v1/register"),
    ("PUT", f"/_synapse/admin/v1/users/{U}/admin"),
    ("POST", f"/_synapse/admin/v1/users/{U}/login"),
    ("POST", f"/_synapse/admin/v1/reset_password/{U}"),
    ("GET", "/_synapse/admin/v1/registration_tokens"),
    ("POST", "/_synapse/admin/v1/registration_tokens/new"),
    ("POST", "/_synapse/admin/v1/account_validity/validity"),
    ("GET", f"/_synapse/admin/v1/users/{U}/admin"),
    # The user admin API Synapse still serves under delegation, on its own
    # tables only: mxauth holds the accounts and tells Synapse (see
    # SYNAPSE_SERVES_BUT_MXAUTH_OWNS).
    ("GET", f"/_synapse/admin/v2/users/{U}"),
    ("PUT", f"/_synapse/admin/v2/users/{U}"),
    ("GET", "/_synapse/admin/v2/users"),
    ("GET", "/_synapse/admin/v3/users"),
    ("POST", f"/_synapse/admin/v1/deactivate/{U}"),
    ("GET", f"/_synapse/admin/v2/users/{U}/devices"),
    ("POST", f"/_synapse/admin/v2/users/{U}/devices"),
    ("GET", f"/_synapse/admin/v2/users/{U}/devices/SOMEDEVICE"),
    ("PUT", f"/_synapse/admin/v2/users/{U}/devices/SOMEDEVICE"),
    ("DELETE", f"/_synapse/admin/v2/users/{U}/devices/SOMEDEVICE"),
    ("POST", f"/_synapse/admin/v2/users/{U}/delete_devices"),
    ("GET", "/_synapse/admin/v1/username_available"),
    ("GET", "/_synapse/admin/v1/auth_providers/oidc-github/users/12345"),
    ("GET", "/_synapse/admin/v1/threepid/email/users/someone@example.org"),
    # mxauth's own admin API.
    ("GET", f"/_mxauth/admin/v1/users/{U}/sessions"),
    # The OAuth 2.0 API: mxauth is the authorization server (its issuer is
    # this origin); Synapse serves none of these.
    ("GET", "/authorize"),
    ("GET", "/.well-known/openid-configuration"),
    ("POST", "/oauth2/token"),
    ("POST", "/oauth2/revoke"),
    ("POST", "/oauth2/registration"),
    ("GET", "/oauth2/keys.json"),
    ("GET", "/oauth2/userinfo"),
    ("GET", "/oauth2/login"),
    ("POST", "/oauth2/login"),
    ("GET", "/oauth2/consent"),
    ("POST", "/oauth2/consent"),
    ("GET", "/oauth2/logout"),
    ("GET", "/oauth2/register"),
    # The account pages (account_management_uri).
    ("GET", "/account/"),
    ("POST", "/account/"),
    ("GET", "/account"),
]

# Synapse still serves these under delegation, so they are not in the
# "Synapse answers 404" check: the fallback pages are registered (auth.py)
# but mxauth owns the UIA sessions; the user admin API
# (admin/__init__.py registers UserRestServletV2, UsersRestServletV2/V3,
# DeactivateAccountRestServlet, the admin device servlets,
# UsernameAvailableRestServlet, UserByExternalId and UserByThreePid
# whatever mas.enabled) works on Synapse's copy of the users, while the
# accounts, passwords, sessions, addresses and SSO links are mxauth's.
SYNAPSE_SERVES_BUT_MXAUTH_OWNS = {
    f"{C}/v3/auth/m.login.password/fallback/web",
    f"{C}/r0/auth/m.login.terms/fallback/web",
    f"/_synapse/admin/v2/users/{U}",
    "/_synapse/admin/v2/users",
    "/_synapse/admin/v3/users",
    f"/_synapse/admin/v1/deactivate/{U}",
    f"/_synapse/admin/v2/users/{U}/devices",
    f"/_synapse/admin/v2/users/{U}/devices/SOMEDEVICE",
    f"/_synapse/admin/v2/users/{U}/delete_devices",
    "/_synapse/admin/v1/username_available",
    "/_synapse/admin/v1/auth_providers/oidc-github/users/12345",
    "/_synapse/admin/v1/threepid/email/users/someone@example.org",
}

SYNAPSE = [
    ("GET", f"{C}/versions"),
    ("GET", f"{C}/v3/account/whoami"),
    ("GET", f"{C}/v3/devices"),
    ("GET", f"{C}/v3/devices/SOMEDEVICE"),
    ("PUT", f"{C}/v3/devices/SOMEDEVICE"),
    ("GET", f"{C}/v3/account/3pid"),
    ("POST", f"{C}/v3/account/3pid/bind"),
    ("POST", f"{C}/v3/account/3pid/unbind"),
    ("GET", f"{C}/v1/auth_metadata"),
    ("GET", f"{C}/unstable/org.matrix.msc2965/auth_metadata"),
    ("GET", "/.well-known/matrix/client"),
    ("GET", f"{C}/v3/auth/m.oauth/fallback/web"),
    ("GET", f"{C}/v3/auth/org.matrix.cross_signing_reset/fallback/web"),
    ("POST", f"{C}/v3/keys/device_signing/upload"),
    ("GET", f"{C}/v3/sync"),
    ("POST", f"{C}/v3/createRoom"),
    ("GET", f"{C}/v3/profile/{U}"),
    ("GET", "/_synapse/admin/v1/server_version"),
    # Suspension is Synapse's to enforce (nginx mirrors it to mxauth; the
    # access log names the main request's upstream); the client IPs and
    # the rate limits of logged-in users are Synapse's too.
    ("PUT", f"/_synapse/admin/v1/suspend/{U}"),
    ("GET", f"/_synapse/admin/v1/whois/{U}"),
    ("GET", f"/_synapse/admin/v1/users/{U}/override_ratelimit"),
    ("POST", f"/_synapse/admin/v1/users/{U}/override_ratelimit"),
    ("GET", f"/_synapse/admin/v1/users/{U}/joined_rooms"),
    # Look-alikes that must not be caught by mxauth's regexes.
    ("POST", f"{C}/v3/loginx"),
    ("GET", f"{C}/v3/register/availablex"),
    ("GET", f"{C}/v3/devices/SOMEDEVICE/extra"),
    ("GET", "/authorizex"),
    ("GET", "/authorize/extra"),
    ("GET", "/oauth2x/token"),
    ("GET", f"/_synapse/admin/v2/users/{U}/joined_rooms"),
    ("GET", f"/_synapse/admin/v2/users/{U}/devicesx"),
    ("GET", f"/_synapse/admin/v2/users/{U}/devices/SOMEDEVICE/extra"),
    ("GET", "/_synapse/admin/v2/usersx"),
    ("GET", f"/_synapse/admin/v3/users/{U}"),
    ("POST", f"/_synapse/admin/v1/deactivate/{U}/extra"),
    ("GET", f"/_synapse/admin/v1/users/{U}/adminx"),
    ("GET", "/_synapse/admin/v1/username_availablex"),
    ("PUT", f"/_synapse/admin/v1/suspend/{U}/extra"),
    ("GET", "/_mxauth/adminx"),
]

# Under delegation Synapse keeps /register for appservices only
# (register.py RegisterAppServiceOnlyRestServlet): a user gets 403, never an
# account. Appservices talk to Synapse directly, not through this proxy.
APPSERVICE_ONLY = {f"{C}/v3/register", f"{C}/r0/register"}

# Paths Synapse keeps whose answer without a token is still a 404-free
# answer (not every one: e.g. an unknown device is 404 even when served).
SYNAPSE_NOT_404 = {
    f"{C}/versions",
    f"{C}/v3/account/whoami",
    f"{C}/v3/devices",
    f"{C}/v3/account/3pid",
    f"{C}/v3/account/3pid/bind",
    f"{C}/v3/account/3pid/unbind",
    f"{C}/v1/auth_metadata",
    f"{C}/unstable/org.matrix.msc2965/auth_metadata",
    f"{C}/v3/keys/device_signing/upload",
    f"{C}/v3/sync",
    f"{C}/v3/createRoom",
    "/_synapse/admin/v1/server_version",
    f"/_synapse/admin/v1/suspend/{U}",
    f"/_synapse/admin/v1/whois/{U}",
    f"/_synapse/admin/v1/users/{U}/override_ratelimit",
    f"/_synapse/admin/v1/users/{U}/joined_rooms",
}


# The v1 admin paths mxauth serves with a token required (shared-secret
# registration needs none; account_validity is served by neither).
OWNED_ADMIN_V1 = {
    p for _, p in MXAUTH
    if p.startswith("/_synapse/admin/v1/")
    and not p.startswith(("/_synapse/admin/v1/register", "/_synapse/admin/v1/account_validity"))
}


def addr(url):
    parsed = urlparse(url)
    return f"{parsed.hostname}:{parsed.port}"


def upstream_of(mx, method, path):
    """Sends the request through nginx; returns (upstream, status)."""
    log_path = os.environ.get("E2E_NGINX_ACCESS_LOG")
    if not log_path:
        pytest.skip("E2E_NGINX_ACCESS_LOG is not set: run tests/e2e/run.sh")
    marker = secrets.token_hex(6)
    body = {} if method in ("POST", "PUT", "DELETE") else None
    response = mx.request(method, f"{path}?e2e_route={marker}", json=body, allow_redirects=False)
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        with open(log_path) as log:
            for line in log:
                fields = line.split()
                if len(fields) >= 4 and f"e2e_route={marker}" in fields[1]:
                    assert fields[0] == method, line
                    return fields[3], response
        time.sleep(0.05)
    raise AssertionError(f"no access-log line for {method} {path}")


@pytest.fixture(scope="module")
def user(mx):
    return mx.register()


@pytest.mark.parametrize("method,path", MXAUTH, ids=[f"{m} {p}" for m, p in MXAUTH])
def test_sent_to_mxauth(mx, user, method, path):
    upstream, response = upstream_of(mx, method, path)
    assert upstream == addr(mx.mxauth), f"{method} {path} went to {upstream}: {describe(response)}"
    if path.startswith(("/_synapse/admin/v2/", "/_synapse/admin/v3/", "/_mxauth/admin/")) or (
        path in OWNED_ADMIN_V1
    ):
        # And mxauth serves it (no token: 401, not an unknown path).
        assert response.status_code == 401, describe(response)
    # Synapse itself, with a user's token (DELETE /devices/{id} is refused
    # with 404 only once the requester is known not to be an appservice).
    direct = mx.request(method, path, user.token, json={} if method != "GET" else None,
                        base=mx.synapse, allow_redirects=False)
    if path in SYNAPSE_SERVES_BUT_MXAUTH_OWNS:
        # It does serve them (a normal user is refused, not unknown).
        assert direct.status_code != 404, describe(direct)
    elif path in APPSERVICE_ONLY:
        assert direct.status_code == 403, describe(direct)
        assert "application_service" in direct.json()["error"], describe(direct)
    else:
        assert direct.status_code == 404, (
            "Synapse serves this path under delegation, so mxauth should not own it: "
            + describe(direct)
        )


@pytest.mark.parametrize("method,path", SYNAPSE, ids=[f"{m} {p}" for m, p in SYNAPSE])
def test_sent_to_synapse(mx, method, path):
    upstream, response = upstream_of(mx, method, path)
    assert upstream == addr(mx.synapse), f"{method} {path} went to {upstream}: {describe(response)}"
    if path in SYNAPSE_NOT_404:
        assert response.status_code != 404, describe(response)


# Private paths: the two services call each other directly; nginx itself
# answers 404 (no upstream in the access log).
PRIVATE = [
    ("POST", "/_synapse/mas/provision_user"),
    ("POST", "/oauth2/introspect"),
]


@pytest.mark.parametrize("method,path", PRIVATE, ids=[f"{m} {p}" for m, p in PRIVATE])
def test_private_paths_are_answered_by_nginx(mx, method, path):
    upstream, response = upstream_of(mx, method, path)
    assert upstream == "-", upstream
    assert response.status_code == 404, describe(response)
