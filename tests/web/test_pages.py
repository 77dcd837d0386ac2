"""Server-rendered pages per role: forms validate inline and keep what was typed, navigation follows
permissions, admin actions work through the forms."""

from __future__ import annotations

import re

from tests.factories import Factory
from tests.web.helpers import field_error, web_login


def _csrf(client) -> str:  # type: ignore[no-untyped-def]
    return client.cookies["cb_csrf"]


def _tok(client) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {"csrf_token": _csrf(client)}


async def test_receptionist_registers_a_patient_with_inline_errors(client, factory: Factory):
    tenant = await factory.tenant()
    desk = await factory.user(tenant, "receptionist")
    await web_login(client, desk)
    bad = await client.post("/patients/new", data={
        "given_name": "Meera", "family_name": "", "phone": "12", "email": "meera@", "birth_date": "2999-01-01",
        "sex": "female", "csrf_token": _csrf(client),
    })  # fmt: skip
    assert bad.status_code == 422
    assert field_error(bad.text, "family_name") and field_error(bad.text, "phone")
    assert field_error(bad.text, "email") and field_error(bad.text, "birth_date")
    assert 'value="Meera"' in bad.text  # what was typed stays
    ok = await client.post("/patients/new", data={
        "given_name": "Meera", "family_name": "Iyer", "phone": "98450 12345", "email": "", "birth_date": "1985-02-03",
        "sex": "female", "csrf_token": _csrf(client),
    })  # fmt: skip
    assert ok.status_code == 303 and ok.headers["location"].startswith("/patients/")
    page = await client.get(ok.headers["location"])
    assert "Meera Iyer" in page.text and "+919845012345" in page.text
    found = await client.get("/patients", params={"q": "Iyer"})
    assert "Iyer, Meera" in found.text
    assert (await client.get("/patients", params={"sort": "nonsense"})).status_code == 200


async def test_pharmacist_cannot_register_and_sees_no_admin_nav(client, factory: Factory):
    tenant = await factory.tenant()
    pharmacist = await factory.user(tenant, "pharmacist")
    await web_login(client, pharmacist)
    home = await client.get("/")
    assert 'href="/patients"' in home.text and "Register a patient" not in home.text
    assert 'href="/admin/' not in home.text
    assert (await client.get("/patients/new")).status_code == 403
    assert (await client.get("/admin/staff")).status_code == 403


async def test_admin_invites_staff_changes_role_and_deactivates(client, factory: Factory, mailbox):
    tenant = await factory.tenant()
    admin = await factory.user(tenant, "hospital_admin")
    await web_login(client, admin)
    bad = await client.post("/admin/staff/invite", data={
        "full_name": "R", "email": "not-email", "role": "surgeon", "csrf_token": _csrf(client)})
    assert bad.status_code == 422
    assert field_error(bad.text, "full_name") and field_error(bad.text, "email") and field_error(bad.text, "role")
    email = f"ravi-{tenant.slug}@example.org"
    ok = await client.post("/admin/staff/invite", data={
        "full_name": "Ravi Rao", "email": email, "role": "nurse", "title": "", "department_id": "",
        "csrf_token": _csrf(client)})  # fmt: skip
    assert ok.status_code == 303
    token = mailbox.link_token(await mailbox.wait_for(email))
    listing = await client.get("/admin/staff", params={"q": "Ravi"})
    assert "Ravi Rao" in listing.text and "Invited" in listing.text
    membership_id = re.search(r'action="/admin/staff/([0-9a-f-]{36})"', listing.text).group(1)
    r = await client.post(f"/admin/staff/{membership_id}", data={"role": "doctor", "csrf_token": _csrf(client)})
    assert r.status_code == 303
    r = await client.post(f"/admin/staff/{membership_id}", data={"status": "deactivated", "csrf_token": _csrf(client)})
    assert r.status_code == 303
    listing = await client.get("/admin/staff", params={"status": "deactivated"})
    assert "Ravi Rao" in listing.text and "Doctor" in listing.text
    # The invitation link opens the set-password page.
    page = await client.get("/reset-password", params={"token": token})
    assert "Choose your password" in page.text


