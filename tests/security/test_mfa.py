"""TOTP MFA: the two-step sign-in, replay refusal, single-use recovery codes, and an admin who has
not enrolled yet reaching nothing but enrolment until they do."""

from __future__ import annotations

import pyotp
import pytest

from tests.api.helpers import assert_problem, audit_actions, bearer, field_errors
from tests.api.test_route_access import TABLE, call
from tests.factories import Factory, UserInfo

# What an admin may reach before enrolling MFA: their profile, enrolment, sessions, sign-out.
ALLOWED_BEFORE_ENROLMENT = {
    ("GET", "/api/v1/me"),
    ("POST", "/api/v1/me/mfa/enrolment"),
    ("POST", "/api/v1/me/mfa/enrolment/confirm"),
    ("GET", "/api/v1/me/sessions"),
    ("DELETE", "/api/v1/me/sessions/{session_id}"),
    ("POST", "/api/v1/auth/logout"),
    ("POST", "/api/v1/auth/switch"),
}


async def password_step(client, user: UserInfo):  # type: ignore[no-untyped-def]
    r = await client.post("/api/v1/auth/login", json={"email": user.email, "password": user.password})
    assert r.status_code == 202, r.text
    body = r.json()
    assert body["status"] == "mfa_required" and "access_token" not in body
    return body["mfa_token"]


async def mfa_step(client, mfa_token: str, code: str):  # type: ignore[no-untyped-def]
    return await client.post("/api/v1/auth/mfa", json={"mfa_token": mfa_token, "code": code})


@pytest.fixture
async def admin(factory: Factory) -> UserInfo:
    return await factory.user(await factory.tenant(), "hospital_admin")


async def test_admin_signs_in_with_password_then_totp(client, admin, owner_sessionmaker):
    token = await password_step(client, admin)
    assert_problem(await mfa_step(client, token, "000000"), 401)
    r = await mfa_step(client, token, admin.totp())
    assert r.status_code == 200, r.text
    assert r.json()["mfa_enrolment_required"] is False
    assert (await client.get("/api/v1/staff", headers=bearer(r.json()))).status_code == 200
    events = await audit_actions(owner_sessionmaker, admin.tenant_id, actor_user_id=admin.id)
    assert [e["action"] for e in events][:2] == ["auth.login.failed", "auth.login.succeeded"]
    assert events[1]["details"]["mfa"] is True


async def test_the_mfa_token_is_not_an_access_token_and_vice_versa(client, admin):
    token = await password_step(client, admin)
    assert_problem(await client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}), 401)
    tokens = (await mfa_step(client, token, admin.totp())).json()
    assert_problem(await mfa_step(client, tokens["access_token"], admin.totp()), 401)


async def test_a_totp_code_cannot_be_replayed(client, admin):
    code = admin.totp()
    assert (await mfa_step(client, await password_step(client, admin), code)).status_code == 200
    assert_problem(await mfa_step(client, await password_step(client, admin), code), 401)


async def enrol(client, tokens) -> tuple[str, list[str]]:  # type: ignore[no-untyped-def]
    r = await client.post("/api/v1/me/mfa/enrolment", headers=bearer(tokens))
    assert r.status_code == 200, r.text
    secret = r.json()["secret"]
    assert r.json()["otpauth_uri"].startswith("otpauth://totp/") and "<svg" in r.json()["qr_svg"]
    r = await client.post("/api/v1/me/mfa/enrolment/confirm", headers=bearer(tokens), json={"code": "000000"})
    assert "code" in field_errors(assert_problem(r, 422))
    r = await client.post(
        "/api/v1/me/mfa/enrolment/confirm", headers=bearer(tokens), json={"code": pyotp.TOTP(secret).now()}
    )
    assert r.status_code == 200, r.text
    return secret, r.json()["recovery_codes"]


async def test_an_admin_without_mfa_reaches_only_enrolment_until_enrolled(client, factory: Factory, owner_sessionmaker):
    admin = await factory.user(await factory.tenant(), "hospital_admin", mfa=False)
    r = await client.post("/api/v1/auth/login", json={"email": admin.email, "password": admin.password})
    assert r.status_code == 200, r.text
    tokens = r.json()
    assert tokens["mfa_enrolment_required"] is True
    headers = bearer(tokens)
    assert (await client.get("/api/v1/me", headers=headers)).json()["mfa_enrolment_required"] is True

    for method, path in sorted(set(TABLE) - ALLOWED_BEFORE_ENROLMENT):
        r = await call(client, method, path, headers)
        assert_problem(r, 403)
        assert "two-step" in r.json()["detail"], (method, path)
    # A refreshed token is just as limited.
    refreshed = (await client.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})).json()
    assert refreshed["mfa_enrolment_required"] is True
    assert_problem(await client.get("/api/v1/staff", headers=bearer(refreshed)), 403)

    await enrol(client, refreshed)
    staff = await client.get("/api/v1/staff", headers=bearer(refreshed))
    assert staff.status_code == 200, staff.text
    assert (await client.get("/api/v1/me", headers=bearer(refreshed))).json()["mfa_enabled"] is True
    assert await audit_actions(owner_sessionmaker, admin.tenant_id, action="auth.mfa.enabled")


async def test_a_recovery_code_works_once(client, factory: Factory):
    admin = await factory.user(await factory.tenant(), "hospital_admin", mfa=False)
    tokens = (await client.post("/api/v1/auth/login", json={"email": admin.email, "password": admin.password})).json()
    _, codes = await enrol(client, tokens)
    assert len(codes) == 10 and len(set(codes)) == 10

    r = await mfa_step(client, await password_step(client, admin), codes[0].upper())
    assert r.status_code == 200, r.text
    assert (await client.get("/api/v1/staff", headers=bearer(r.json()))).status_code == 200
    assert_problem(await mfa_step(client, await password_step(client, admin), codes[0]), 401)
    assert (await mfa_step(client, await password_step(client, admin), codes[1])).status_code == 200


async def test_admins_cannot_turn_mfa_off(client, admin, factory: Factory):
    r = await client.post("/api/v1/me/mfa/disable", headers=await factory.headers(admin), json={"code": "123456"})
    assert_problem(r, 403)


async def test_other_staff_may_enrol_and_then_need_the_second_step(client, factory: Factory):
    doctor = await factory.user(await factory.tenant(), "doctor")
    tokens = await factory.login(doctor)
    assert tokens["mfa_enrolment_required"] is False
    secret, _ = await enrol(client, tokens)
    doctor.totp_secret = secret
    token = await password_step(client, doctor)
    assert_problem(await mfa_step(client, token, "000000"), 401)
    # The current step's code was spent on the enrolment; the next step's is within the drift allowed.
    r = await mfa_step(client, token, pyotp.TOTP(secret).at(_next_step()))
    assert r.status_code == 200, r.text


def _next_step():  # type: ignore[no-untyped-def]
    """A time in the next 30-second step (accepted: the server allows one step of clock drift)."""
    from datetime import UTC, datetime, timedelta

    return datetime.now(UTC) + timedelta(seconds=30)
