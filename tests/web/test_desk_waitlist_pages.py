"""The front desk's waitlist page: the receptionist finds a patient, adds them for a doctor, service
and dates, sees the row (and an offer's deadline), removes it; bad input is a 422 with the message
next to the field and writes nothing; CSRF and permissions as on the other desk pages."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import text

from carebase.scheduling.models import WaitlistEntry
from tests.factories import Factory
from tests.scheduling.bookable import book_directly, make_bookable
from tests.web.booking_helpers import patient_user, web_patient_login
from tests.web.helpers import field_error, web_login


def _tok(client) -> str:  # type: ignore[no-untyped-def]
    return client.cookies["cb_csrf"]


async def _state(owner, tenant_id: uuid.UUID) -> tuple[list[tuple[str, str]], list[str]]:  # type: ignore[no-untyped-def]
    """The tenant's waitlist rows (id, status) and its waitlist audit actions."""
    async with owner() as s:
        rows = (await s.execute(text("SELECT id::text, status FROM waitlist_entries WHERE tenant_id = :t ORDER BY id"),
                                {"t": tenant_id})).all()  # fmt: skip
        actions = (await s.execute(text("SELECT action FROM audit_events WHERE tenant_id = :t"
                                        " AND action LIKE 'scheduling.waitlist.%' ORDER BY seq"),
                                   {"t": tenant_id})).scalars()  # fmt: skip
        return [tuple(r) for r in rows], list(actions)  # type: ignore[misc]


def _form(client, b, patient_id, **over: str) -> dict[str, str]:  # type: ignore[no-untyped-def]
    today = date.today()  # noqa: DTZ011
    return {"patient_id": str(patient_id), "practitioner_id": str(b.practitioner_id), "service_id": str(b.service_id),
            "earliest_date": today.isoformat(), "latest_date": (today + timedelta(days=10)).isoformat(),
            "csrf_token": _tok(client)} | over  # fmt: skip


async def test_receptionist_adds_a_patient_sees_the_row_and_removes_it(client, factory: Factory, owner_sessionmaker):
    b = await make_bookable(factory, owner_sessionmaker)
    desk = await factory.user(b.tenant, "receptionist")
    patient_id = await factory.patient(b.tenant, given="Meera", family="Iyer")
    await web_login(client, desk)
    board = await client.get("/desk")
    assert 'href="/desk/waitlist"' in board.text
    assert 'href="/desk/waitlist"' not in (await client.get("/")).text.split("<main", 1)[0]  # not in the global nav

    empty = await client.get("/desk/waitlist")
    assert empty.status_code == 200 and "Nobody is waiting" in empty.text
    found = await client.get("/desk/waitlist", params={"q": "Iyer"})
    assert f"/desk/waitlist?patient_id={patient_id}" in found.text
    chosen = await client.get("/desk/waitlist", params={"patient_id": str(patient_id)})
    assert "Meera Iyer" in chosen.text and 'name="practitioner_id"' in chosen.text
    assert "Consultation · 15 min" in chosen.text  # the only doctor is preselected, with their services
    services = await client.get("/desk/waitlist/services", params={"practitioner_id": str(b.practitioner_id)},
                                headers={"hx-request": "true"})  # fmt: skip
    assert services.status_code == 200 and "Consultation · 15 min" in services.text and "<html" not in services.text

    added = await client.post("/desk/waitlist", data=_form(client, b, patient_id))
    assert added.status_code == 303, added.text
    assert added.headers["location"].startswith("/desk/waitlist?added=")
    page = await client.get(added.headers["location"])
    row = re.search(r'<tr id="entry-([0-9a-f-]+)"[^>]*>(.*?)</tr>', page.text, re.S)
    assert row, page.text
    entry_id, cells = row.group(1), row.group(2)
    assert "Meera Iyer" in cells and "Dr. Test" in cells and "Consultation" in cells and "Waiting" in cells
    assert "Meera Iyer is on the waitlist for Dr. Test." in page.text
    rows, actions = await _state(owner_sessionmaker, b.tenant.id)
    assert rows == [(entry_id, "waiting")] and actions == ["scheduling.waitlist.joined"]

    twice = await client.post("/desk/waitlist", data=_form(client, b, patient_id))
    assert twice.status_code == 409 and "already waiting" in twice.text
    assert len((await _state(owner_sessionmaker, b.tenant.id))[0]) == 1

    filtered = await client.get("/desk/waitlist", params={"practitioner": str(b.practitioner_id), "status": "offered"})
    assert f'id="entry-{entry_id}"' not in filtered.text and "Nobody matches these filters" in filtered.text

    removed = await client.post(f"/desk/waitlist/{entry_id}/remove", data={"csrf_token": _tok(client)})
    assert removed.status_code == 303 and "removed=1" in removed.headers["location"]
    after = await client.get(removed.headers["location"])
    assert f'id="entry-{entry_id}"' not in after.text and "removed from the waitlist" in after.text
    rows, actions = await _state(owner_sessionmaker, b.tenant.id)
    assert rows == [(entry_id, "cancelled")] and actions[-1] == "scheduling.waitlist.left"
    again = await client.post(f"/desk/waitlist/{entry_id}/remove", data={"csrf_token": _tok(client)})
    assert again.status_code == 409 and "already cancelled" in again.text
    unknown = await client.post(f"/desk/waitlist/{uuid.uuid4()}/remove", data={"csrf_token": _tok(client)})
    assert unknown.status_code == 404


