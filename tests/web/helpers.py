"""Helpers for server-rendered web tests: CSRF token, form sign-in with cookies."""

from __future__ import annotations

import re

import httpx
import pyotp

from tests.factories import UserInfo


async def csrf(client: httpx.AsyncClient, path: str = "/login") -> str:
    r = await client.get(path)
    assert r.status_code in (200, 303), r.text
    token = client.cookies.get("cb_csrf")
    assert token, "the first page sets the CSRF cookie"
    return token


async def web_login(client: httpx.AsyncClient, user: UserInfo) -> httpx.Response:
    """Sign in through the HTML forms (password, then the MFA step if enrolled)."""
    token = await csrf(client)
    r = await client.post("/login", data={"email": user.email, "password": user.password, "csrf_token": token})
    assert r.status_code == 303, r.text
    if r.headers["location"].startswith("/login/mfa"):
        r = await client.post("/login/mfa", data={"code": pyotp.TOTP(user.totp_secret).now(), "csrf_token": token})
        assert r.status_code == 303, r.text
    return r


def field_error(html: str, name: str) -> str | None:
    match = re.search(rf'id="f-{name}-error">([^<]+)<', html)
    return match.group(1) if match else None
