"""Access and refresh tokens: forged, mis-signed, expired and misplaced tokens are refused;
refresh rotates; reuse of a rotated refresh token ends the whole session family; and of two
parallel refreshes with one token exactly one wins."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
import uuid
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from carebase.identity import sessions
from tests.api.helpers import assert_problem, audit_actions, bearer
from tests.factories import Factory, UserInfo


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _private_key(settings) -> Ed25519PrivateKey:  # type: ignore[no-untyped-def]
    key = serialization.load_pem_private_key(settings.auth.jwt_private_key.get_secret_value().encode(), None)
    assert isinstance(key, Ed25519PrivateKey)
    return key


def claims_for(user: UserInfo, settings, **overrides: Any) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """The claims of ``user``'s real access token, with some replaced."""
    real = jwt.decode(user.tokens["access_token"], options={"verify_signature": False})
    now = int(time.time())
    return {**real, "iat": now, "exp": now + 600, **overrides}


def sign(claims: dict[str, Any], settings, *, key: Ed25519PrivateKey | None = None, kid: str | None = None) -> str:  # type: ignore[no-untyped-def]
    return jwt.encode(
        claims, key or _private_key(settings), algorithm="EdDSA", headers={"kid": kid or settings.auth.jwt_kid}
    )


@pytest.fixture
async def doctor(factory: Factory) -> UserInfo:
    tenant = await factory.tenant()
    user = await factory.user(tenant, "doctor")
    await factory.login(user)
    return user


async def me(client: httpx.AsyncClient, token: str) -> httpx.Response:
    return await client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})


async def test_a_token_we_signed_ourselves_works(client, doctor, settings):
    # The control: the forging helpers make tokens the server accepts when nothing is wrong.
    assert (await me(client, sign(claims_for(doctor, settings), settings))).status_code == 200


async def test_alg_none_is_refused(client, doctor, settings):
    header = _b64(json.dumps({"alg": "none", "typ": "JWT", "kid": settings.auth.jwt_kid}).encode())
    payload = _b64(json.dumps(claims_for(doctor, settings)).encode())
    for token in (f"{header}.{payload}.", f"{header}.{payload}"):
        assert_problem(await me(client, token), 401)


async def test_a_token_signed_with_another_key_is_refused(client, doctor, settings):
    other = Ed25519PrivateKey.generate()
    assert_problem(await me(client, sign(claims_for(doctor, settings), settings, key=other)), 401)
    # ... also when it names a key id we do not have.
    assert_problem(await me(client, sign(claims_for(doctor, settings), settings, key=other, kid="k9")), 401)


