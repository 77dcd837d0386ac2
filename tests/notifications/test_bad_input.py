"""Phone numbers (``phonenumbers``) and email addresses are refused where they are entered, with a field error:
patient registration, a location's phone, a staff invitation, a new tenant's admin, a sign-in code request;
notification preferences refuse unknown channels and categories (security codes cannot be switched off)."""

from __future__ import annotations

import pytest

from tests.api.helpers import assert_problem, bearer, field_errors
from tests.factories import Factory

BAD_PHONES = ["12", "+91 12345", "phone me", "+1 000 000 0000", "98450-1234x"]
BAD_EMAILS = ["not-an-email", "a@b", "meera@", "@example.org", "two@@example.org", "spaces in@example.org"]


@pytest.mark.parametrize("phone", BAD_PHONES)
async def test_patient_registration_refuses_bad_phones(client, factory: Factory, phone):
    headers = await factory.headers(await factory.user(await factory.tenant(), "receptionist"))
    r = await client.post("/api/v1/patients", headers=headers,
                          json={"given_name": "Ravi", "family_name": "Shah", "phone": phone})  # fmt: skip
    assert "phone" in field_errors(assert_problem(r, 422))


@pytest.mark.parametrize("email", BAD_EMAILS)
async def test_patient_registration_refuses_bad_emails(client, factory: Factory, email):
    headers = await factory.headers(await factory.user(await factory.tenant(), "receptionist"))
    r = await client.post("/api/v1/patients", headers=headers,
                          json={"given_name": "Ravi", "family_name": "Shah", "email": email})  # fmt: skip
    assert "email" in field_errors(assert_problem(r, 422))


async def test_a_patient_phone_is_stored_in_e164(client, factory: Factory):
    headers = await factory.headers(await factory.user(await factory.tenant(), "receptionist"))
    r = await client.post("/api/v1/patients", headers=headers,
                          json={"given_name": "Ravi", "family_name": "Shah", "phone": "098450 12345"})  # fmt: skip
    assert r.status_code == 201, r.text
    assert r.json()["phone"] == "+919845012345"


async def test_location_phones_are_checked_in_the_locations_country(client, factory: Factory):
    tenant = await factory.tenant()
    headers = await factory.headers(await factory.user(tenant, "hospital_admin"))
    base = {"name": "Annex", "country": "US", "timezone": "America/New_York"}
    for phone in BAD_PHONES:
        r = await client.post("/api/v1/locations", headers=headers, json=base | {"phone": phone})
        assert "phone" in field_errors(assert_problem(r, 422)), phone
        r = await client.patch(f"/api/v1/locations/{tenant.location_id}", headers=headers, json={"phone": phone})
        assert "phone" in field_errors(assert_problem(r, 422)), phone
    r = await client.post("/api/v1/locations", headers=headers, json=base | {"phone": "(650) 253-0000"})
    assert r.status_code == 201 and r.json()["phone"] == "+16502530000", r.text
    r = await client.patch(f"/api/v1/locations/{tenant.location_id}", headers=headers, json={"phone": "020 2612 3456"})
    assert r.status_code == 200 and r.json()["phone"] == "+912026123456", r.text


@pytest.mark.parametrize("email", BAD_EMAILS)
async def test_staff_invitations_refuse_bad_emails(client, factory: Factory, email, mailbox):
    headers = await factory.headers(await factory.user(await factory.tenant(), "hospital_admin"))
    r = await client.post("/api/v1/staff", headers=headers,
                          json={"email": email, "full_name": "Nita Rao", "role": "nurse"})  # fmt: skip
    assert "email" in field_errors(assert_problem(r, 422))
    assert not [m for m in mailbox.messages if str(m["To"]).strip() == email]


async def test_a_new_tenants_admin_email_is_checked(client, factory: Factory):
    headers = await factory.headers(await factory.user(None, "platform_admin"))
    r = await client.post("/api/v1/tenants", headers=headers, json={
        "name": "Bad Email Clinic", "slug": "bad-email-clinic", "kind": "clinic", "country": "IN", "currency": "INR",
        "timezone": "Asia/Kolkata", "admin_email": "admin@", "admin_name": "A Admin"})  # fmt: skip
    assert "admin_email" in field_errors(assert_problem(r, 422))


@pytest.mark.parametrize("destination", ["12", "+91 12345", "a@b", "not a thing"])
async def test_sign_in_codes_refuse_bad_destinations(client, destination):
    r = await client.post("/api/v1/auth/otp/request", json={"destination": destination})
    assert "destination" in field_errors(assert_problem(r, 422))


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"preferences": [{"channel": "pigeon", "category": "booking", "enabled": False}]}, "channel"),
        ({"preferences": [{"channel": "email", "category": "security", "enabled": False}]}, "category"),
        ({"preferences": [{"channel": "email", "category": "booking", "enabled": "maybe"}]}, "enabled"),
        ({"quiet_hours": {"starts": "25:00", "ends": "07:00"}}, "starts"),
        ({"quiet_hours": {"starts": "22:00", "ends": "22:00"}}, "quiet_hours"),
        ({"preferences": [], "phone": "+919845012345"}, "phone"),  # destinations are not set here
    ],
)
async def test_notification_preferences_refuse_bad_input(client, factory: Factory, body, field):
    user = await factory.user(await factory.tenant(), "patient")
    headers = bearer(await factory.login(user))
    r = await client.put("/api/v1/my/notification-preferences", headers=headers, json=body)
    assert field in field_errors(assert_problem(r, 422)), r.text
    prefs = (await client.get("/api/v1/my/notification-preferences", headers=headers)).json()
    assert all(p["enabled"] for p in prefs["preferences"]) and prefs["quiet_hours"] is None  # nothing written
