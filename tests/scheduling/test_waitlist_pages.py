"""The patient's waitlist form (web): a bad value comes back as the form again, with the message next to
the field and a 4xx status; nothing is written."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import text

from tests.scheduling.bookable import make_bookable
from tests.web.booking_helpers import patient_user, web_patient_login
from tests.web.helpers import field_error


async def _rows(owner, *tenant_ids) -> int:  # type: ignore[no-untyped-def]
    async with owner() as s:
        query = text("SELECT count(*) FROM waitlist_entries WHERE tenant_id = ANY(:t)")
        return (await s.execute(query, {"t": list(tenant_ids)})).scalar_one()


async def test_the_waitlist_form_shows_its_errors_inline(client, factory, owner_sessionmaker, mailbox):
    clinic = await make_bookable(factory, owner_sessionmaker)
    other = await make_bookable(factory, owner_sessionmaker)
    user, patient_id = await patient_user(factory, clinic.tenant, given="Lata")
    await web_patient_login(client, mailbox, user)
    today = datetime.now(UTC).date()
    form = {"practitioner_id": str(clinic.practitioner_id), "service_id": str(clinic.service_id),
            "patient_id": str(patient_id), "earliest_date": today.isoformat(),
            "latest_date": (today + timedelta(days=7)).isoformat(),
            "csrf_token": client.cookies["cb_csrf"]}  # fmt: skip

    malformed = await client.post("/book/waitlist", data=form | {"patient_id": "not-a-uuid"})
    assert malformed.status_code == 422
    assert field_error(malformed.text, "patient_id") == "Choose one of the options."
    assert 'action="/book/waitlist"' in malformed.text and "Me (Lata Kumar)" in malformed.text

    bad_date = await client.post("/book/waitlist", data=form | {"latest_date": "next week"})
    assert bad_date.status_code == 422 and field_error(bad_date.text, "latest_date")
    assert f'value="{form["earliest_date"]}"' in bad_date.text  # what was typed is kept

    yesterday = (today - timedelta(days=1)).isoformat()
    backwards = await client.post("/book/waitlist", data=form | {"latest_date": yesterday})
    assert backwards.status_code == 422 and "before its start" in field_error(backwards.text, "latest_date")

    not_offered = await client.post("/book/waitlist", data=form | {"service_id": str(uuid.uuid4())})
    assert not_offered.status_code == 422 and "does not offer that service" in not_offered.text

    elsewhere = await client.post("/book/waitlist", data=form | {"practitioner_id": str(other.practitioner_id),
                                                                 "service_id": str(other.service_id)})  # fmt: skip
    assert elsewhere.status_code == 404 and "No such practitioner." in elsewhere.text
    assert await _rows(owner_sessionmaker, clinic.tenant.id, other.tenant.id) == 0

    joined = await client.post("/book/waitlist", data=form)
    assert joined.status_code == 303 and joined.headers["location"] == "/my/waitlist"
    again = await client.post("/book/waitlist", data=form)
    assert again.status_code == 409 and "already waiting" in again.text
    assert await _rows(owner_sessionmaker, clinic.tenant.id, other.tenant.id) == 1