async def test_locations_validate_timezone_and_departments(client, factory: Factory):
    tenant = await factory.tenant()
    admin = await factory.user(tenant, "hospital_admin")
    await web_login(client, admin)
    bad = await client.post("/admin/locations", data={
        "name": "North Wing", "country": "in", "timezone": "Mars/Olympus", "latitude": "abc", **_tok(client)})
    assert bad.status_code == 422
    assert "IANA" in field_error(bad.text, "timezone") and field_error(bad.text, "latitude")
    assert 'value="North Wing"' in bad.text
    ok = await client.post("/admin/locations", data={
        "name": "North Wing", "country": "in", "timezone": "Asia/Kolkata", "city": "Pune", "csrf_token": _csrf(client)})
    assert ok.status_code == 303
    page = await client.get("/admin/locations")
    assert "North Wing" in page.text
    dep = await client.post("/admin/departments", data={"name": "Cardiology", "location_id": "", **_tok(client)})
    assert dep.status_code == 303 and "Cardiology" in (await client.get("/admin/locations")).text


async def test_audit_viewer_filters_and_devices_page(client, factory: Factory):
    tenant = await factory.tenant()
    admin = await factory.user(tenant, "hospital_admin")
    await web_login(client, admin)
    page = await client.get("/admin/audit", params={"action": "auth.login", "outcome": "success"})
    assert page.status_code == 200 and "auth.login.succeeded" in page.text
    bad = await client.get("/admin/audit", params={"since": "yesterday"})
    assert field_error(bad.text, "since")
    assert (await client.get("/admin/devices")).status_code == 200


async def test_platform_admin_creates_and_suspends_a_tenant(client, factory: Factory):
    platform = await factory.user(None, "platform_admin")
    await web_login(client, platform)
    home = await client.get("/", follow_redirects=True)
    assert "Create an organisation" in home.text
    bad = await client.post("/platform/tenants", data={
        "name": "X", "slug": "Bad Slug!", "kind": "hospital", "country": "IN", "currency": "INR",
        "timezone": "Nowhere/City", "admin_email": "nope", "admin_name": "A", "csrf_token": _csrf(client)})  # fmt: skip
    assert bad.status_code == 422
    for name in ("name", "slug", "timezone", "admin_email", "admin_name"):
        assert field_error(bad.text, name), name
    slug = f"web-{factory.__hash__() % 100000}"
    ok = await client.post("/platform/tenants", data={
        "name": "Lotus Clinic", "slug": slug, "kind": "clinic", "country": "IN", "currency": "INR",
        "timezone": "Asia/Kolkata", "admin_email": f"admin@{slug}.example", "admin_name": "Lata Admin",
        "csrf_token": _csrf(client)})  # fmt: skip
    assert ok.status_code == 303
    listing = await client.get("/platform/tenants", params={"q": "Lotus"})
    tenant_id = re.search(r'action="/platform/tenants/([0-9a-f-]{36})/status"', listing.text).group(1)
    r = await client.post(f"/platform/tenants/{tenant_id}/status", data={"status": "suspended", **_tok(client)})
    assert r.status_code == 303
    assert "Reactivate" in (await client.get("/platform/tenants", params={"q": "Lotus"})).text


async def test_patient_home_shows_registration_and_clinic(client, factory: Factory, mailbox):
    tenant = await factory.tenant(kind="clinic")
    email = f"pat-{tenant.slug}@patients.example"
    patient = await factory.user(tenant, "patient", password=None, email=email)
    await factory.patient(tenant, user=patient, given="Kiran", family="Das")
    r = await client.get("/patient-login")
    r = await client.post("/patient-login", data={"destination": email, "csrf_token": _csrf(client)})
    assert "Enter your code" in r.text
    code = mailbox.code(await mailbox.wait_for(email))
    wrong = await client.post("/patient-login/code", data={"destination": email, "code": "12345", **_tok(client)})
    assert wrong.status_code == 422 and field_error(wrong.text, "code")
    ok = await client.post("/patient-login/code", data={"destination": email, "code": code, **_tok(client)})
    assert ok.status_code == 303
    home = await client.get("/")
    assert "My care" in home.text and "Kiran Das" in home.text and tenant.name in home.text
    assert 'href="/patients"' not in home.text
    assert (await client.get("/patients")).status_code == 403


async def test_manifest(client):
    r = await client.get("/manifest.webmanifest")
    assert r.status_code == 200 and r.json()["start_url"] == "/" and r.headers["content-type"].startswith(
        "application/manifest+json")
