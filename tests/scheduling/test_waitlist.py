"""Waitlist: a freed slot goes to the first matching waiter as a hold with a deadline; when the
offer lapses it goes to the next; a confirmed offer closes the entry."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import text, update

from carebase.core.uow import unit_of_work
from carebase.directory.models import Practitioner, Service
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


async def _waitlist_rows(owner_sessionmaker, *tenant_ids) -> int:
    async with owner_sessionmaker() as s:
        query = text("SELECT count(*) FROM waitlist_entries WHERE tenant_id = ANY(:t)")
        return (await s.execute(query, {"t": list(tenant_ids)})).scalar_one()


async def _service_not_offered(owner_sessionmaker, tenant_id) -> uuid.UUID:
    """An active service of the tenant that its practitioner does not offer."""
    async with owner_sessionmaker() as s, s.begin():
        service = Service(tenant_id=tenant_id, name="Physiotherapy", duration_minutes=30, price_minor=90000,
                          currency="INR", mode="in_person")  # fmt: skip
        s.add(service)
        await s.flush()
        return service.id


async def test_staff_cannot_wait_with_another_clinics_or_unknown_ids(client, factory, owner_sessionmaker):
    clinic = await make_bookable(factory, owner_sessionmaker)
    other = await make_bookable(factory, owner_sessionmaker)
    desk_headers = await factory.headers(await factory.user(clinic.tenant, "receptionist"))
    patient = await factory.patient(clinic.tenant, given="Esha")
    their_patient = await factory.patient(other.tenant, given="Farid")
    not_offered = await _service_not_offered(owner_sessionmaker, clinic.tenant.id)
    today = datetime.now(UTC).date()
    body = {
        "patient_id": str(patient),
        "practitioner_id": str(clinic.practitioner_id),
        "service_id": str(clinic.service_id),
        "earliest_date": today.isoformat(),
        "latest_date": (today + timedelta(days=10)).isoformat(),
    }

    async def join(**change: object):  # type: ignore[no-untyped-def]
        return await client.post("/api/v1/waitlist", headers=desk_headers, json=body | change)

    # Another clinic's practitioner (with its own service, or ours), and one nobody has: not found.
    for practitioner, service in ((other.practitioner_id, other.service_id), (other.practitioner_id, clinic.service_id),
                                  (uuid.uuid4(), clinic.service_id)):  # fmt: skip
        problem = assert_problem(await join(practitioner_id=str(practitioner), service_id=str(service)), 404)
        assert problem["detail"] == "No such practitioner."
    # Another clinic's patient, and an unknown one: the patient field is wrong.
    for stranger in (their_patient, uuid.uuid4()):
        assert field_errors(assert_problem(await join(patient_id=str(stranger)), 422)) == {
            "patient_id": "No such patient in this organisation."
        }
    # A service the practitioner does not offer: one of ours, another clinic's, an unknown one.
    for service in (not_offered, other.service_id, uuid.uuid4()):
        assert "service_id" in field_errors(assert_problem(await join(service_id=str(service)), 422))
    # An inactive practitioner takes no new waiters.
    async with owner_sessionmaker() as s, s.begin():
        await s.execute(update(Practitioner).where(Practitioner.id == clinic.practitioner_id).values(is_active=False))
    assert_problem(await join(), 404)
    assert await _waitlist_rows(owner_sessionmaker, clinic.tenant.id, other.tenant.id) == 0

    async with owner_sessionmaker() as s, s.begin():
        await s.execute(update(Practitioner).where(Practitioner.id == clinic.practitioner_id).values(is_active=True))
    assert (await join()).status_code == 201
    assert await _waitlist_rows(owner_sessionmaker, clinic.tenant.id, other.tenant.id) == 1


async def test_patients_cannot_wait_for_another_clinics_practitioner(client, factory, owner_sessionmaker):
    clinic = await make_bookable(factory, owner_sessionmaker)
    other = await make_bookable(factory, owner_sessionmaker)
    _, patient, headers = await _patient_user(factory, clinic.tenant, "Gita")
    today = datetime.now(UTC).date()
    body = {
        "patient_id": str(patient),
        "practitioner_id": str(other.practitioner_id),
        "service_id": str(other.service_id),
        "earliest_date": today.isoformat(),
        "latest_date": (today + timedelta(days=10)).isoformat(),
    }
    assert_problem(await client.post("/api/v1/waitlist", headers=headers, json=body), 404)
    body |= {"practitioner_id": str(clinic.practitioner_id), "service_id": str(uuid.uuid4())}
    assert "service_id" in field_errors(
        assert_problem(await client.post("/api/v1/waitlist", headers=headers, json=body), 422)
    )
    assert await _waitlist_rows(owner_sessionmaker, clinic.tenant.id, other.tenant.id) == 0
