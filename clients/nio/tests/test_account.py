"""matrix-nio's AsyncClient against mxauth: login, whoami, devices, device
deletion behind UIA, logout. nio sends the access token as the
`access_token` query parameter, not as a header."""

from __future__ import annotations

from nio import (
    DeleteDevicesAuthResponse,
    DeleteDevicesResponse,
    DevicesResponse,
    LoginError,
    LoginResponse,
    LogoutResponse,
    UpdateDeviceResponse,
    WhoamiError,
    WhoamiResponse,
)

from conftest import logged_in, make_client, new_user, run, unique_name


async def assert_token_dead(client):
    resp = await client.whoami()
    assert isinstance(resp, WhoamiError), resp
    assert resp.status_code == "M_UNKNOWN_TOKEN", resp


def password_auth(u, session=None):
    auth = {
        "type": "m.login.password",
        "identifier": {"type": "m.id.user", "user": u.user},
        "password": u.password,
    }
    if session is not None:
        auth["session"] = session
    return auth


def test_login_and_whoami():
    async def main():
        u = new_user("nlogin")
        client, resp = await logged_in(u, "nio device")
        try:
            assert resp.user_id == u.user_id
            assert resp.access_token and resp.device_id
            assert client.access_token == resp.access_token
            assert client.device_id == resp.device_id
            who = await client.whoami()
            assert isinstance(who, WhoamiResponse), who
            assert (who.user_id, who.device_id) == (u.user_id, resp.device_id)
        finally:
            await client.close()

    run(main())


def test_login_with_full_user_id():
    async def main():
        u = new_user("nfull")
        client = make_client(u.user_id)
        try:
            resp = await client.login(u.password, device_name="full id")
            assert isinstance(resp, LoginResponse), resp
            assert resp.user_id == u.user_id
        finally:
            await client.close()

    run(main())


def test_wrong_password_is_forbidden():
    async def main():
        u = new_user("nbad")
        client = make_client(u.user)
        try:
            resp = await client.login(u.password + "x")
            assert isinstance(resp, LoginError), resp
            assert resp.status_code == "M_FORBIDDEN", resp
            assert resp.message, "the error carries a message"
            assert client.access_token == ""
        finally:
            await client.close()

    run(main())


def test_devices_and_rename():
    async def main():
        u = new_user("ndev")
        a, ra = await logged_in(u, "first")
        b, rb = await logged_in(u, "second")
        try:
            resp = await a.devices()
            assert isinstance(resp, DevicesResponse), resp
            names = {d.id: d.display_name for d in resp.devices}
            assert names == {ra.device_id: "first", rb.device_id: "second"}
            upd = await a.update_device(rb.device_id, {"display_name": "renamed"})
            assert isinstance(upd, UpdateDeviceResponse), upd
            resp = await b.devices()
            assert {d.id: d.display_name for d in resp.devices}[rb.device_id] == "renamed"
        finally:
            await a.close()
            await b.close()

    run(main())


def test_delete_devices_uia_dance():
    async def main():
        u = new_user("ndel")
        a, ra = await logged_in(u, "A")
        b, rb = await logged_in(u, "B")
        try:
            first = await a.delete_devices([rb.device_id])
            # nio parses every 401 of delete_devices as DeleteDevicesAuthResponse
            # and needs session, flows and params in it.
            assert isinstance(first, DeleteDevicesAuthResponse), first
            assert first.session
            assert any("m.login.password" in f["stages"] for f in first.flows), first.flows
            assert isinstance(first.params, dict)

            done = await a.delete_devices([rb.device_id], password_auth(u, first.session))
            assert isinstance(done, DeleteDevicesResponse), done
            await assert_token_dead(b)
            resp = await a.devices()
            assert [d.id for d in resp.devices] == [ra.device_id]
        finally:
            await a.close()
            await b.close()

    run(main())


def test_delete_devices_wrong_password_keeps_session():
    async def main():
        u = new_user("ndelbad")
        a, ra = await logged_in(u, "A")
        b, rb = await logged_in(u, "B")
        try:
            first = await a.delete_devices([rb.device_id])
            assert isinstance(first, DeleteDevicesAuthResponse), first
            wrong = password_auth(u, first.session)
            wrong["password"] = "wrong"
            again = await a.delete_devices([rb.device_id], wrong)
            assert isinstance(again, DeleteDevicesAuthResponse), again
            assert again.session == first.session
            assert rb.device_id in [d.id for d in (await a.devices()).devices]
            # The retry with the same body and the right password succeeds.
            done = await a.delete_devices([rb.device_id], password_auth(u, first.session))
            assert isinstance(done, DeleteDevicesResponse), done
            await assert_token_dead(b)
        finally:
            await a.close()
            await b.close()

    run(main())


def test_logout():
    async def main():
        u = new_user("nlo")
        a, ra = await logged_in(u, "A")
        b, rb = await logged_in(u, "B")
        try:
            resp = await a.logout()
            assert isinstance(resp, LogoutResponse), resp
            await assert_token_dead(a)
            who = await b.whoami()
            assert isinstance(who, WhoamiResponse), who
            assert ra.device_id not in [d.id for d in (await b.devices()).devices]
        finally:
            await a.close()
            await b.close()

    run(main())


def test_logout_all_devices():
    async def main():
        u = new_user("nloall")
        a, _ = await logged_in(u, "A")
        b, _ = await logged_in(u, "B")
        try:
            resp = await a.logout(all_devices=True)
            assert isinstance(resp, LogoutResponse), resp
            await assert_token_dead(a)
            await assert_token_dead(b)
        finally:
            await a.close()
            await b.close()

    run(main())


def test_unknown_user_is_forbidden():
    async def main():
        client = make_client(unique_name("nobody"))
        try:
            resp = await client.login("whatever-password")
            assert isinstance(resp, LoginError), resp
            assert resp.status_code == "M_FORBIDDEN", resp
        finally:
            await client.close()

    run(main())
