"""Booking screens, server-rendered: the front desk board and booking on behalf, the patient's
profile, hold, confirm and appointments, the doctor's schedule editor and requests. Forms show errors
next to their fields, permissions and CSRF are enforced."""

from __future__ import annotations

import re
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import update

from carebase.scheduling.models import Appointment
from tests.factories import Factory
from tests.scheduling.bookable import make_bookable
from tests.web.helpers import field_error, web_login  # noqa: F401


def _tok(client) -> str:  # type: ignore[no-untyped-def]
    return client.cookies["cb_csrf"]


async def _book_page(client, b, patient_id):  # type: ignore[no-untyped-def]
    return await client.get("/desk/book", params={"patient_id": str(patient_id), "practitioner_id": str(b.practitioner_id)})


def _slots(html: str) -> list[str]:
    return re.findall(r'name="slot" value="([^"]+)"', html)


async def test_desk_books_a_walk_in_checks_in_and_marks_a_no_show(client, factory: Factory, owner_sessionmaker):
    b = await make_bookable(factory, owner_sessionmaker, start=time(0, 0), end=time(23, 45))
    desk = await factory.user(b.tenant, "receptionist")
    patient_id = await factory.patient(b.tenant, given="Ravi", family="Shah")
    await web_login(client, desk)
    home = await client.get("/")
    assert 'href="/desk"' in home.text and 'href="/schedule"' not in home.text

    found = await client.get("/desk/book", params={"q": "Shah"})
    assert f"/desk/book?patient_id={patient_id}" in found.text
    page = await _book_page(client, b, patient_id)
    assert page.status_code == 200 and "Free times with Dr. Test" in page.text
    slots = _slots(page.text)
    assert slots, "the week has free times"
    form = {"patient_id": str(patient_id), "practitioner_id": str(b.practitioner_id), "service_id": str(b.service_id),
            "source": "walk_in", "csrf_token": _tok(client)}  # fmt: skip
    bad = await client.post("/desk/book", data=form | {"slot": "yesterday|nowhere"})
    assert bad.status_code == 422 and "Pick one of the free times." in bad.text
    ok = await client.post("/desk/book", data=form | {"slot": slots[0]})
    assert ok.status_code == 303 and ok.headers["location"].startswith("/desk?date=")
    taken = await client.post("/desk/book", data=form | {"slot": slots[0]})
    assert taken.status_code == 409 and "not free" in taken.text

    board = await client.get(ok.headers["location"])
    assert board.status_code == 200 and "Shah" in board.text and "Walk-in" in board.text
    appointment_id = re.search(r'id="appt-([0-9a-f-]+)"', board.text).group(1)  # type: ignore[union-attr]
    early_no_show = await client.post(f"/desk/appointments/{appointment_id}/no-show", headers={"hx-request": "true",
                                      "x-csrf-token": _tok(client)})  # fmt: skip
    assert early_no_show.status_code == 200 and "15 minutes after" in early_no_show.text
    checked = await client.post(f"/desk/appointments/{appointment_id}/check-in", headers={"hx-request": "true",
                                "x-csrf-token": _tok(client)})  # fmt: skip
    assert checked.status_code == 200 and "Checked in" in checked.text and "<html" not in checked.text

    # Another visit in the past: a no-show can be marked.
    second = await client.post("/desk/book", data=form | {"slot": slots[1]})
    assert second.status_code == 303
    board = await client.get(second.headers["location"])
    ids = re.findall(r'id="appt-([0-9a-f-]+)"', board.text)
    other = next(i for i in ids if i != appointment_id)
    past = datetime.now(UTC) - timedelta(hours=2)
    async with owner_sessionmaker() as s, s.begin():
        await s.execute(update(Appointment).where(Appointment.id == other)
                        .values(starts_at=past, ends_at=past + timedelta(minutes=15)))  # fmt: skip
    marked = await client.post(f"/desk/appointments/{other}/no-show", data={"csrf_token": _tok(client)})
    assert marked.status_code == 303
    board = await client.get(marked.headers["location"])
    assert "No-show" in board.text


async def test_desk_cancel_needs_a_reason_and_csrf(client, factory: Factory, owner_sessionmaker):
    b = await make_bookable(factory, owner_sessionmaker, start=time(0, 0), end=time(23, 45))
    desk = await factory.user(b.tenant, "receptionist")
    patient_id = await factory.patient(b.tenant)
    await web_login(client, desk)
    page = await _book_page(client, b, patient_id)
    ok = await client.post("/desk/book", data={
        "patient_id": str(patient_id), "practitioner_id": str(b.practitioner_id), "service_id": str(b.service_id),
        "source": "phone", "slot": _slots(page.text)[0], "csrf_token": _tok(client)})  # fmt: skip
    board = await client.get(ok.headers["location"])
    aid = re.search(r'id="appt-([0-9a-f-]+)"', board.text).group(1)  # type: ignore[union-attr]
    forged = await client.post(f"/desk/appointments/{aid}/cancel", data={"reason": "x y", "csrf_token": "forged" * 8})
    assert forged.status_code == 403
    hx = {"hx-request": "true", "x-csrf-token": _tok(client)}
    short = await client.post(f"/desk/appointments/{aid}/cancel", data={"reason": ""}, headers=hx)
    assert "Give a reason" in short.text
    done = await client.post(f"/desk/appointments/{aid}/cancel", data={"reason": "Patient called"}, headers=hx)
    assert "Cancelled" in done.text
    again = await client.get(ok.headers["location"])
    assert f'id="appt-{aid}"' not in again.text


async def test_desk_pages_need_the_desk_permission(client, factory: Factory, owner_sessionmaker):
    b = await make_bookable(factory, owner_sessionmaker)
    pharmacist = await factory.user(b.tenant, "pharmacist")
    await web_login(client, pharmacist)
    assert (await client.get("/desk")).status_code == 403
    assert (await client.get("/desk/book")).status_code == 403
    assert 'href="/desk"' not in (await client.get("/")).text


async def test_desk_reschedules_from_the_card(client, factory: Factory, owner_sessionmaker):
    b = await make_bookable(factory, owner_sessionmaker, start=time(0, 0), end=time(23, 45))
    desk = await factory.user(b.tenant, "receptionist")
    patient_id = await factory.patient(b.tenant)
    await web_login(client, desk)
    page = await _book_page(client, b, patient_id)
    slots = _slots(page.text)
    ok = await client.post("/desk/book", data={
        "patient_id": str(patient_id), "practitioner_id": str(b.practitioner_id), "service_id": str(b.service_id),
        "source": "phone", "slot": slots[0], "csrf_token": _tok(client)})  # fmt: skip
    board = await client.get(ok.headers["location"])
    aid = re.search(r'id="appt-([0-9a-f-]+)"', board.text).group(1)  # type: ignore[union-attr]
    picker = await client.get(f"/desk/appointments/{aid}/reschedule")
    assert picker.status_code == 200 and "Pick the new time" in picker.text
    new_slot = _slots(picker.text)[3]
    moved = await client.post(f"/desk/appointments/{aid}/reschedule",
                              data={"slot": new_slot, "csrf_token": _tok(client)})  # fmt: skip
    assert moved.status_code == 303
    local = datetime.fromisoformat(new_slot.split("|")[0]).astimezone(ZoneInfo("Asia/Kolkata"))
    board = await client.get(moved.headers["location"])
    assert local.strftime("%H:%M") in board.text
