"""Shared setup for the matrix-nio tests: where the server is, how to make a
user, and a logged-in AsyncClient."""

from __future__ import annotations

import asyncio
import os
import secrets
import subprocess
from dataclasses import dataclass

import pytest
from nio import AsyncClient, AsyncClientConfig, LoginResponse

BASE = os.environ.get("MXAUTH_URL", "")
SERVER_NAME = os.environ.get("MXAUTH_SERVER_NAME", "localhost")


def pytest_configure(config):
    if not BASE:
        raise pytest.UsageError("MXAUTH_URL is not set: run clients/run.sh")


@dataclass
class User:
    user: str
    password: str

    @property
    def user_id(self) -> str:
        return f"@{self.user}:{SERVER_NAME}"


def unique_name(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(5)}"


def new_user(prefix: str = "nio") -> User:
    """Creates a user with `mxauth register-user`, straight in the database:
    login and UIA do not depend on registration being open."""
    user = User(unique_name(prefix), "pw-" + secrets.token_hex(6))
    binary = os.environ.get("MXAUTH_BIN")
    if not binary:
        raise RuntimeError("MXAUTH_BIN is not set: run clients/run.sh")
    args = [binary, "register-user", "-u", user.user, "-p", user.password]
    if os.environ.get("MXAUTH_CONFIG"):
        args[2:2] = ["--config", os.environ["MXAUTH_CONFIG"]]
    subprocess.run(
        args,
        check=True,
        cwd=os.environ.get("MXAUTH_WORKDIR") or None,
        capture_output=True,
    )
    return user


def make_client(user: str = "") -> AsyncClient:
    # No sync, no encryption store: only the account endpoints are used. nio
    # retries timeouts and 429s forever by default: a hung server must fail
    # the test instead.
    config = AsyncClientConfig(
        store_sync_tokens=False,
        encryption_enabled=False,
        request_timeout=30,
        max_timeouts=1,
        max_limit_exceeded=0,
    )
    return AsyncClient(BASE, user, config=config)


async def logged_in(u: User, device_name: str = "nio-test") -> tuple[AsyncClient, LoginResponse]:
    client = make_client(u.user)
    resp = await client.login(u.password, device_name=device_name)
    assert isinstance(resp, LoginResponse), resp
    return client, resp


def run(coro):
    """Each test is one event loop: no pytest-asyncio needed."""
    return asyncio.run(coro)
