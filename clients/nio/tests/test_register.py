"""matrix-nio's register() (needs enable_registration and
enable_registration_without_verification): one request whose auth dict is
a complete m.login.dummy stage with no session."""

from __future__ import annotations

from nio import LoginResponse, RegisterResponse, WhoamiResponse
from nio.responses import RegisterErrorResponse

from conftest import SERVER_NAME, make_client, run, unique_name


def test_register_with_dummy_stage():
    async def main():
        name = unique_name("nreg")
        client = make_client()
        try:
            resp = await client.register(name, "a-fine-password-9", device_name="nio registered")
            assert isinstance(resp, RegisterResponse), resp
            assert resp.user_id == f"@{name}:{SERVER_NAME}"
            assert resp.access_token and resp.device_id
            # register() logs the client in.
            assert client.access_token == resp.access_token
            who = await client.whoami()
            assert isinstance(who, WhoamiResponse), who
            assert (who.user_id, who.device_id) == (resp.user_id, resp.device_id)
            devices = {d.id: d.display_name for d in (await client.devices()).devices}
            assert devices == {resp.device_id: "nio registered"}
        finally:
            await client.close()

        # The new password works for a later login.
        again = make_client(name)
        try:
            login = await again.login("a-fine-password-9")
            assert isinstance(login, LoginResponse), login
            assert login.user_id == resp.user_id
        finally:
            await again.close()

    run(main())


def test_register_taken_name():
    async def main():
        name = unique_name("ntaken")
        first, second = make_client(), make_client()
        try:
            resp = await first.register(name, "a-fine-password-10")
            assert isinstance(resp, RegisterResponse), resp
            dup = await second.register(name, "a-fine-password-11")
            assert isinstance(dup, RegisterErrorResponse), dup
            assert dup.status_code == "M_USER_IN_USE", dup
        finally:
            await first.close()
            await second.close()

    run(main())
