"""A patient of clinic Y joins clinic X of the marketplace: a membership and a record in X (only X sees
them), audited in X, the session moved there; joining again changes nothing; staff, unlisted and
suspended clinics, and bad details are refused with nothing changed."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

import httpx
from sqlalchemy import text

from carebase.core.uow import unit_of_work
from tests.api.helpers import assert_problem, audit_actions, bearer, field_errors
from tests.factories import Factory
from tests.patients.market import home_patient, listed_clinic, memberships_of, records_of

DETAILS = {"given_name": "Asha", "family_name": "Kumar-Rao", "birth_date": "1990-04-23", "sex": "female",
           "phone": "98765 43210", "email": "asha.rao@patients.example"}  # fmt: skip


async def join(client: httpx.AsyncClient, tokens: dict, organization_id: uuid.UUID, details: dict | None = None):  # type: ignore[type-arg]
    body: dict = {"organization_id": str(organization_id)}  # type: ignore[type-arg]
    if details is not None:
        body["details"] = details
    return await client.post("/api/v1/my/clinics", json=body, headers=bearer(tokens))


async def test_patient_joins_a_listed_clinic_and_books_there(client, factory: Factory, owner_sessionmaker):
    x = await listed_clinic(factory, owner_sessionmaker)
    y, user, home_record = await home_patient(factory, owner_sessionmaker)
    old = await factory.login(user)

    r = await join(client, old, x.tenant.id, DETAILS)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["created"] is True and body["organization_id"] == str(x.tenant.id)
    assert body["tokens"]["tenant_id"] == str(x.tenant.id) and body["tokens"]["role"] == "patient"
    patient = body["patient"]
    # What the patient confirmed, corrected name and all; the phone stored as E.164.
    assert (patient["family_name"], patient["birth_date"], patient["phone"]) == ("Kumar-Rao", "1990-04-23",
                                                                               "+919876543210")  # fmt: skip
    new = body["tokens"]
    actions = [a["action"] for a in await audit_actions(owner_sessionmaker, x.tenant.id)]
    assert actions[-3:] == ["auth.tenant.switched", "patients.record.created", "patients.clinic.joined"]
    # The old session ended (as a switch does); the new one is at X, with its own record only.
    assert_problem(await client.get("/api/v1/me", headers=bearer(old)), 401)
    me = (await client.get("/api/v1/me", headers=bearer(new))).json()
    assert me["tenant_id"] == str(x.tenant.id)
    assert {m["tenant_id"] for m in me["memberships"]} == {str(x.tenant.id), str(y.id)}
    mine = (await client.get("/api/v1/my/patient-records", headers=bearer(new))).json()
    assert [p["id"] for p in mine] == [patient["id"]]

    # One user, one membership and one record per clinic; Y's record untouched.
    assert sorted((m["tenant_id"], m["role"]) for m in await memberships_of(owner_sessionmaker, user.id)) == sorted(
        [(x.tenant.id, "patient"), (y.id, "patient")]
    )
    records = {r["tenant_id"]: r for r in await records_of(owner_sessionmaker, user.id)}
    assert records[y.id]["id"] == home_record and records[y.id]["family_name"] == "Kumar"
    assert records[x.tenant.id]["family_name"] == "Kumar-Rao" and records[x.tenant.id]["mrn"] == "P000001"

    # Audited in X's chain, the join last.
    joined = (await audit_actions(owner_sessionmaker, x.tenant.id, action="patients.clinic.joined"))[0]
    assert joined["patient_id"] == uuid.UUID(patient["id"]) and joined["actor_user_id"] == user.id
    assert joined["details"] == {"membership": "created", "record": "created", "copied": False}
    assert not await audit_actions(owner_sessionmaker, y.id, action="patients.clinic.joined")

    # And the booking goes on at X with the new session.
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).date()
    params = {"service_id": str(x.service_id), "from": tomorrow.isoformat()}
    r = await client.get(f"/api/v1/practitioners/{x.practitioner_id}/availability", headers=bearer(new), params=params)
    slots = r.json()["slots"]
    held = await client.post("/api/v1/holds", headers=bearer(new), json={
        "practitioner_id": str(x.practitioner_id), "service_id": str(x.service_id), "patient_id": patient["id"],
        "starts_at": slots[0]["starts_at"]})  # fmt: skip
    assert held.status_code == 201, held.text


async def test_the_new_record_is_visible_in_x_only(client, factory: Factory, owner_sessionmaker, db):
    x = await listed_clinic(factory, owner_sessionmaker)
    y, user, _ = await home_patient(factory, owner_sessionmaker)
    body = (await join(client, await factory.login(user), x.tenant.id, DETAILS)).json()
    patient_id = body["patient"]["id"]
    desk_y = await factory.headers(await factory.user(y, "receptionist"))
    desk_x = await factory.headers(await factory.user(x.tenant, "receptionist"))
    assert_problem(await client.get(f"/api/v1/patients/{patient_id}", headers=desk_y), 404)
    found_y = (await client.get("/api/v1/patients", params={"q": "Kumar-Rao"}, headers=desk_y)).json()["items"]
    assert patient_id not in [p["id"] for p in found_y]
    assert (await client.get(f"/api/v1/patients/{patient_id}", headers=desk_x)).json()["family_name"] == "Kumar-Rao"
    # Row-level security itself: the app role in Y's context sees no row of X, even unfiltered.
    async with unit_of_work(db, tenant_id=y.id) as s:
        seen = (await s.execute(text("SELECT tenant_id FROM patients WHERE user_id = :u"), {"u": user.id})).all()
        memberships = (await s.execute(text("SELECT tenant_id FROM memberships WHERE tenant_id = :x"),
                                       {"x": x.tenant.id})).all()  # fmt: skip
    assert {row[0] for row in seen} == {y.id} and memberships == []


async def test_joining_twice_reuses_the_membership_and_record(client, factory: Factory, owner_sessionmaker):
    x = await listed_clinic(factory, owner_sessionmaker)
    y, user, _ = await home_patient(factory, owner_sessionmaker)
    first = (await join(client, await factory.login(user), x.tenant.id)).json()  # details copied from Y's record
    assert first["created"] is True
    assert (first["patient"]["given_name"], first["patient"]["family_name"]) == ("Asha", "Kumar")
    assert first["patient"]["birth_date"] == "1990-04-23" and first["patient"]["sex"] == "female"
    copied = (await audit_actions(owner_sessionmaker, x.tenant.id, action="patients.clinic.joined"))[0]
    assert copied["details"]["copied"] is True

    # Again from X itself, then from Y after switching back: the same membership and record every time.
    again = (await join(client, first["tokens"], x.tenant.id, DETAILS)).json()
    home = next(m for m in await memberships_of(owner_sessionmaker, user.id) if m["tenant_id"] == y.id)
    assert home["role"] == "patient"
    me = (await client.get("/api/v1/me", headers=bearer(again["tokens"]))).json()
    y_membership = next(m["id"] for m in me["memberships"] if m["tenant_id"] == str(y.id))
    back = await client.post("/api/v1/auth/switch", json={"membership_id": y_membership},
                             headers=bearer(again["tokens"]))  # fmt: skip
    third = (await join(client, back.json(), x.tenant.id)).json()
    for later in (again, third):
        assert later["created"] is False
        assert (later["membership_id"], later["patient"]["id"]) == (first["membership_id"], first["patient"]["id"])
        assert later["patient"]["family_name"] == "Kumar"  # the clinic's record stands; nothing was overwritten
    assert len(await memberships_of(owner_sessionmaker, user.id)) == 2
    assert len(await records_of(owner_sessionmaker, user.id)) == 2
    joins = await audit_actions(owner_sessionmaker, x.tenant.id, action="patients.clinic.joined")
    assert [j["details"]["membership"] for j in joins] == ["created", "reused", "reused"]
    assert len(await audit_actions(owner_sessionmaker, x.tenant.id, action="patients.record.created")) == 1


async def test_staff_cannot_join(client, factory: Factory, owner_sessionmaker):
    x = await listed_clinic(factory, owner_sessionmaker)
    y = await factory.tenant()
    desk = await factory.user(y, "receptionist")
    body = assert_problem(await join(client, await factory.login(desk), x.tenant.id, DETAILS), 403)
    assert body["type"].endswith("permission-denied")
    assert [m["tenant_id"] for m in await memberships_of(owner_sessionmaker, desk.id)] == [y.id]
    assert await audit_actions(owner_sessionmaker, y.id, action="access.denied")


async def test_unlisted_or_suspended_clinics_are_not_found_and_nothing_changes(client, factory, owner_sessionmaker):
    _, user, _ = await home_patient(factory, owner_sessionmaker)
    tokens = await factory.login(user)
    unlisted = await factory.tenant()
    suspended = await listed_clinic(factory, owner_sessionmaker)
    async with owner_sessionmaker() as s, s.begin():  # suspended, its listing not yet rebuilt: the status decides
        await s.execute(text("UPDATE organizations SET status = 'suspended' WHERE id = :t"), {"t": suspended.tenant.id})
    for organization_id in (unlisted.id, suspended.tenant.id, uuid.uuid4()):
        body = assert_problem(await join(client, tokens, organization_id, DETAILS), 404)
        assert body["detail"] == "No such clinic on the marketplace."
    assert len(await memberships_of(owner_sessionmaker, user.id)) == 1
    assert len(await records_of(owner_sessionmaker, user.id)) == 1
    assert (await client.get("/api/v1/me", headers=bearer(tokens))).status_code == 200  # still signed in


async def test_bad_details_are_refused_and_nothing_changes(client, factory: Factory, owner_sessionmaker):
    x = await listed_clinic(factory, owner_sessionmaker)
    _, user, _ = await home_patient(factory, owner_sessionmaker)
    tokens = await factory.login(user)
    future = (date.today() + timedelta(days=2)).isoformat()  # noqa: DTZ011
    cases = {
        "birth_date": DETAILS | {"birth_date": future},
        "phone": DETAILS | {"phone": "12345"},
        "email": DETAILS | {"email": "not-an-email"},
        "given_name": DETAILS | {"given_name": ""},
        "sex": DETAILS | {"sex": "robot"},
    }
    for name, details in cases.items():
        errors = field_errors(assert_problem(await join(client, tokens, x.tenant.id, details), 422))
        assert name in errors, (name, errors)
    assert_problem(await client.post("/api/v1/my/clinics", json={"organization_id": "nope"}, headers=bearer(tokens)),
                   422)  # fmt: skip
    assert len(await memberships_of(owner_sessionmaker, user.id)) == 1
    assert (await client.get("/api/v1/me", headers=bearer(tokens))).status_code == 200


async def test_nothing_to_copy_asks_for_details_and_changes_nothing(client, factory: Factory, owner_sessionmaker):
    x = await listed_clinic(factory, owner_sessionmaker)
    _, user, _ = await home_patient(factory, owner_sessionmaker, record=False)
    tokens = await factory.login(user)
    body = assert_problem(await join(client, tokens, x.tenant.id), 422)
    assert "details" in field_errors(body)
    assert len(await memberships_of(owner_sessionmaker, user.id)) == 1
    assert not await audit_actions(owner_sessionmaker, x.tenant.id, action="patients.clinic.joined")
    assert (await client.get("/api/v1/me", headers=bearer(tokens))).status_code == 200  # the switch rolled back too
    r = await join(client, tokens, x.tenant.id, DETAILS)
    assert r.status_code == 200 and r.json()["created"] is True