async def test_bad_input_is_a_422_next_to_the_field_and_writes_nothing(client, factory: Factory, owner_sessionmaker):
    b = await make_bookable(factory, owner_sessionmaker)
    other = await make_bookable(factory, owner_sessionmaker)  # another tenant's doctor and service
    desk = await factory.user(b.tenant, "receptionist")
    patient_id = await factory.patient(b.tenant, given="Ravi", family="Shah")
    await web_login(client, desk)
    await client.get("/desk/waitlist")
    today = date.today()  # noqa: DTZ011
    cases = [
        ({"latest_date": (today - timedelta(days=1)).isoformat()}, "latest_date", None),
        ({"earliest_date": "soon"}, "earliest_date", "Enter a date like"),
        ({"latest_date": ""}, "latest_date", "Enter a date like"),
        ({"latest_date": (today + timedelta(days=120)).isoformat()}, "latest_date", "90 days"),
        ({"earliest_date": "2020-01-01", "latest_date": "2020-01-05"}, "earliest_date", "past"),
        ({"practitioner_id": str(other.practitioner_id)}, "practitioner_id", "Choose a doctor."),
        ({"practitioner_id": "not-a-uuid"}, "practitioner_id", "Choose a doctor."),
        ({"service_id": str(other.service_id)}, "service_id", "Choose a service this doctor offers."),
        ({"service_id": ""}, "service_id", "Choose a service this doctor offers."),
    ]
    for change, name, message in cases:
        r = await client.post("/desk/waitlist", data=_form(client, b, patient_id, **change))
        assert r.status_code == 422, (change, r.status_code)
        error = field_error(r.text, name)
        assert error and (message is None or message in error), (change, error)
        assert "Ravi Shah" in r.text  # the chosen patient stays
    typed = await client.post("/desk/waitlist", data=_form(client, b, patient_id, latest_date="2020-01-01"))
    assert 'value="2020-01-01"' in typed.text  # what was typed stays
    nobody = await client.post("/desk/waitlist", data=_form(client, b, uuid.uuid4()))
    assert nobody.status_code == 422 and "Choose the patient again" in nobody.text
    foreign = await client.post("/desk/waitlist", data=_form(client, b, await factory.patient(other.tenant)))
    assert foreign.status_code == 422  # another tenant's patient is invisible here
    forged = await client.post("/desk/waitlist", data=_form(client, b, patient_id, csrf_token="forged" * 8))
    assert forged.status_code == 403
    assert await _state(owner_sessionmaker, b.tenant.id) == ([], [])


async def test_an_offer_shows_its_time_and_deadline(client, factory: Factory, owner_sessionmaker):
    b = await make_bookable(factory, owner_sessionmaker, start=time(0, 0), end=time(23, 45))
    desk = await factory.user(b.tenant, "receptionist")
    patient_id = await factory.patient(b.tenant, given="Lata", family="Menon")
    starts = (datetime.now(UTC) + timedelta(days=1)).replace(hour=5, minute=30, second=0, microsecond=0)  # 11:00 IST
    expires = datetime.now(UTC).replace(second=0, microsecond=0) + timedelta(minutes=30)
    hold = await book_directly(owner_sessionmaker, b, patient_id, starts, booked_by=desk.id, status="held",
                               hold_expires_at=expires, source="waitlist")  # fmt: skip
    async with owner_sessionmaker() as s, s.begin():
        s.add(WaitlistEntry(
            tenant_id=b.tenant.id, patient_id=patient_id, practitioner_id=b.practitioner_id, service_id=b.service_id,
            requested_by_user_id=desk.id, earliest_date=starts.date(), latest_date=starts.date() + timedelta(days=3),
            status="offered", offered_appointment_id=hold, offer_expires_at=expires,
        ))  # fmt: skip
    await web_login(client, desk)
    page = await client.get("/desk/waitlist", params={"status": "offered"})
    assert "Lata Menon" in page.text and "Offered" in page.text and "1</strong> offered" in page.text
    local_expiry = (expires + timedelta(hours=5, minutes=30)).strftime("%H:%M")
    assert re.search(rf"to accept by (\d\d \w{{3}}, )?{local_expiry}", page.text) and "11:00" in page.text


async def test_doctors_nurses_and_patients_cannot_open_the_waitlist(client, factory: Factory, owner_sessionmaker,
                                                                    mailbox):  # fmt: skip
    b = await make_bookable(factory, owner_sessionmaker)
    patient_id = await factory.patient(b.tenant)
    for role in ("doctor", "nurse"):
        client.cookies.clear()
        user = b.doctor if role == "doctor" else await factory.user(b.tenant, role)
        await web_login(client, user)
        assert (await client.get("/desk/waitlist")).status_code == 403
        assert (await client.get("/desk/waitlist/services")).status_code == 403
        refused = await client.post("/desk/waitlist", data=_form(client, b, patient_id))
        assert refused.status_code == 403
        if role == "nurse":  # the nurse sees the board, without the waitlist button
            assert 'href="/desk/waitlist"' not in (await client.get("/desk")).text
    client.cookies.clear()
    user, own_id = await patient_user(factory, b.tenant, given="Kiran", family="Das")
    await web_patient_login(client, mailbox, user)
    assert (await client.get("/desk/waitlist")).status_code == 403
    refused = await client.post("/desk/waitlist", data=_form(client, b, own_id))
    assert refused.status_code == 403
    assert await _state(owner_sessionmaker, b.tenant.id) == ([], [])
    client.cookies.clear()
    anonymous = await client.get("/desk/waitlist")
    assert anonymous.status_code == 303 and anonymous.headers["location"].startswith("/login")
