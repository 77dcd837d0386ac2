"""Booking screens, server-rendered: the front desk board and booking on behalf, the patient's
profile, hold, confirm and appointments, the doctor's schedule editor and requests. Forms show errors
next to their fields, permissions and CSRF are enforced."""

from __future__ import annotations

import re
from datetime import UTC, datetime, time, timedelta
from urllib.parse import unquote
from zoneinfo import ZoneInfo

from sqlalchemy import update

from carebase.scheduling.models import Appointment
from tests.factories import Factory
from tests.scheduling.bookable import make_bookable
from tests.web.booking_helpers import patient_user, publish, web_patient_login
from tests.web.helpers import field_error, web_login


def _tok(client) -> str:  # type: ignore[no-untyped-def]
    return client.cookies["cb_csrf"]


async def _book_page(client, b, patient_id):  # type: ignore[no-untyped-def]
    params = {"patient_id": str(patient_id), "practitioner_id": str(b.practitioner_id)}
    return await client.get("/desk/book", params=params)


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


# --- patient -----------------------------------------------------------------------------------------


async def test_patient_books_from_the_profile_and_cancels(client, factory: Factory, owner_sessionmaker, mailbox):
    b = await make_bookable(factory, owner_sessionmaker, start=time(0, 0), end=time(23, 45))
    await publish(owner_sessionmaker, b, "Dr. Meera Rao")
    user, patient_id = await patient_user(factory, b.tenant)
    profile = await client.get(f"/doctors/{b.practitioner_id}")
    assert profile.status_code == 200 and "Dr. Meera Rao" in profile.text
    slot = _slots(profile.text)[-1]  # days ahead: well before the cancellation cutoff
    book_url = f"/book?practitioner_id={b.practitioner_id}&service_id={b.service_id}&slot={slot}"
    anonymous = await client.get(book_url)
    assert anonymous.status_code == 303 and anonymous.headers["location"].startswith("/patient-login?next=/book")
    assert unquote(await web_patient_login(client, mailbox, user, book_url)) == book_url
    review = await client.get(book_url)
    assert review.status_code == 200 and "Who is the visit for?" in review.text and "Me (Asha Kumar)" in review.text
    form = {"practitioner_id": str(b.practitioner_id), "service_id": str(b.service_id), "slot": slot,
            "patient_id": str(patient_id), "csrf_token": _tok(client)}  # fmt: skip
    other = await factory.patient(b.tenant, given="Not", family="Mine")
    refused = await client.post("/book/hold", data=form | {"patient_id": str(other)})
    assert refused.status_code == 403 and "family members linked to your account" in refused.text
    held = await client.post("/book/hold", data=form)
    assert held.status_code == 303
    hold_page = await client.get(held.headers["location"])
    assert "Held for you until" in hold_page.text and "data-countdown" in hold_page.text
    aid = held.headers["location"].rsplit("/", 1)[1]
    confirmed = await client.post(f"/book/{aid}/confirm", data={"csrf_token": _tok(client)})
    assert confirmed.status_code == 303 and confirmed.headers["location"] == f"/book/{aid}/done"
    done = await client.get(confirmed.headers["location"])
    assert "You are booked" in done.text and f"/my/appointments/{aid}/calendar.ics" in done.text
    ics = await client.get(f"/my/appointments/{aid}/calendar.ics")
    assert ics.status_code == 200 and ics.text.startswith("BEGIN:VCALENDAR")
    mine = await client.get("/my/appointments")
    assert "Dr. Meera Rao" in mine.text and "up to 2 hours before" in mine.text
    no_reason = await client.post(f"/my/appointments/{aid}/cancel", data={"reason": "", "csrf_token": _tok(client)})
    assert no_reason.status_code == 422 and "Tell the clinic why" in no_reason.text
    ok = await client.post(f"/my/appointments/{aid}/cancel",
                           data={"reason": "Feeling better", "csrf_token": _tok(client)})  # fmt: skip
    assert ok.status_code == 303
    assert "Cancelled" in (await client.get("/my/appointments")).text


async def test_patient_cannot_cancel_after_the_cutoff(client, factory: Factory, owner_sessionmaker, mailbox):
    b = await make_bookable(factory, owner_sessionmaker, start=time(0, 0), end=time(23, 45))
    await publish(owner_sessionmaker, b)
    user, patient_id = await patient_user(factory, b.tenant)
    await web_patient_login(client, mailbox, user)
    slot = _slots((await client.get(f"/doctors/{b.practitioner_id}")).text)[0]
    held = await client.post("/book/hold", data={
        "practitioner_id": str(b.practitioner_id), "service_id": str(b.service_id), "slot": slot,
        "patient_id": str(patient_id), "csrf_token": _tok(client)})  # fmt: skip
    aid = held.headers["location"].rsplit("/", 1)[1]
    await client.post(f"/book/{aid}/confirm", data={"csrf_token": _tok(client)})
    soon = datetime.now(UTC) + timedelta(minutes=30)
    async with owner_sessionmaker() as s, s.begin():
        await s.execute(update(Appointment).where(Appointment.id == aid)
                        .values(starts_at=soon, ends_at=soon + timedelta(minutes=15)))  # fmt: skip
    late = await client.post(f"/my/appointments/{aid}/cancel", data={"reason": "Busy", "csrf_token": _tok(client)})
    assert late.status_code == 409 and "Changes online close 2 hours before the visit" in late.text


