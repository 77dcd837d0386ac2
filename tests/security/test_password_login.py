"""Password sign-in: one answer for a wrong password and an unknown account, soft lockout,
rate limits per IP and per account (memory and Redis), the password policy, reset by emailed
single-use link, and staff invitations."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import text

from carebase.core.ratelimit import MemoryRateLimiter, RedisRateLimiter
from tests.api.helpers import assert_problem, audit_actions, bearer, field_errors, scalar
from tests.factories import Factory, UserInfo
from tests.smtp import Mailbox


def login(client: httpx.AsyncClient, email: str | None, password: str, **extra: str):  # type: ignore[no-untyped-def]
    return client.post("/api/v1/auth/login", json={"email": email, "password": password, **extra})


@pytest.fixture
async def doctor(factory: Factory) -> UserInfo:
    return await factory.user(await factory.tenant(), "doctor")


async def test_wrong_password_and_unknown_account_get_the_same_answer(client, doctor, owner_sessionmaker):
    wrong = assert_problem(await login(client, doctor.email, "not-the-password"), 401)
    unknown = assert_problem(await login(client, f"nobody-{uuid.uuid4().hex[:6]}@example.org", "whatever"), 401)
    assert wrong == unknown
    assert (await login(client, doctor.email, doctor.password)).status_code == 200
    failed = await audit_actions(owner_sessionmaker, doctor.tenant_id, action="auth.login.failed")
    assert [e["details"]["reason"] for e in failed] == ["bad_credentials"]


async def test_repeated_failures_lock_the_account_for_a_while(app, client, doctor, owner_sessionmaker):
    for _ in range(5):
        assert_problem(await login(client, doctor.email, "not-the-password"), 401)
    app.state.limiter = MemoryRateLimiter()  # the lockout, not the rate limit, is under test
    r = await login(client, doctor.email, doctor.password)  # even the right password waits
    assert_problem(r, 429)
    assert int(r.headers["retry-after"]) >= 1
    assert "access_token" not in r.text


async def test_the_lockout_grows_with_each_failure(app, client, doctor, owner_sessionmaker):
    async with owner_sessionmaker() as s, s.begin():
        await s.execute(text("UPDATE users SET failed_logins = 8 WHERE id = :u"), {"u": doctor.id})
    assert_problem(await login(client, doctor.email, "not-the-password"), 401)  # the 9th: 2^4 = 16 s
    r = await login(client, doctor.email, doctor.password)
    assert_problem(r, 429)
    assert 10 <= int(r.headers["retry-after"]) <= 17


@pytest.fixture(params=["memory", "redis"])
async def limiter(request, app) -> AsyncIterator[str]:  # type: ignore[no-untyped-def]
    """Run a test against the in-memory limiter and against a real Redis (skipped without one)."""
    if request.param == "memory":
        app.state.limiter = MemoryRateLimiter()
        yield "memory"
        return
    redis_limiter = RedisRateLimiter(request.getfixturevalue("redis_url"), prefix=f"test:{uuid.uuid4().hex}:")
    app.state.limiter = redis_limiter
    yield "redis"
    await redis_limiter.close()
    app.state.limiter = MemoryRateLimiter()


def client_from(app, ip: str) -> httpx.AsyncClient:  # type: ignore[no-untyped-def]
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=(ip, 40000)), base_url="http://testserver")


@pytest.mark.redis
async def test_login_is_rate_limited_per_ip(app, client, limiter, settings, monkeypatch):
    monkeypatch.setattr(settings.rate_limits, "login_per_ip", "3/60")
    for i in range(3):
        # A forged X-Forwarded-For changes nothing: no proxy is trusted by default.
        headers = {"X-Forwarded-For": f"192.0.2.{i}"}
        r = await client.post(
            "/api/v1/auth/login", json={"email": f"a{i}@example.org", "password": "x"}, headers=headers
        )
        assert_problem(r, 401)
    r = await client.post(
        "/api/v1/auth/login",
        json={"email": "a9@example.org", "password": "x"},
        headers={"X-Forwarded-For": "192.0.2.9"},
    )
    assert_problem(r, 429)
    assert 1 <= int(r.headers["retry-after"]) <= 60
    async with client_from(app, "198.51.100.77") as other:
        assert_problem(await login(other, "a1@example.org", "x"), 401)  # another IP is not limited


@pytest.mark.redis
async def test_login_is_rate_limited_per_account(app, client, limiter, doctor):
    for _ in range(5):
        assert_problem(await login(client, "ghost@example.org", "x"), 401)
    r = await login(client, "GHOST@example.org", "x")
    assert_problem(r, 429)
    assert int(r.headers["retry-after"]) >= 1
    async with client_from(app, "198.51.100.78") as other:  # from anywhere
        assert_problem(await login(other, "ghost@example.org", "x"), 429)
    assert (await login(client, doctor.email, doctor.password)).status_code == 200  # others are not affected


@pytest.mark.parametrize(
    ("password", "message"),
    [("short1", "at least 8"), ("password1", "too common"), ("aaaaaaaaaaaa", "too common"), ("EMAIL", "email")],
)
async def test_password_policy(client, doctor, factory: Factory, password, message):
    password = doctor.email if password == "EMAIL" else password
    r = await client.put(
        "/api/v1/me/password",
        headers=await factory.headers(doctor),
        json={"current_password": doctor.password, "new_password": password},
    )
    errors = field_errors(assert_problem(r, 422))
    assert message in errors["new_password"]
    assert password not in r.text  # the submitted value is never echoed
    assert (await login(client, doctor.email, doctor.password)).status_code == 200


async def test_changing_the_password_ends_other_sessions(client, doctor, factory: Factory):
    other = await factory.login(doctor)
    current = await factory.login(doctor)
    r = await client.put(
        "/api/v1/me/password", headers=bearer(current), json={"current_password": "nope", "new_password": "x" * 3}
    )
    assert "current_password" in field_errors(assert_problem(r, 422))
    r = await client.put(
        "/api/v1/me/password",
        headers=bearer(current),
        json={"current_password": doctor.password, "new_password": "a new long passphrase"},
    )
    assert r.status_code == 204, r.text
    assert (await client.get("/api/v1/me", headers=bearer(current))).status_code == 200
    assert_problem(await client.get("/api/v1/me", headers=bearer(other)), 401)
    assert_problem(await login(client, doctor.email, doctor.password), 401)
    assert (await login(client, doctor.email, "a new long passphrase")).status_code == 200


async def forgot(client, mailbox: Mailbox, email: str) -> str:  # type: ignore[no-untyped-def]
    before = len(mailbox.to(email))
    r = await client.post("/api/v1/auth/password/forgot", json={"email": email})
    assert r.status_code == 202
    return Mailbox.link_token(await mailbox.wait_for(email, after=before))


async def test_password_reset_by_single_use_link(client, mailbox, doctor, factory: Factory, owner_sessionmaker):
    old = await factory.login(doctor)
    token = await forgot(client, mailbox, doctor.email)

    r = await client.post("/api/v1/auth/password/reset", json={"token": token, "new_password": "password1"})
    assert "new_password" in field_errors(assert_problem(r, 422))  # the policy applies; the link survives
    r = await client.post(
        "/api/v1/auth/password/reset", json={"token": token, "new_password": "brand new secret words"}
    )
    assert r.status_code == 204, r.text

    assert (await login(client, doctor.email, "brand new secret words")).status_code == 200
    assert_problem(await login(client, doctor.email, doctor.password), 401)
    assert_problem(await client.get("/api/v1/me", headers=bearer(old)), 401)
    assert_problem(await client.post("/api/v1/auth/refresh", json={"refresh_token": old["refresh_token"]}), 401)
    r = await client.post("/api/v1/auth/password/reset", json={"token": token, "new_password": "another secret phrase"})
    assert "token" in field_errors(assert_problem(r, 422))
    assert (await login(client, doctor.email, "brand new secret words")).status_code == 200
    assert await audit_actions(owner_sessionmaker, doctor.tenant_id, action="auth.password.reset")


async def test_forgot_password_answers_the_same_for_unknown_emails(client, mailbox, doctor):
    known = await client.post("/api/v1/auth/password/forgot", json={"email": doctor.email})
    unknown = await client.post("/api/v1/auth/password/forgot", json={"email": "nobody-at-all@example.org"})
    assert known.status_code == unknown.status_code == 202 and known.json() == unknown.json()
    await mailbox.wait_for(doctor.email)
    assert mailbox.to("nobody-at-all@example.org") == []


async def test_a_made_up_reset_token_is_refused(client):
    r = await client.post("/api/v1/auth/password/reset", json={"token": "x" * 43, "new_password": "brand new secret"})
    assert "token" in field_errors(assert_problem(r, 422))


async def test_staff_invitation_by_email(client, mailbox, factory: Factory, owner_sessionmaker):
    tenant = await factory.tenant()
    admin = await factory.user(tenant, "hospital_admin")
    email = f"new-nurse-{uuid.uuid4().hex[:6]}@example.org"
    r = await client.post(
        "/api/v1/staff",
        headers=await factory.headers(admin),
        json={"email": email, "full_name": "Nadia Nurse", "role": "nurse", "title": "Ward nurse"},
    )
    assert r.status_code == 201, r.text
    assert r.json()["status"] == "invited"
    message = await mailbox.wait_for(email)
    assert tenant.name in message["Subject"]
    assert_problem(await login(client, email, "anything at all"), 401)  # no password yet

    r = await client.post(
        "/api/v1/auth/password/reset", json={"token": Mailbox.link_token(message), "new_password": "nadia's own words"}
    )
    assert r.status_code == 204, r.text
    r = await login(client, email, "nadia's own words")
    assert r.status_code == 200, r.text
    assert r.json()["role"] == "nurse" and r.json()["tenant_id"] == str(tenant.id)
    staff = (await client.get("/api/v1/staff?role=nurse", headers=await factory.headers(admin))).json()["items"]
    assert [(s["email"], s["status"]) for s in staff] == [(email, "active")]
    assert await audit_actions(owner_sessionmaker, tenant.id, action="identity.staff.invited")
    assert await scalar(owner_sessionmaker, "SELECT count(*) FROM outbox WHERE tenant_id = :t", t=tenant.id) >= 1
