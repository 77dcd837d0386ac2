"""The booking horizon (tenant policy ``booking_horizon_days``, default 180): holds and reschedules
after now + horizon are refused with a 422 that changes nothing, availability stops offering slots
there, and a policy change reaches the availability cache on the very next read."""

from __future__ import annotations

import time as pytime
import uuid
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import asyncpg
import pytest

from carebase.core.bootstrap import asyncpg_dsn
from carebase.core.metrics import CACHE
from carebase.scheduling.availability import Availability, ServiceTerms
from carebase.scheduling.avcache import AvailabilityCache
from tests.api.helpers import assert_problem, field_errors, scalar
from tests.factories import Factory, UserInfo
from tests.scheduling.bookable import Bookable, make_bookable
from tests.scheduling.test_availability_cache import eventually
from tests.web.helpers import field_error, web_login

IST = ZoneInfo("Asia/Kolkata")


@pytest.fixture
async def clinic(factory: Factory, owner_sessionmaker) -> Bookable:
    return await make_bookable(factory, owner_sessionmaker)  # Asia/Kolkata, 09:00-13:00 every day, no end date


def today() -> date:
    return datetime.now(IST).date()


def nine_am(days_ahead: int) -> str:
    """09:00 at the clinic (a template slot) on the local date ``days_ahead`` days from today, in UTC."""
    return datetime.combine(today() + timedelta(days=days_ahead), time(9, 0), tzinfo=IST).astimezone(UTC).isoformat()


async def availability(client, headers, b: Bookable, first: date, days: int = 7) -> list[dict]:
    r = await client.get(
        f"/api/v1/practitioners/{b.practitioner_id}/availability",
        params={"service_id": str(b.service_id), "from": first.isoformat(), "days": days}, headers=headers,
    )  # fmt: skip
    assert r.status_code == 200, r.text
    return r.json()["slots"]


def local_days(slots: list[dict]) -> set[date]:
    return {datetime.fromisoformat(s["starts_at"]).astimezone(IST).date() for s in slots}


async def hold(client, headers, b: Bookable, patient_id, starts_at: str):
    body = {"practitioner_id": str(b.practitioner_id), "service_id": str(b.service_id), "patient_id": str(patient_id),
            "starts_at": starts_at, "source": "front_desk"}  # fmt: skip
    return await client.post("/api/v1/holds", json=body, headers=headers)


async def appointments(owner, b: Bookable) -> int:
    return await scalar(owner, "SELECT count(*) FROM appointments WHERE practitioner_id = :p", p=b.practitioner_id)


async def set_horizon(client, admin_headers, days: int) -> None:
    r = await client.patch("/api/v1/organization/policy", json={"booking_horizon_days": days}, headers=admin_headers)
    assert r.status_code == 200, r.text
    assert r.json()["booking_horizon_days"] == days


def hits() -> float:
    return CACHE.labels("availability", "hit")._value.get()


async def test_default_horizon_is_180_days(client, factory: Factory, owner_sessionmaker, clinic):
    admin = await factory.user(clinic.tenant, "hospital_admin")
    r = await client.get("/api/v1/organization/policy", headers=await factory.headers(admin))
    assert r.status_code == 200 and r.json()["booking_horizon_days"] == 180
    desk = await factory.headers(await factory.user(clinic.tenant, "receptionist"))
    patient = await factory.patient(clinic.tenant)
    # 181 days ahead: refused before anything is written (no hold, no audit event).
    audited = await scalar(owner_sessionmaker, "SELECT count(*) FROM audit_events WHERE tenant_id = :t",
                           t=clinic.tenant.id)  # fmt: skip
    body = assert_problem(await hold(client, desk, clinic, patient, nine_am(181)), 422)
    assert "180 days ahead" in field_errors(body)["starts_at"]
    assert await appointments(owner_sessionmaker, clinic) == 0
    assert await scalar(owner_sessionmaker, "SELECT count(*) FROM audit_events WHERE tenant_id = :t",
                        t=clinic.tenant.id) == audited  # fmt: skip
    # Nor is it offered; 179 days ahead is, and can be held.
    assert today() + timedelta(days=181) not in local_days(
        await availability(client, desk, clinic, today() + timedelta(days=181), days=1)
    )
    assert nine_am(179) in [
        s["starts_at"] for s in await availability(client, desk, clinic, today() + timedelta(days=179), days=1)
    ]
    r = await hold(client, desk, clinic, patient, nine_am(179))
    assert r.status_code == 201, r.text
    assert await appointments(owner_sessionmaker, clinic) == 1


