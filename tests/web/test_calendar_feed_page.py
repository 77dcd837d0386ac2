"""The doctor's private calendar feed on /schedule: the panel shows the subscription URL (https and
webcal) once, right after it is made; rotating it gives a new URL and the old one stops working at
once; only the doctor sees or changes it (not the desk, not an admin, not a patient); never logged."""

from __future__ import annotations

import logging
import re
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import text

from tests.factories import Factory
from tests.scheduling.bookable import book_directly, make_bookable
from tests.web.booking_helpers import patient_user, web_patient_login
from tests.web.helpers import web_login

FEED = re.compile(r"http://testserver(/calendar/([A-Za-z0-9_-]+)\.ics)")


def _tok(client) -> str:  # type: ignore[no-untyped-def]
    return client.cookies["cb_csrf"]


async def _actions(owner, tenant_id: uuid.UUID) -> list[str]:  # type: ignore[no-untyped-def]
    query = text("SELECT action FROM audit_events WHERE tenant_id = :t AND action LIKE 'scheduling.calendar_token.%'"
                 " ORDER BY seq")  # fmt: skip
    async with owner() as s:
        return list((await s.execute(query, {"t": tenant_id})).scalars())


async def test_doctor_creates_copies_and_rotates_the_feed_link(client, factory: Factory, owner_sessionmaker, caplog):
    b = await make_bookable(factory, owner_sessionmaker)
    patient_id = await factory.patient(b.tenant, given="Meera", family="Iyer")
    starts = datetime.now(UTC).replace(second=0, microsecond=0) + timedelta(days=2)
    await book_directly(owner_sessionmaker, b, patient_id, starts)
    await web_login(client, b.doctor)
    page = await client.get("/schedule")
    assert page.status_code == 200 and 'id="calendar-feed"' in page.text
    assert "No link yet" in page.text and "Create link" in page.text and "/calendar/" not in page.text

    forged = await client.post("/schedule/calendar-feed", data={"csrf_token": "forged" * 8})
    assert forged.status_code == 403 and await _actions(owner_sessionmaker, b.tenant.id) == []

    with caplog.at_level(logging.DEBUG):
        created = await client.post("/schedule/calendar-feed", data={"csrf_token": _tok(client)})
    assert created.status_code == 200 and "<html" in created.text  # without htmx: the whole page
    assert created.headers["cache-control"] == "no-store"
    first = FEED.search(created.text)
    assert first, created.text
    first_path, first_token = first.group(1), first.group(2)
    assert f"webcal://testserver{first_path}" in created.text and 'data-copy="#feed-url"' in created.text
    assert not [r for r in caplog.records if first_token in f"{r.getMessage()} {r.__dict__}"]  # never logged

    feed = await client.get(first_path)  # no sign-in: the token is the credential
    assert feed.status_code == 200 and feed.headers["content-type"].startswith("text/calendar")
    assert "BEGIN:VCALENDAR" in feed.text and "Appointment: Consultation" in feed.text and "Iyer" not in feed.text

    later = await client.get("/schedule")  # shown once: afterwards only that a link is active
    assert "Rotate link" in later.text and "Active" in later.text and first_token not in later.text

    rotated = await client.post("/schedule/calendar-feed", data={"csrf_token": _tok(client)},
                                headers={"hx-request": "true"})  # fmt: skip
    assert rotated.status_code == 200 and "<html" not in rotated.text and 'id="calendar-feed"' in rotated.text
    second = FEED.search(rotated.text)
    assert second and second.group(2) != first_token
    assert (await client.get(first_path)).status_code == 404  # the old link stops working at once
    assert (await client.get(second.group(1))).status_code == 200
    assert await _actions(owner_sessionmaker, b.tenant.id) == [
        "scheduling.calendar_token.created", "scheduling.calendar_token.rotated"]  # fmt: skip


async def test_only_the_doctor_sees_or_rotates_their_feed(client, factory: Factory, owner_sessionmaker, mailbox):
    b = await make_bookable(factory, owner_sessionmaker)
    await web_login(client, b.doctor)
    made = await client.post("/schedule/calendar-feed", data={"csrf_token": _tok(client)})
    found = FEED.search(made.text)
    assert found
    path, token = found.group(1), found.group(2)

    other = await make_bookable(factory, owner_sessionmaker, tenant=b.tenant)  # a colleague: their own panel only
    client.cookies.clear()
    await web_login(client, other.doctor)
    own = await client.get("/schedule")
    assert "No link yet" in own.text and token not in own.text

    client.cookies.clear()
    admin = await factory.user(b.tenant, "hospital_admin")
    await web_login(client, admin)
    theirs = await client.get("/schedule", params={"practitioner": str(b.practitioner_id)})
    assert theirs.status_code == 200 and 'id="calendar-feed"' not in theirs.text and token not in theirs.text
    refused = await client.post("/schedule/calendar-feed", data={"csrf_token": _tok(client)})
    assert refused.status_code == 403 and "/calendar/" not in refused.text

    client.cookies.clear()
    desk = await factory.user(b.tenant, "receptionist")
    await web_login(client, desk)
    assert (await client.post("/schedule/calendar-feed", data={"csrf_token": _tok(client)})).status_code == 403

    client.cookies.clear()
    user, _ = await patient_user(factory, b.tenant)
    await web_patient_login(client, mailbox, user)
    assert (await client.post("/schedule/calendar-feed", data={"csrf_token": _tok(client)})).status_code == 403

    client.cookies.clear()
    anonymous = await client.post("/schedule/calendar-feed")
    assert anonymous.status_code in (303, 403)
    assert (await client.get(path)).status_code == 200  # none of that changed the doctor's link
    assert await _actions(owner_sessionmaker, b.tenant.id) == ["scheduling.calendar_token.created"]


async def test_fetching_the_feed_does_not_log_its_token(client, factory: Factory, owner_sessionmaker, caplog):
    b = await make_bookable(factory, owner_sessionmaker)
    await web_login(client, b.doctor)
    made = FEED.search((await client.post("/schedule/calendar-feed", data={"csrf_token": _tok(client)})).text)
    assert made
    client.cookies.clear()
    with caplog.at_level(logging.DEBUG):
        assert (await client.get(made.group(1))).status_code == 200
    server_logs = [f"{r.getMessage()} {r.__dict__}" for r in caplog.records if not r.name.startswith("httpx")]
    assert server_logs and not [line for line in server_logs if made.group(2) in line]