async def test_patient_of_another_tenant_is_offered_to_register(client, factory: Factory, owner_sessionmaker, mailbox):
    """The registration itself: tests/web/test_clinic_join_pages.py."""
    b = await make_bookable(factory, owner_sessionmaker, start=time(0, 0), end=time(23, 45))
    await publish(owner_sessionmaker, b)
    elsewhere = await factory.tenant(kind="clinic")
    user, _ = await patient_user(factory, elsewhere)
    await web_patient_login(client, mailbox, user)
    profile = await client.get(f"/doctors/{b.practitioner_id}")
    assert "New clinic for you" in profile.text
    slot = _slots(profile.text)[0]
    review = await client.get(f"/book?practitioner_id={b.practitioner_id}&service_id={b.service_id}&slot={slot}")
    assert "Register with" in review.text and "Hold this time" not in review.text


async def test_staff_are_sent_to_the_desk_and_find_is_public(client, factory: Factory, owner_sessionmaker):
    b = await make_bookable(factory, owner_sessionmaker)
    await publish(owner_sessionmaker, b, "Dr. Findable Person")
    page = await client.get("/find", params={"q": "Findable"})
    assert page.status_code == 200 and "Dr. Findable Person" in page.text
    bad = await client.get("/find", params={"max_fee": "lots"})
    assert bad.status_code == 422 and field_error(bad.text, "max_fee")
    await web_login(client, b.doctor)
    assert (await client.get("/my/appointments")).status_code == 403


# --- doctor ------------------------------------------------------------------------------------------


async def test_doctor_edits_the_weekly_template_with_inline_errors(client, factory: Factory, owner_sessionmaker):
    b = await make_bookable(factory, owner_sessionmaker, weekdays=range(0, 1))  # Mondays 09:00-13:00
    await web_login(client, b.doctor)
    home = await client.get("/")
    assert 'href="/schedule"' in home.text and 'href="/desk"' not in home.text
    page = await client.get("/schedule")
    assert page.status_code == 200 and "09:00–13:00" in page.text
    base = {"location_id": str(b.location_id), "weekday": "0", "slot_minutes": "15", "valid_from": "2026-01-01",
            "valid_until": "", "csrf_token": _tok(client)}  # fmt: skip
    backwards = await client.post("/schedule/templates", data=base | {"start_time": "14:00", "end_time": "13:00"})
    assert backwards.status_code == 422 and field_error(backwards.text, "end_time")
    assert 'value="14:00"' in backwards.text  # what was typed stays
    overlap = await client.post("/schedule/templates", data=base | {"start_time": "12:00", "end_time": "15:00"})
    assert overlap.status_code == 409 and "overlaps with the Mondays 09:00-13:00" in overlap.text
    assert "row--clash" in overlap.text
    ok = await client.post("/schedule/templates", data=base | {"start_time": "14:00", "end_time": "17:00"})
    assert ok.status_code == 303
    assert "14:00–17:00" in (await client.get("/schedule")).text

    tz = {"timezone": "Asia/Kolkata", "csrf_token": _tok(client)}
    backwards_off = {"starts_at": "2030-05-02T10:00", "ends_at": "2030-05-01T10:00"}
    off = await client.post("/schedule/time-off", data=tz | backwards_off)
    assert off.status_code == 422 and field_error(off.text, "ends_at")
    off = await client.post("/schedule/time-off", data=tz | {"starts_at": "2030-05-01T10:00",
                                                             "ends_at": "2030-05-03T18:00", "reason": "Conference"})
    assert off.status_code == 303
    assert "Conference" in (await client.get("/schedule")).text


async def test_doctor_approves_a_request_and_sees_the_day(client, factory: Factory, owner_sessionmaker, mailbox):
    b = await make_bookable(factory, owner_sessionmaker, start=time(0, 0), end=time(23, 45), approves_bookings=True)
    await publish(owner_sessionmaker, b)
    user, patient_id = await patient_user(factory, b.tenant, given="Kiran", family="Das")
    await web_patient_login(client, mailbox, user)
    slot = _slots((await client.get(f"/doctors/{b.practitioner_id}")).text)[0]
    held = await client.post("/book/hold", data={
        "practitioner_id": str(b.practitioner_id), "service_id": str(b.service_id), "slot": slot,
        "patient_id": str(patient_id), "reason": "Knee pain", "csrf_token": _tok(client)})  # fmt: skip
    aid = held.headers["location"].rsplit("/", 1)[1]
    await client.post(f"/book/{aid}/confirm", data={"csrf_token": _tok(client)})
    assert "Request sent" in (await client.get(f"/book/{aid}/done")).text
    client.cookies.clear()
    await web_login(client, b.doctor)
    page = await client.get("/schedule")
    assert "Booking requests" in page.text and "Knee pain" in page.text
    ok = await client.post(f"/schedule/requests/{aid}/approve", data={"csrf_token": _tok(client)})
    assert ok.status_code == 303
    assert "Knee pain" not in (await client.get("/schedule")).text
    local = datetime.fromisoformat(slot.split("|")[0]).astimezone(ZoneInfo("Asia/Kolkata"))
    day = await client.get("/schedule/day", params={"date": local.date().isoformat()})
    assert "Kiran Das" in day.text and "Confirmed" in day.text
    week = await client.get("/schedule/week", params={"date": local.date().isoformat()})
    assert week.status_code == 200 and "Kiran Das" in week.text


async def test_receptionist_cannot_edit_schedules(client, factory: Factory, owner_sessionmaker):
    b = await make_bookable(factory, owner_sessionmaker)
    desk = await factory.user(b.tenant, "receptionist")
    await web_login(client, desk)
    assert (await client.get("/schedule")).status_code == 403
    refused = await client.post("/schedule/templates", data={"csrf_token": _tok(client)})
    assert refused.status_code == 403