async def test_a_30_day_horizon_limits_availability_holds_and_reschedules(
    client, factory: Factory, owner_sessionmaker, clinic
):
    admin = await factory.user(clinic.tenant, "hospital_admin")
    await set_horizon(client, await factory.headers(admin), 30)
    desk = await factory.headers(await factory.user(clinic.tenant, "receptionist"))
    patient = await factory.patient(clinic.tenant)
    # A week from 28 days ahead: the first days only (the 30th partly, by the time of day), nothing after.
    slots = await availability(client, desk, clinic, today() + timedelta(days=28))
    limit = datetime.now(UTC) + timedelta(days=30)
    days = local_days(slots)
    assert {today() + timedelta(days=28), today() + timedelta(days=29)} <= days
    assert max(days) <= today() + timedelta(days=30)
    assert all(datetime.fromisoformat(s["starts_at"]) <= limit for s in slots)
    assert len(slots) <= 3 * 16  # at most three of the seven days (16 slots a day)
    # A hold on day 31: refused, nothing written.
    body = assert_problem(await hold(client, desk, clinic, patient, nine_am(31)), 422)
    assert "30 days ahead" in field_errors(body)["starts_at"]
    assert await appointments(owner_sessionmaker, clinic) == 0
    # A booking tomorrow, then a reschedule to day 31: refused, and the booking stands as it was.
    held = await hold(client, desk, clinic, patient, nine_am(1))
    assert held.status_code == 201, held.text
    appointment = held.json()
    r = await client.post(f"/api/v1/appointments/{appointment['id']}/confirm", headers=desk)
    assert r.status_code == 200, r.text
    before = (await client.get(f"/api/v1/appointments/{appointment['id']}", headers=desk)).json()
    r = await client.post(f"/api/v1/appointments/{appointment['id']}/reschedule", headers=desk,
                          json={"starts_at": nine_am(31)})  # fmt: skip
    assert "30 days ahead" in field_errors(assert_problem(r, 422))["starts_at"]
    after = (await client.get(f"/api/v1/appointments/{appointment['id']}", headers=desk)).json()
    assert after == before and after["status"] == "confirmed" and after["rescheduled_to_id"] is None
    assert await appointments(owner_sessionmaker, clinic) == 1
    # Within the horizon the same booking moves.
    r = await client.post(f"/api/v1/appointments/{appointment['id']}/reschedule", headers=desk,
                          json={"starts_at": nine_am(29)})  # fmt: skip
    assert r.status_code == 201, r.text


async def test_a_policy_change_reaches_the_cached_availability(
    client, factory: Factory, owner_sessionmaker, clinic, database_url
):
    admin = await factory.user(clinic.tenant, "hospital_admin")
    admin_headers = await factory.headers(admin)
    desk = await factory.headers(await factory.user(clinic.tenant, "receptionist"))
    first = today() + timedelta(days=28)
    week = await availability(client, desk, clinic, first)
    assert len(local_days(week)) == 7
    before = hits()
    assert await availability(client, desk, clinic, first) == week  # from the cache
    assert hits() == before + 1
    # Through the API: the very next read sees the shorter horizon, and the longer one again.
    await set_horizon(client, admin_headers, 30)
    shorter = await availability(client, desk, clinic, first)
    assert max(local_days(shorter)) <= today() + timedelta(days=30) and shorter == week[: len(shorter)]
    await set_horizon(client, admin_headers, 180)
    assert await availability(client, desk, clinic, first) == week
    # Straight in the database (another process, an operator): the organisation's NOTIFY drops the answer.
    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        await conn.execute(
            "UPDATE organizations SET settings = settings || '{\"booking_horizon_days\": 29}'::jsonb WHERE id = $1",
            clinic.tenant.id,
        )

        async def shortened() -> bool:
            return max(local_days(await availability(client, desk, clinic, first))) <= today() + timedelta(days=29)

        await eventually(shortened)
    finally:
        await conn.close()


