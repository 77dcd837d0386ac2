"""Web sign-in with cookies: CSRF, MFA step, device pending, refresh, sign-out, safe redirects."""

from __future__ import annotations

import pyotp

from tests.factories import Factory
from tests.web.helpers import csrf, field_error, web_login


async def test_login_page_sets_csrf_cookie_and_strict_headers(client):
    r = await client.get("/login")
    assert r.status_code == 200
    assert 'name="csrf_token"' in r.text and "cb_csrf" in r.headers["set-cookie"]
    assert "httponly" in r.headers["set-cookie"].lower() and "samesite=lax" in r.headers["set-cookie"].lower()
    assert "script-src 'self'" in r.headers["content-security-policy"]
    assert "<script>" not in r.text and " style=" not in r.text


async def test_post_without_csrf_is_refused(client, factory: Factory):
    tenant = await factory.tenant()
    doctor = await factory.user(tenant, "doctor")
    await csrf(client)
    r = await client.post("/login", data={"email": doctor.email, "password": doctor.password})
    assert r.status_code == 403 and "form has expired" in r.text
    r = await client.post("/login", data={"email": doctor.email, "password": doctor.password, "csrf_token": "x" * 43})
    assert r.status_code == 403
    assert "cb_access" not in client.cookies


async def test_anonymous_page_redirects_to_login_with_next(client):
    r = await client.get("/account?x=1")
    assert r.status_code == 303 and r.headers["location"] == "/login?next=/account%3Fx%3D1"


async def test_doctor_signs_in_with_cookies_and_sees_home(client, factory: Factory):
    tenant = await factory.tenant()
    doctor = await factory.user(tenant, "doctor")
    r = await web_login(client, doctor)
    assert r.headers["location"] == "/"
    set_cookie = r.headers.get_list("set-cookie")
    access = next(c for c in set_cookie if c.startswith("cb_access="))
    assert "HttpOnly" in access and "SameSite=lax" in access
    home = await client.get("/")
    assert home.status_code == 200
    assert "Find a patient" in home.text and tenant.name in home.text
    assert 'href="/admin/staff"' not in home.text  # navigation by permission


async def test_bad_password_shows_error_and_keeps_email(client, factory: Factory):
    tenant = await factory.tenant()
    doctor = await factory.user(tenant, "doctor")
    token = await csrf(client)
    r = await client.post("/login", data={"email": doctor.email, "password": "nope-nope", "csrf_token": token})
    assert r.status_code == 401
    assert "The email or password is not right." in r.text
    assert f'value="{doctor.email}"' in r.text and "nope-nope" not in r.text
    r = await client.post("/login", data={"email": "not-an-email", "password": "", "csrf_token": token})
    assert r.status_code == 422 and field_error(r.text, "email") and field_error(r.text, "password")


async def test_open_redirect_is_refused(client, factory: Factory):
    tenant = await factory.tenant()
    doctor = await factory.user(tenant, "doctor")
    token = await csrf(client)
    for evil in ("//evil.example/x", "https://evil.example", "/\\evil.example"):
        r = await client.post(
            "/login", data={"email": doctor.email, "password": doctor.password, "next": evil, "csrf_token": token}
        )
        assert r.headers["location"] == "/"
        client.cookies.delete("cb_access")


async def test_admin_mfa_step(client, factory: Factory):
    tenant = await factory.tenant()
    admin = await factory.user(tenant, "hospital_admin")
    token = await csrf(client)
    r = await client.post("/login", data={"email": admin.email, "password": admin.password, "csrf_token": token})
    assert r.headers["location"].startswith("/login/mfa")
    page = await client.get(r.headers["location"])
    assert "Enter your code" in page.text
    wrong = await client.post("/login/mfa", data={"code": "000000", "csrf_token": token})
    assert wrong.status_code == 401 and field_error(wrong.text, "code")
    ok = await client.post("/login/mfa", data={"code": pyotp.TOTP(admin.totp_secret).now(), "csrf_token": token})
    assert ok.status_code == 303 and ok.headers["location"] == "/"
    home = await client.get("/")
    assert "Hospital administration" in home.text and "data-chart=" in home.text


async def test_admin_without_mfa_is_forced_to_enrol(client, factory: Factory):
    tenant = await factory.tenant()
    admin = await factory.user(tenant, "hospital_admin", mfa=False)
    r = await web_login(client, admin)
    assert r.headers["location"] == "/account/mfa"
    assert (await client.get("/patients")).headers["location"] == "/account/mfa"
    page = await client.get("/account/mfa")
    assert "Your role needs two-step sign-in" in page.text
    token = client.cookies["cb_csrf"]
    scan = await client.post("/account/mfa/start", data={"csrf_token": token})
    assert "<svg" in scan.text and "<script>" not in scan.text
    import re

    secret = re.search(r'id="mfa-secret">([A-Z2-7]+)<', scan.text).group(1)
    bad = await client.post("/account/mfa/confirm", data={"code": "12", "csrf_token": token})
    assert bad.status_code == 422 and field_error(bad.text, "code")
    done = await client.post("/account/mfa/confirm", data={"code": pyotp.TOTP(secret).now(), "csrf_token": token})
    assert done.status_code == 200 and "recovery codes" in done.text
    assert len(re.findall(r"<li>[0-9a-f]{5}-[0-9a-f]{5}</li>", done.text)) == 10
    assert (await client.get("/")).status_code == 200


async def test_device_pending_then_approved(client, factory: Factory):
    tenant = await factory.tenant(device_approval=True)
    doctor = await factory.user(tenant, "doctor")
    token = await csrf(client)
    r = await client.post("/login", data={"email": doctor.email, "password": doctor.password, "csrf_token": token})
    assert r.headers["location"] == "/login/device-pending"
    assert client.cookies.get("cb_device")
    page = await client.get("/login/device-pending")
    assert "waiting for approval" in page.text
    assert "cb_access" not in client.cookies


async def test_transparent_refresh_and_logout(client, factory: Factory):
    tenant = await factory.tenant()
    nurse = await factory.user(tenant, "nurse")
    await web_login(client, nurse)
    old_refresh = client.cookies["cb_refresh"]
    client.cookies.delete("cb_access")  # as if it had expired
    r = await client.get("/account")
    assert r.status_code == 200 and "Your account" in r.text
    assert client.cookies["cb_refresh"] != old_refresh and client.cookies.get("cb_access")
    out = await client.post("/logout", data={"csrf_token": client.cookies["cb_csrf"]})
    assert out.status_code == 303 and out.headers["location"] == "/login"
    assert "cb_access" not in client.cookies
    assert (await client.get("/account")).status_code == 303


async def test_wrong_role_gets_403_page(client, factory: Factory):
    tenant = await factory.tenant()
    nurse = await factory.user(tenant, "nurse")
    await web_login(client, nurse)
    r = await client.get("/admin/audit")
    assert r.status_code in (403, 404)
