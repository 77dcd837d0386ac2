"""Every /api/v1 endpoint: anonymous callers get 401, a role without the permission gets 403,
and a role with it gets past the check. Routes are read from the app itself, so a new endpoint
fails ``test_every_route_is_in_the_table`` until someone decides who may call it."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
from fastapi.routing import iter_route_contexts

from tests.api.helpers import assert_problem, bearer
from tests.factories import Factory, UserInfo


@dataclass(frozen=True)
class Access:
    refused: str | None  # a role that must get 403 (None: any signed-in user may call it)
    allowed: str  # a role that must get past the permission check


PUBLIC = {
    ("POST", "/api/v1/auth/login"),
    ("POST", "/api/v1/auth/mfa"),
    ("POST", "/api/v1/auth/otp/request"),
    ("POST", "/api/v1/auth/otp/verify"),
    ("POST", "/api/v1/auth/refresh"),
    ("POST", "/api/v1/auth/password/forgot"),
    ("POST", "/api/v1/auth/password/reset"),
    ("POST", "/api/v1/marketplace/registrations/code"),
    ("POST", "/api/v1/marketplace/registrations"),
}

# Public reads (the marketplace directory): they answer without a token; the status for a bare call.
PUBLIC_READS = {
    ("GET", "/api/v1/directory/search"): 200,
    ("GET", "/api/v1/directory/specialties"): 200,
    ("GET", "/api/v1/directory/practitioners/{practitioner_id}"): 404,  # a random id is not listed
    ("GET", "/api/v1/directory/practitioners/{practitioner_id}/availability"): 422,  # service_id is required
}

SELF = Access(None, "doctor")

TABLE: dict[tuple[str, str], Access] = {
    ("POST", "/api/v1/auth/logout"): SELF,
    ("POST", "/api/v1/auth/switch"): SELF,
    ("GET", "/api/v1/me"): Access(None, "patient"),
    ("PUT", "/api/v1/me/password"): SELF,
    ("POST", "/api/v1/me/mfa/enrolment"): Access(None, "hospital_admin"),
    ("POST", "/api/v1/me/mfa/enrolment/confirm"): SELF,
    ("POST", "/api/v1/me/mfa/disable"): SELF,
    ("GET", "/api/v1/me/sessions"): Access(None, "patient"),
    ("DELETE", "/api/v1/me/sessions/{session_id}"): SELF,
    ("GET", "/api/v1/me/devices"): SELF,
    ("GET", "/api/v1/my/notifications"): Access(None, "patient"),
    ("GET", "/api/v1/my/notifications/unread-count"): Access(None, "receptionist"),
    ("POST", "/api/v1/my/notifications/{notification_id}/read"): SELF,
    ("GET", "/api/v1/my/notification-preferences"): Access(None, "patient"),
    ("PUT", "/api/v1/my/notification-preferences"): SELF,
    ("POST", "/api/v1/my/push-subscriptions"): Access(None, "patient"),
    ("DELETE", "/api/v1/my/push-subscriptions/{subscription_id}"): SELF,
    ("GET", "/api/v1/staff"): Access("doctor", "hospital_admin"),
    ("POST", "/api/v1/staff"): Access("receptionist", "hospital_admin"),
    ("PATCH", "/api/v1/staff/{membership_id}"): Access("nurse", "hospital_admin"),
    ("GET", "/api/v1/devices"): Access("nurse", "hospital_admin"),
    ("POST", "/api/v1/devices/{device_id}/approve"): Access("doctor", "hospital_admin"),
    ("POST", "/api/v1/devices/{device_id}/revoke"): Access("pharmacist", "hospital_admin"),
    ("GET", "/api/v1/tenants"): Access("hospital_admin", "platform_admin"),
    ("POST", "/api/v1/tenants"): Access("hospital_admin", "platform_admin"),
    ("PATCH", "/api/v1/tenants/{tenant_id}"): Access("doctor", "platform_admin"),
    ("GET", "/api/v1/organization/policy"): Access("doctor", "hospital_admin"),
    ("PATCH", "/api/v1/organization/policy"): Access("platform_admin", "hospital_admin"),
    ("GET", "/api/v1/locations"): Access("platform_admin", "patient"),
    ("POST", "/api/v1/locations"): Access("doctor", "hospital_admin"),
    ("GET", "/api/v1/locations/{location_id}"): Access("platform_admin", "nurse"),
    ("PATCH", "/api/v1/locations/{location_id}"): Access("receptionist", "hospital_admin"),
    ("GET", "/api/v1/departments"): Access("patient", "lab_staff"),
    ("POST", "/api/v1/departments"): Access("nurse", "hospital_admin"),
    ("PATCH", "/api/v1/departments/{department_id}"): Access("doctor", "hospital_admin"),
    ("GET", "/api/v1/patients"): Access("patient", "pharmacist"),
    ("POST", "/api/v1/patients"): Access("lab_staff", "receptionist"),
    ("GET", "/api/v1/patients/{patient_id}"): Access("patient", "nurse"),
    ("PATCH", "/api/v1/patients/{patient_id}"): Access("pharmacist", "doctor"),
    ("GET", "/api/v1/my/patient-records"): Access("doctor", "patient"),
    ("GET", "/api/v1/audit-events"): Access("doctor", "hospital_admin"),
    ("POST", "/api/v1/jobs/exports"): Access(None, "patient"),
    ("GET", "/api/v1/jobs/{job_id}"): Access(None, "patient"),
    ("GET", "/api/v1/jobs/{job_id}/download"): Access(None, "receptionist"),
    ("GET", "/api/v1/dead-letters"): Access("doctor", "hospital_admin"),
    ("POST", "/api/v1/dead-letters/{event_id}/retry"): Access("receptionist", "hospital_admin"),
    ("POST", "/api/v1/dead-letters/{event_id}/discard"): Access("patient", "platform_admin"),
    ("GET", "/api/v1/practitioners/{practitioner_id}/templates"): Access("patient", "nurse"),
    ("POST", "/api/v1/practitioners/{practitioner_id}/templates"): Access("nurse", "doctor"),
    ("PATCH", "/api/v1/templates/{template_id}"): Access("receptionist", "hospital_admin"),
    ("DELETE", "/api/v1/templates/{template_id}"): Access("pharmacist", "doctor"),
    ("GET", "/api/v1/practitioners/{practitioner_id}/exceptions"): Access("patient", "receptionist"),
    ("POST", "/api/v1/practitioners/{practitioner_id}/exceptions"): Access("receptionist", "doctor"),
    ("DELETE", "/api/v1/exceptions/{exception_id}"): Access("nurse", "hospital_admin"),
    ("GET", "/api/v1/holidays"): Access("patient", "lab_staff"),
    ("POST", "/api/v1/holidays"): Access("doctor", "hospital_admin"),
    ("DELETE", "/api/v1/holidays/{holiday_id}"): Access("receptionist", "hospital_admin"),
    ("GET", "/api/v1/my/dependents"): Access("doctor", "patient"),
    ("POST", "/api/v1/my/dependents"): Access("receptionist", "patient"),
    ("DELETE", "/api/v1/my/dependents/{patient_id}"): Access("nurse", "patient"),
    ("GET", "/api/v1/appointments/{appointment_id}/ics"): Access("pharmacist", "patient"),
    ("POST", "/api/v1/practitioners/{practitioner_id}/calendar-token"): Access("receptionist", "doctor"),
    ("GET", "/api/v1/practitioners"): Access("patient", "receptionist"),
    ("POST", "/api/v1/practitioners"): Access("nurse", "doctor"),
    ("GET", "/api/v1/practitioners/{practitioner_id}"): Access("pharmacist", "nurse"),
    ("PATCH", "/api/v1/practitioners/{practitioner_id}"): Access("receptionist", "doctor"),
    ("PUT", "/api/v1/practitioners/{practitioner_id}/specialties"): Access("nurse", "hospital_admin"),
    ("PUT", "/api/v1/practitioners/{practitioner_id}/services"): Access("patient", "doctor"),
    ("GET", "/api/v1/services"): Access("lab_staff", "receptionist"),
    ("POST", "/api/v1/services"): Access("doctor", "hospital_admin"),
    ("PATCH", "/api/v1/services/{service_id}"): Access("receptionist", "hospital_admin"),
}

TABLE |= {
    ("GET", "/api/v1/practitioners/{practitioner_id}/availability"): Access("pharmacist", "patient"),
    ("POST", "/api/v1/holds"): Access("lab_staff", "receptionist"),
    ("POST", "/api/v1/appointments/{appointment_id}/confirm"): Access("pharmacist", "patient"),
    ("POST", "/api/v1/appointments/{appointment_id}/cancel"): Access("lab_staff", "receptionist"),
    ("POST", "/api/v1/appointments/{appointment_id}/reschedule"): Access("pharmacist", "receptionist"),
    ("POST", "/api/v1/appointments/{appointment_id}/approve"): Access("receptionist", "doctor"),
    ("POST", "/api/v1/appointments/{appointment_id}/decline"): Access("nurse", "doctor"),
    ("POST", "/api/v1/appointments/{appointment_id}/{step}"): Access("patient", "receptionist"),
    ("GET", "/api/v1/appointments"): Access("patient", "receptionist"),
    ("GET", "/api/v1/appointments/{appointment_id}"): Access("lab_staff", "patient"),
    ("GET", "/api/v1/my/appointments"): Access("pharmacist", "patient"),
    ("POST", "/api/v1/waitlist"): Access("lab_staff", "patient"),
    ("GET", "/api/v1/waitlist"): Access("doctor", "receptionist"),
    ("GET", "/api/v1/my/waitlist"): Access("pharmacist", "patient"),
    ("DELETE", "/api/v1/waitlist/{entry_id}"): Access("lab_staff", "patient"),
}

TABLE |= {
    ("POST", "/api/v1/my/clinics"): Access("receptionist", "patient"),
}

ROLES = ["platform_admin", "hospital_admin", "doctor", "nurse", "pharmacist", "lab_staff", "receptionist", "patient"]


def api_routes(app) -> set[tuple[str, str]]:  # type: ignore[no-untyped-def]
    """(method, path) of every /api/v1 route, included routers flattened."""
    found = set()
    for route in iter_route_contexts(app.routes):
        if route.path.startswith("/api/v1"):
            for method in set(route.methods or ()) - {"HEAD", "OPTIONS"}:
                found.add((method, route.path))
    assert len(found) > 30, "route discovery found too few routes"
    return found


def concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", lambda _: str(uuid.uuid4()), path)


async def call(
    client: httpx.AsyncClient, method: str, path: str, headers: dict[str, str] | None = None
) -> httpx.Response:
    body = {} if method in ("POST", "PUT", "PATCH") else None
    return await client.request(method, concrete(path), json=body, headers=headers or {})


@pytest.fixture(scope="module")
async def people(app, owner_sessionmaker) -> AsyncIterator[dict[str, UserInfo]]:  # type: ignore[no-untyped-def]
    """One signed-in user per role (one tenant, plus the platform admin), shared by this module."""
    transport = httpx.ASGITransport(app=app, client=("198.51.100.20", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        factory = Factory(owner_sessionmaker, c)
        tenant = await factory.tenant()
        users = {}
        for role in ROLES:
            users[role] = await factory.user(None if role == "platform_admin" else tenant, role)
            await factory.login(users[role])
        yield users


def test_every_route_is_in_the_table(app):  # type: ignore[no-untyped-def]
    routes = api_routes(app)
    missing = routes - set(TABLE) - PUBLIC - set(PUBLIC_READS)
    stale = (set(TABLE) | PUBLIC | set(PUBLIC_READS)) - routes
    assert not missing, f"add these routes to TABLE or PUBLIC: {sorted(missing)}"
    assert not stale, f"these table entries match no route: {sorted(stale)}"


@pytest.mark.parametrize(("method", "path"), sorted(TABLE))
async def test_anonymous_is_refused(client, method, path):
    r = await call(client, method, path)
    body = assert_problem(r, 401)
    assert r.headers["www-authenticate"].lower().startswith("bearer")
    assert "token" in body["detail"].lower()


@pytest.mark.parametrize(("method", "path"), sorted(TABLE))
async def test_garbage_credentials_are_refused(client, method, path):
    for header in ("Basic dXNlcjpwYXNz", "Bearer not-a-jwt", "Bearer "):
        assert_problem(await call(client, method, path, {"Authorization": header}), 401)


@pytest.mark.parametrize(("method", "path"), sorted(p for p, a in TABLE.items() if a.refused))
async def test_wrong_role_is_refused(client, people, method, path):
    role = TABLE[(method, path)].refused
    assert role is not None
    body = assert_problem(await call(client, method, path, bearer(people[role].tokens)), 403)
    assert body["type"].endswith("permission-denied")


@pytest.mark.parametrize(("method", "path"), sorted(p for p in TABLE if p != ("POST", "/api/v1/auth/logout")))
async def test_allowed_role_gets_past_the_check(client, people, method, path):
    r = await call(client, method, path, bearer(people[TABLE[(method, path)].allowed].tokens))
    assert r.status_code not in (401, 403), r.text
    assert r.status_code < 500, r.text


async def test_logout_is_allowed_for_a_signed_in_user(client, factory):
    tenant = await factory.tenant()
    doctor = await factory.user(tenant, "doctor")
    headers = await factory.headers(doctor)
    assert (await client.post("/api/v1/auth/logout", headers=headers)).status_code == 204
    assert_problem(await client.get("/api/v1/me", headers=headers), 401)


@pytest.mark.parametrize(("method", "path"), sorted(PUBLIC))
async def test_public_routes_need_no_token(client, method, path):
    r = await call(client, method, path)
    assert r.status_code == 422, r.text  # the empty body is refused, not the missing token


@pytest.mark.parametrize(("method", "path"), sorted(PUBLIC_READS))
async def test_public_reads_need_no_token(client, method, path):
    r = await call(client, method, path)
    assert r.status_code == PUBLIC_READS[(method, path)], r.text
