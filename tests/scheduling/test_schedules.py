"""Schedules: weekly templates (validation, overlaps refused by the database, doctors edit only
their own), exceptions and holidays; every write audited and announced as schedule.changed."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

import pytest

from tests.api.helpers import assert_problem, audit_actions, scalar
from tests.factories import Factory, TenantInfo, UserInfo
from tests.scheduling.schedule_helpers import location, practitioner

BASE = "/api/v1"


@pytest.fixture
async def tenant(factory: Factory) -> TenantInfo:
    return await factory.tenant()


@pytest.fixture
async def admin(factory: Factory, tenant: TenantInfo) -> UserInfo:
    return await factory.user(tenant, "hospital_admin")


def session_body(tenant: TenantInfo, **over: object) -> dict[str, object]:
    body: dict[str, object] = {
        "location_id": str(tenant.location_id), "weekday": 0, "start_time": "09:00", "end_time": "13:00",
        "slot_minutes": 15, "valid_from": "2027-01-04",
    }  # fmt: skip
    body.update(over)
    return body


async def template_count(owner, practitioner_id: uuid.UUID) -> int:  # type: ignore[no-untyped-def]
    sql = "SELECT count(*) FROM schedule_templates WHERE practitioner_id = :p"
    return int(await scalar(owner, sql, p=practitioner_id))


async def schedule_events(owner, tenant: TenantInfo) -> list[dict]:  # type: ignore[no-untyped-def,type-arg]
    from sqlalchemy import text

    async with owner() as s:
        rows = await s.execute(
            text("SELECT payload FROM outbox WHERE tenant_id = :t AND topic = 'schedule.changed' ORDER BY created_at"),
            {"t": tenant.id},
        )
        return [r[0] for r in rows]


async def test_admin_creates_lists_updates_and_ends_a_template(client, factory, tenant, admin, owner_sessionmaker):
    _, pid = await practitioner(factory, tenant)
    h = await factory.headers(admin)
    r = await client.post(f"{BASE}/practitioners/{pid}/templates", json=session_body(tenant), headers=h)
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["start_time"] == "09:00:00" and created["weekday"] == 0 and created["is_active"]
    # An afternoon session after a lunch break is fine.
    r = await client.post(
        f"{BASE}/practitioners/{pid}/templates",
        json=session_body(tenant, start_time="14:00", end_time="17:00"),
        headers=h,
    )
    assert r.status_code == 201, r.text
    listed = (await client.get(f"{BASE}/practitioners/{pid}/templates", headers=h)).json()
    assert [t["start_time"] for t in listed] == ["09:00:00", "14:00:00"]

    r = await client.patch(
        f"{BASE}/templates/{created['id']}", json={"end_time": "12:30", "slot_minutes": 20}, headers=h
    )
    assert r.status_code == 200, r.text
    assert r.json()["end_time"] == "12:30:00" and r.json()["slot_minutes"] == 20

    assert (await client.delete(f"{BASE}/templates/{created['id']}", headers=h)).status_code == 204
    listed = (await client.get(f"{BASE}/practitioners/{pid}/templates", headers=h)).json()
    assert len(listed) == 1
    everything = (await client.get(f"{BASE}/practitioners/{pid}/templates?include_inactive=true", headers=h)).json()
    assert len(everything) == 2
    # The ended session's time can be taken again.
    r = await client.post(f"{BASE}/practitioners/{pid}/templates", json=session_body(tenant), headers=h)
    assert r.status_code == 201, r.text

    actions = [e["action"] for e in await audit_actions(owner_sessionmaker, tenant.id)]
    for action in ("created", "updated", "deactivated"):
        assert f"scheduling.template.{action}" in actions
    events = await schedule_events(owner_sessionmaker, tenant)
    assert len(events) == 5 and all(e["practitioner_id"] == str(pid) for e in events)


@pytest.mark.parametrize(
    ("over", "message"),
    [
        ({"start_time": "13:00", "end_time": "09:00"}, "end_time must be after start_time"),
        ({"start_time": "09:00", "end_time": "09:00"}, "end_time must be after start_time"),
        ({"slot_minutes": 4}, "greater than or equal to 5"),
        ({"slot_minutes": 241}, "less than or equal to 240"),
        ({"weekday": 7}, "less than or equal to 6"),
        ({"valid_until": "2026-12-31"}, "valid_until must be on or after valid_from"),
        ({"start_time": "09:00+05:30"}, "without an offset"),
        ({"start_time": "25:00"}, "time"),
    ],
)
async def test_bad_templates_are_422_and_write_nothing(
    client, factory, tenant, admin, owner_sessionmaker, over, message
):
    _, pid = await practitioner(factory, tenant)
    r = await client.post(
        f"{BASE}/practitioners/{pid}/templates", json=session_body(tenant, **over), headers=await factory.headers(admin)
    )
    body = assert_problem(r, 422)
    assert message in str(body["errors"]), body
    assert await template_count(owner_sessionmaker, pid) == 0


async def test_overlapping_sessions_are_409_and_nothing_is_written(client, factory, tenant, admin, owner_sessionmaker):
    _, pid = await practitioner(factory, tenant)
    h = await factory.headers(admin)
    first = (await client.post(f"{BASE}/practitioners/{pid}/templates", json=session_body(tenant), headers=h)).json()
    events_before = len(await schedule_events(owner_sessionmaker, tenant))
    audit_before = len(await audit_actions(owner_sessionmaker, tenant.id))

    # Overlapping times on the same weekday, even at another location and with an open end date.
    other = await location(owner_sessionmaker, tenant, "Asia/Kolkata")
    r = await client.post(
        f"{BASE}/practitioners/{pid}/templates",
        json=session_body(
            tenant, location_id=str(other), start_time="12:00", end_time="15:00", valid_from="2027-06-01"
        ),
        headers=h,
    )
    body = assert_problem(r, 409)
    assert "overlaps" in body["detail"] and "Mondays 09:00-13:00" in body["detail"]
    assert body["conflicting_template_id"] == first["id"]
    assert await template_count(owner_sessionmaker, pid) == 1
    assert len(await schedule_events(owner_sessionmaker, tenant)) == events_before
    assert len(await audit_actions(owner_sessionmaker, tenant.id)) == audit_before

    # Not overlapping: another weekday, or dates that do not meet, or another practitioner.
    ok = [
        session_body(tenant, weekday=1),
        session_body(tenant, valid_from="2026-01-05", valid_until="2027-01-03"),
    ]
    for body_ok in ok:
        r = await client.post(f"{BASE}/practitioners/{pid}/templates", json=body_ok, headers=h)
        assert r.status_code == 201, r.text
    _, other_pid = await practitioner(factory, tenant)
    r = await client.post(f"{BASE}/practitioners/{other_pid}/templates", json=session_body(tenant), headers=h)
    assert r.status_code == 201, r.text


async def test_an_update_into_an_overlap_is_409_and_changes_nothing(client, factory, tenant, admin, owner_sessionmaker):
    _, pid = await practitioner(factory, tenant)
    h = await factory.headers(admin)
    await client.post(f"{BASE}/practitioners/{pid}/templates", json=session_body(tenant), headers=h)
    later = (
        await client.post(
            f"{BASE}/practitioners/{pid}/templates",
            json=session_body(tenant, start_time="14:00", end_time="17:00"),
            headers=h,
        )
    ).json()
    r = await client.patch(f"{BASE}/templates/{later['id']}", json={"start_time": "12:00"}, headers=h)
    assert_problem(r, 409)
    start = await scalar(
        owner_sessionmaker, "SELECT start_time::text FROM schedule_templates WHERE id = :i", i=later["id"]
    )
    assert start == "14:00:00"
    # The merged values are checked too: an end before the stored start.
    r = await client.patch(f"{BASE}/templates/{later['id']}", json={"end_time": "10:00"}, headers=h)
    assert_problem(r, 422)
    r = await client.patch(f"{BASE}/templates/{later['id']}", json={"valid_until": "2020-01-01"}, headers=h)
    assert_problem(r, 422)
    r = await client.patch(f"{BASE}/templates/{later['id']}", json={"weekday": None}, headers=h)
    assert_problem(r, 422)


async def test_unknown_closed_or_foreign_locations_are_refused(client, factory, tenant, admin, owner_sessionmaker):
    _, pid = await practitioner(factory, tenant)
    h = await factory.headers(admin)
    elsewhere = await factory.tenant()
    closed = await location(owner_sessionmaker, tenant, "Asia/Kolkata", active=False)
    for location_id, msg in ((uuid.uuid4(), "No such location"), (elsewhere.location_id, "No such location"),
                             (closed, "closed")):  # fmt: skip
        r = await client.post(
            f"{BASE}/practitioners/{pid}/templates", json=session_body(tenant, location_id=str(location_id)), headers=h
        )
        body = assert_problem(r, 422)
        assert body["errors"][0]["loc"] == ["location_id"] and msg in body["errors"][0]["msg"]
    assert await template_count(owner_sessionmaker, pid) == 0


async def test_another_tenants_practitioner_is_404(client, factory, tenant, admin, owner_sessionmaker):
    elsewhere = await factory.tenant()
    _, foreign = await practitioner(factory, elsewhere)
    h = await factory.headers(admin)
    assert_problem(
        await client.post(f"{BASE}/practitioners/{foreign}/templates", json=session_body(tenant), headers=h), 404
    )
    assert_problem(await client.get(f"{BASE}/practitioners/{foreign}/templates", headers=h), 404)
    assert_problem(await client.get(f"{BASE}/practitioners/{uuid.uuid4()}/exceptions", headers=h), 404)
    other_admin = await factory.user(elsewhere, "hospital_admin")
    mine = (
        await client.post(
            f"{BASE}/practitioners/{foreign}/templates",
            json=session_body(elsewhere),
            headers=await factory.headers(other_admin),
        )
    ).json()
    assert_problem(await client.patch(f"{BASE}/templates/{mine['id']}", json={"slot_minutes": 30}, headers=h), 404)
    assert_problem(await client.delete(f"{BASE}/templates/{mine['id']}", headers=h), 404)
    assert await template_count(owner_sessionmaker, foreign) == 1


async def test_doctors_edit_only_their_own_schedule(client, factory, tenant, owner_sessionmaker):
    me, mine = await practitioner(factory, tenant)
    colleague, theirs = await practitioner(factory, tenant)
    h = await factory.headers(me)
    r = await client.post(f"{BASE}/practitioners/{mine}/templates", json=session_body(tenant), headers=h)
    assert r.status_code == 201, r.text
    r = await client.post(f"{BASE}/practitioners/{theirs}/templates", json=session_body(tenant), headers=h)
    body = assert_problem(r, 403)
    assert "own schedule" in body["detail"]
    assert await template_count(owner_sessionmaker, theirs) == 0
    denied = await audit_actions(owner_sessionmaker, tenant.id, action="access.denied")
    assert denied and denied[-1]["target_id"] == str(theirs)

    theirs_template = (
        await client.post(
            f"{BASE}/practitioners/{theirs}/templates",
            json=session_body(tenant),
            headers=await factory.headers(colleague),
        )
    ).json()
    assert_problem(
        await client.patch(f"{BASE}/templates/{theirs_template['id']}", json={"slot_minutes": 30}, headers=h), 403
    )
    assert_problem(await client.delete(f"{BASE}/templates/{theirs_template['id']}", headers=h), 403)
    time_off = {"kind": "time_off", "starts_at": "2027-02-01T09:00:00Z", "ends_at": "2027-02-01T13:00:00Z"}
    assert_problem(await client.post(f"{BASE}/practitioners/{theirs}/exceptions", json=time_off, headers=h), 403)
    # Reading a colleague's schedule is fine (front desk and colleagues plan around it).
    assert (await client.get(f"{BASE}/practitioners/{theirs}/templates", headers=h)).status_code == 200


async def test_exceptions_time_off_and_extra_sessions(client, factory, tenant, owner_sessionmaker):
    doctor, pid = await practitioner(factory, tenant)
    h = await factory.headers(doctor)
    url = f"{BASE}/practitioners/{pid}/exceptions"
    r = await client.post(
        url, json={"kind": "time_off", "starts_at": "2027-02-01T09:00:00+05:30", "ends_at": "2027-02-03T18:00:00+05:30",
                   "reason": "Conference"}, headers=h,
    )  # fmt: skip
    assert r.status_code == 201, r.text
    time_off = r.json()
    assert time_off["starts_at"].startswith("2027-02-01T03:30:00")
    # Local wall times with an IANA zone: 10:00 in London in summer is 09:00 UTC.
    r = await client.post(
        url, json={"kind": "extra", "starts_at": "2027-07-03T10:00", "ends_at": "2027-07-03T12:00",
                   "timezone": "Europe/London", "location_id": str(tenant.location_id), "slot_minutes": 20}, headers=h,
    )  # fmt: skip
    assert r.status_code == 201, r.text
    assert datetime.fromisoformat(r.json()["starts_at"]) == datetime(2027, 7, 3, 9, 0, tzinfo=UTC)

    listed = (await client.get(url, headers=h, params={"after": "2027-01-01T00:00:00Z"})).json()
    assert [x["kind"] for x in listed] == ["time_off", "extra"]
    assert (
        await client.get(url, headers=h, params={"after": "2027-01-01T00:00:00Z", "before": "2027-03-01T00:00:00Z"})
    ).json()[0]["id"] == time_off["id"]

    assert (await client.delete(f"{BASE}/exceptions/{time_off['id']}", headers=h)).status_code == 204
    assert_problem(await client.delete(f"{BASE}/exceptions/{time_off['id']}", headers=h), 404)
    actions = [e["action"] for e in await audit_actions(owner_sessionmaker, tenant.id)]
    assert actions.count("scheduling.exception.created") == 2 and "scheduling.exception.deleted" in actions
    assert len(await schedule_events(owner_sessionmaker, tenant)) == 3


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"kind": "time_off", "starts_at": "2027-02-01T13:00Z", "ends_at": "2027-02-01T09:00Z"}, "must be after"),
        ({"kind": "extra", "starts_at": "2027-02-01T09:00Z", "ends_at": "2027-02-01T13:00Z"}, "needs a location_id"),
        ({"kind": "time_off", "starts_at": "2027-02-01T09:00", "ends_at": "2027-02-01T13:00"}, "no UTC offset"),
        ({"kind": "time_off", "starts_at": "2027-02-01T09:00", "ends_at": "2027-02-01T13:00", "timezone": "Mars/Base"},
         "unknown IANA timezone"),
        # 01:30 on 28 March 2027 does not exist in London: the clocks jump from 01:00 to 02:00.
        ({"kind": "time_off", "starts_at": "2027-03-28T01:30", "ends_at": "2027-03-28T05:00",
          "timezone": "Europe/London"}, "does not exist"),
        ({"kind": "holiday", "starts_at": "2027-02-01T09:00:00Z", "ends_at": "2027-02-01T13:00:00Z"}, "time_off"),
    ],
)  # fmt: skip
async def test_bad_exceptions_are_422(client, factory, tenant, owner_sessionmaker, body, message):
    doctor, pid = await practitioner(factory, tenant)
    r = await client.post(f"{BASE}/practitioners/{pid}/exceptions", json=body, headers=await factory.headers(doctor))
    problem = assert_problem(r, 422)
    assert message in str(problem["errors"]), problem
    assert (
        await scalar(owner_sessionmaker, "SELECT count(*) FROM schedule_exceptions WHERE practitioner_id = :p", p=pid)
        == 0
    )


async def test_holidays(client, factory, tenant, admin, owner_sessionmaker):
    h = await factory.headers(admin)
    day = (date.today() + timedelta(days=30)).isoformat()  # noqa: DTZ011
    r = await client.post(f"{BASE}/holidays", json={"day": day, "name": "Founders' day"}, headers=h)
    assert r.status_code == 201, r.text
    holiday = r.json()
    assert holiday["location_id"] is None
    # The same day again for the whole organisation is a conflict; for one location it is not.
    assert_problem(await client.post(f"{BASE}/holidays", json={"day": day, "name": "Again"}, headers=h), 409)
    r = await client.post(
        f"{BASE}/holidays",
        json={"day": day, "name": "Branch closed", "location_id": str(tenant.location_id)},
        headers=h,
    )
    assert r.status_code == 201, r.text
    bad = await client.post(
        f"{BASE}/holidays", json={"day": day, "name": "X", "location_id": str(uuid.uuid4())}, headers=h
    )
    assert_problem(bad, 422)

    nurse = await factory.user(tenant, "nurse")
    listed = (await client.get(f"{BASE}/holidays", headers=await factory.headers(nurse))).json()
    assert {x["name"] for x in listed} == {"Founders' day", "Branch closed"}
    assert (
        await client.get(f"{BASE}/holidays", params={"from": "2000-01-01", "to": "2000-12-31"}, headers=h)
    ).json() == []

    doctor = await factory.user(tenant, "doctor")
    assert_problem(
        await client.post(f"{BASE}/holidays", json={"day": day, "name": "Mine"}, headers=await factory.headers(doctor)),
        403,
    )

    assert (await client.delete(f"{BASE}/holidays/{holiday['id']}", headers=h)).status_code == 204
    assert_problem(await client.delete(f"{BASE}/holidays/{holiday['id']}", headers=h), 404)
    events = await schedule_events(owner_sessionmaker, tenant)
    assert len(events) == 3 and events[0]["practitioner_id"] is None and events[0]["day"] == day
    actions = [e["action"] for e in await audit_actions(owner_sessionmaker, tenant.id)]
    assert actions.count("scheduling.holiday.created") == 2 and "scheduling.holiday.deleted" in actions


async def test_demo_schedules_cover_every_practitioner_once(factory, owner_sessionmaker):
    from carebase.demo import seed_demo_schedules

    tenant = await factory.tenant()
    _, first = await practitioner(factory, tenant)
    _, second = await practitioner(factory, tenant)
    today = date(2027, 2, 10)
    async with owner_sessionmaker() as s, s.begin():
        assert await seed_demo_schedules(s, today=today, slugs=[tenant.slug]) == 20
    async with owner_sessionmaker() as s, s.begin():
        assert await seed_demo_schedules(s, today=today, slugs=[tenant.slug]) == 0  # idempotent
    for pid in (first, second):
        assert await template_count(owner_sessionmaker, pid) == 10
    rows = await scalar(
        owner_sessionmaker,
        "SELECT string_agg(DISTINCT weekday || ' ' || start_time || '-' || end_time || ' ' || slot_minutes"
        " || ' ' || location_id || ' ' || valid_from, ';') FROM schedule_templates WHERE practitioner_id = :p",
        p=first,
    )
    assert rows.count(str(tenant.location_id)) == 10 and "4 14:00:00-17:00:00 15" in rows and "2027-02-10" in rows
    weekend = "SELECT count(*) FROM schedule_templates WHERE practitioner_id = :p AND weekday >= 5"
    assert await scalar(owner_sessionmaker, weekend, p=first) == 0
    holiday = await scalar(owner_sessionmaker, "SELECT name FROM holidays WHERE tenant_id = :t", t=tenant.id)
    assert holiday == "Republic Day"