async def test_policy_validation_and_audit(client, factory: Factory, owner_sessionmaker, clinic):
    admin = await factory.user(clinic.tenant, "hospital_admin")
    headers = await factory.headers(admin)
    for bad in (0, 731, -5, "soon"):
        r = await client.patch("/api/v1/organization/policy", json={"booking_horizon_days": bad}, headers=headers)
        assert "booking_horizon_days" in field_errors(assert_problem(r, 422)), bad
    assert (await client.get("/api/v1/organization/policy", headers=headers)).json()["booking_horizon_days"] == 180
    for good in (1, 730):
        await set_horizon(client, headers, good)
    fields = await scalar(
        owner_sessionmaker,
        "SELECT details->'fields' FROM audit_events WHERE tenant_id = :t AND action = 'tenancy.policy.updated'"
        " ORDER BY seq DESC LIMIT 1", t=clinic.tenant.id,
    )  # fmt: skip
    assert "booking_horizon_days" in str(fields)


async def test_the_admin_sets_the_horizon_in_the_web_form(client, factory: Factory, owner_sessionmaker, clinic):
    admin: UserInfo = await factory.user(clinic.tenant, "hospital_admin")
    await web_login(client, admin)
    page = await client.get("/admin/settings")
    assert page.status_code == 200 and 'name="booking_horizon_days"' in page.text and 'value="180"' in page.text
    assert 'action="/admin/organisation/booking"' not in (await client.get("/admin/locations")).text
    form = {"csrf_token": client.cookies["cb_csrf"], "cancellation_cutoff_hours": "2", "quiet_hours_start": "21:00",
            "quiet_hours_end": "08:00"}  # fmt: skip
    for bad in ("0", "731", "soon", ""):
        r = await client.post("/admin/settings", data={**form, "booking_horizon_days": bad})
        assert r.status_code == 422, bad
        assert field_error(r.text, "booking_horizon_days") == "Enter a whole number of days from 1 to 730."
    r = await client.post("/admin/settings", data={**form, "booking_horizon_days": "60"})
    assert r.status_code == 303
    assert 'value="60"' in (await client.get("/admin/settings")).text
    # The old form's address is gone.
    r = await client.post("/admin/organisation/booking", data={**form, "booking_horizon_days": "5"})
    assert r.status_code in (404, 405)
    # The front desk (no policy permission) cannot post it.
    other = await factory.user(clinic.tenant, "receptionist")
    client.cookies.clear()
    await web_login(client, other)
    r = await client.post("/admin/settings", data={**form, "booking_horizon_days": "5",
                                                   "csrf_token": client.cookies["cb_csrf"]})  # fmt: skip
    assert r.status_code == 403
    assert await scalar(owner_sessionmaker, "SELECT settings->>'booking_horizon_days' FROM organizations WHERE id = :t",
                        t=clinic.tenant.id) == "60"  # fmt: skip


def test_a_cached_answer_expires_when_the_next_slot_comes_within_the_horizon():
    """No write announces the horizon moving with the clock: the cache entry lasts only until the first
    slot left out comes within it (``Availability.next_opening``)."""

    class Source:
        live = True

        def attach(self, cache: object) -> None:
            pass

    cache = AvailabilityCache(Source())  # type: ignore[arg-type]
    now = datetime.now(UTC)
    terms = ServiceTerms(15, 60000, "INR", "in_person", "at_desk", "Consultation")
    tenant, practitioner = uuid.uuid4(), uuid.uuid4()
    result = Availability(practitioner, terms, today(), today(), [], {}, None, now + timedelta(seconds=10))
    cache.put("k", b"{}", result, tenant, cache.snapshot(tenant, practitioner), now)
    entry = cache._data["k"]
    assert entry.expires - pytime.monotonic() <= 10
    cache.put("gone", b"{}", replace(result, next_opening=now - timedelta(seconds=1)), tenant,
              cache.snapshot(tenant, practitioner), now)  # fmt: skip
    assert "gone" not in cache._data