async def test_hs256_with_the_public_key_as_secret_is_refused(client, doctor, settings):
    public_pem = (
        _private_key(settings)
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": settings.auth.jwt_kid}).encode())
    payload = _b64(json.dumps(claims_for(doctor, settings)).encode())
    signature = _b64(hmac.new(public_pem, f"{header}.{payload}".encode(), hashlib.sha256).digest())
    assert_problem(await me(client, f"{header}.{payload}.{signature}"), 401)


@pytest.mark.parametrize(
    "overrides",
    [{"iss": "someone-else"}, {"aud": "another-api"}, {"typ": "refresh"}, {"tid": str(uuid.uuid4())},
     {"sid": str(uuid.uuid4())}, {"role": "hospital_admin"}, {"role": "superuser"}, {"sub": "not-a-uuid"}],
    ids=lambda o: "-".join(f"{k}={v}"[:20] for k, v in o.items()),
)  # fmt: skip
async def test_tokens_with_wrong_claims_are_refused(client, doctor, settings, overrides):
    assert_problem(await me(client, sign(claims_for(doctor, settings, **overrides), settings)), 401)


async def test_missing_claims_are_refused(client, doctor, settings):
    for claim in ("exp", "sid", "tid", "typ"):
        claims = claims_for(doctor, settings)
        del claims[claim]
        assert_problem(await me(client, sign(claims, settings)), 401)


async def test_an_expired_token_is_refused(client, doctor, settings):
    past = int(time.time()) - 120
    body = assert_problem(await me(client, sign(claims_for(doctor, settings, iat=past - 900, exp=past), settings)), 401)
    assert "expired" in body["detail"]


async def test_a_refresh_token_is_not_an_access_token(client, doctor):
    assert_problem(await me(client, doctor.tokens["refresh_token"]), 401)


async def test_an_access_token_is_not_a_refresh_token(client, doctor):
    r = await client.post("/api/v1/auth/refresh", json={"refresh_token": doctor.tokens["access_token"][:200]})
    assert_problem(r, 401)


async def test_after_logout_the_access_and_refresh_tokens_stop_working(client, doctor):
    assert (await client.post("/api/v1/auth/logout", headers=bearer(doctor.tokens))).status_code == 204
    assert_problem(await me(client, doctor.tokens["access_token"]), 401)
    r = await client.post("/api/v1/auth/refresh", json={"refresh_token": doctor.tokens["refresh_token"]})
    assert_problem(r, 401)


async def test_refresh_rotates(client, doctor):
    r = await client.post("/api/v1/auth/refresh", json={"refresh_token": doctor.tokens["refresh_token"]})
    assert r.status_code == 200, r.text
    new = r.json()
    assert new["refresh_token"] != doctor.tokens["refresh_token"]
    assert (await me(client, new["access_token"])).status_code == 200
    r2 = await client.post("/api/v1/auth/refresh", json={"refresh_token": new["refresh_token"]})
    assert r2.status_code == 200
    assert (await me(client, r2.json()["access_token"])).status_code == 200


async def test_reusing_a_rotated_refresh_token_revokes_the_family(client, doctor, monkeypatch, owner_sessionmaker):
    monkeypatch.setattr(sessions, "REFRESH_RACE_GRACE_SECONDS", 0)
    old = doctor.tokens["refresh_token"]
    r = await client.post("/api/v1/auth/refresh", json={"refresh_token": old})
    assert r.status_code == 200
    newest = r.json()
    await asyncio.sleep(0.01)

    assert_problem(await client.post("/api/v1/auth/refresh", json={"refresh_token": old}), 401)

    assert_problem(await client.post("/api/v1/auth/refresh", json={"refresh_token": newest["refresh_token"]}), 401)
    assert_problem(await me(client, newest["access_token"]), 401)
    assert_problem(await me(client, doctor.tokens["access_token"]), 401)
    events = await audit_actions(owner_sessionmaker, doctor.tenant_id, action="auth.refresh.reused")
    assert len(events) == 1
    assert events[0]["actor_user_id"] == doctor.id and events[0]["outcome"] == "denied"


async def test_a_parallel_refresh_with_one_token_succeeds_exactly_once(app, client, doctor):
    token = doctor.tokens["refresh_token"]

    async def refresh_from(ip: str) -> httpx.Response:
        transport = httpx.ASGITransport(app=app, client=(ip, 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            return await c.post("/api/v1/auth/refresh", json={"refresh_token": token})

    results = await asyncio.gather(refresh_from("198.51.100.1"), refresh_from("198.51.100.2"))
    statuses = sorted(r.status_code for r in results)
    assert statuses == [200, 401], [r.text for r in results]
    winner = next(r for r in results if r.status_code == 200).json()
    # Losing the race is not theft: the winner's session goes on.
    assert (await me(client, winner["access_token"])).status_code == 200
    again = await client.post("/api/v1/auth/refresh", json={"refresh_token": winner["refresh_token"]})
    assert again.status_code == 200


async def test_a_deactivated_member_loses_access_at_once(client, factory: Factory):
    tenant = await factory.tenant()
    admin, doctor = await factory.user(tenant, "hospital_admin"), await factory.user(tenant, "doctor")
    await factory.login(doctor)
    r = await client.patch(
        f"/api/v1/staff/{doctor.membership_id}", headers=await factory.headers(admin), json={"status": "deactivated"}
    )
    assert r.status_code == 200, r.text
    assert_problem(await me(client, doctor.tokens["access_token"]), 401)
    assert_problem(
        await client.post("/api/v1/auth/refresh", json={"refresh_token": doctor.tokens["refresh_token"]}), 401
    )
