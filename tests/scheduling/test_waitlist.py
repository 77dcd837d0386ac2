"""Waitlist: a freed slot goes to the first matching waiter as a hold with a deadline; when the
offer lapses it goes to the next; a confirmed offer closes the entry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import text

from carebase.core.uow import unit_of_work
from carebase.scheduling.waitlist import settle_offers
from tests.api.helpers import assert_problem, field_errors
from tests.scheduling.bookable import make_bookable
from tests.scheduling.test_booking import free_slots, hold, outbox_topics


async def _patient_user(factory, tenant, name):
    user = await factory.user(tenant, "patient", password="a-patient-password")
    patient = await factory.patient(tenant, user=user, given=name)
    return user, patient, await factory.headers(user)


async def test_a_cancelled_slot_is_offered_to_waiters_in_turn(client, factory, owner_sessionmaker, db):
    clinic = await make_bookable(factory, owner_sessionmaker)
    desk = await factory.user(clinic.tenant, "receptionist")
    desk_headers = await factory.headers(desk)
    booked_patient = await factory.patient(clinic.tenant)
    slot = (await free_slots(client, desk_headers, clinic))[0]
    appt = (await hold(client, desk_headers, clinic, booked_patient, slot["starts_at"])).json()
    await client.post(f"/api/v1/appointments/{appt['id']}/confirm", headers=desk_headers)

    day = datetime.fromisoformat(slot["starts_at"]).date()
    waiters = []
    for name in ("Bina", "Chetan"):
        user, patient, headers = await _patient_user(factory, clinic.tenant, name)
        r = await client.post(
            "/api/v1/waitlist",
            headers=headers,
            json={
                "patient_id": str(patient),
                "practitioner_id": str(clinic.practitioner_id),
                "service_id": str(clinic.service_id),
                "earliest_date": day.isoformat(),
                "latest_date": (day + timedelta(days=3)).isoformat(),
            },
        )
        assert r.status_code == 201, r.text
        waiters.append((user, patient, headers, r.json()["id"]))

    r = await client.post(f"/api/v1/appointments/{appt['id']}/cancel", headers=desk_headers, json={"reason": "ill"})
    assert r.status_code == 200
    (_, b_patient, b_headers, b_entry), (_, c_patient, c_headers, c_entry) = waiters
    [b_offer] = (await client.get("/api/v1/my/waitlist", headers=b_headers)).json()
    assert b_offer["status"] == "offered" and b_offer["offered_appointment_id"]
    offered = (await client.get(f"/api/v1/appointments/{b_offer['offered_appointment_id']}", headers=b_headers)).json()
    assert offered["status"] == "held" and offered["starts_at"] == appt["starts_at"] and offered["source"] == "waitlist"
    assert "waitlist.offered" in await outbox_topics(owner_sessionmaker, clinic.tenant.id)
    assert (await client.get("/api/v1/my/waitlist", headers=c_headers)).json()[0]["status"] == "waiting"

    # Bina lets the offer lapse: it goes to Chetan.
    async with owner_sessionmaker() as s, s.begin():
        await s.execute(
            text("UPDATE waitlist_entries SET offer_expires_at = now() - interval '1 minute' WHERE id = :i"),
            {"i": b_entry},
        )
        await s.execute(
            text("UPDATE appointments SET hold_expires_at = now() - interval '1 minute' WHERE id = :i"),
            {"i": b_offer["offered_appointment_id"]},
        )
    async with unit_of_work(db, tenant_id=clinic.tenant.id) as session:
        assert await settle_offers(session) == 1
    assert (await client.get("/api/v1/my/waitlist", headers=b_headers)).json() == []
    [c_offer] = (await client.get("/api/v1/my/waitlist", headers=c_headers)).json()
    assert c_offer["status"] == "offered"
    # Chetan confirms in time; settling closes the entry as booked.
    r = await client.post(f"/api/v1/appointments/{c_offer['offered_appointment_id']}/confirm", headers=c_headers)
    assert r.status_code == 200 and r.json()["status"] == "confirmed"
    async with unit_of_work(db, tenant_id=clinic.tenant.id) as session:
        await settle_offers(session)
    async with owner_sessionmaker() as s:
        status = (await s.execute(text("SELECT status FROM waitlist_entries WHERE id = :i"), {"i": c_entry})).scalar()
    assert status == "booked"


async def test_waitlist_input_is_checked(client, factory, owner_sessionmaker):
    clinic = await make_bookable(factory, owner_sessionmaker)
    user, patient, headers = await _patient_user(factory, clinic.tenant, "Dev")
    stranger = await factory.patient(clinic.tenant, given="Stranger")
    today = datetime.now(UTC).date()
    body = {
        "patient_id": str(patient),
        "practitioner_id": str(clinic.practitioner_id),
        "service_id": str(clinic.service_id),
        "earliest_date": (today + timedelta(days=5)).isoformat(),
        "latest_date": today.isoformat(),
    }
    assert "latest_date" in field_errors(
        assert_problem(await client.post("/api/v1/waitlist", headers=headers, json=body), 422)
    )
    body["latest_date"] = (today + timedelta(days=400)).isoformat()
    assert_problem(await client.post("/api/v1/waitlist", headers=headers, json=body), 422)
    body["latest_date"] = (today + timedelta(days=10)).isoformat()
    assert_problem(
        await client.post("/api/v1/waitlist", headers=headers, json={**body, "patient_id": str(stranger)}), 403
    )
    assert (await client.post("/api/v1/waitlist", headers=headers, json=body)).status_code == 201
    assert_problem(await client.post("/api/v1/waitlist", headers=headers, json=body), 409)  # already waiting
