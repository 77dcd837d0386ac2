"""Practitioner profiles and services: commands audit and emit in their transaction, input is checked,
doctors edit only their own profile."""

from __future__ import annotations

import uuid

from tests.api.helpers import assert_problem, audit_actions, field_errors, scalar
from tests.directory.conftest import Market, listings, make_market
from tests.factories import Factory


async def outbox_topics(factory: Factory, tenant_id: uuid.UUID) -> list[str]:
    from sqlalchemy import text

    async with factory.owner() as s:
        rows = await s.execute(
            text("SELECT topic FROM outbox WHERE tenant_id = :t ORDER BY created_at, id"), {"t": tenant_id}
        )
        return [r[0] for r in rows]


async def test_create_profile_audits_emits_and_lists(factory: Factory, market: Market):
    consult = await market.service("Consultation", 60000)
    pid = await market.doctor("Dr. Kavya Menon", specialties=["dermatology", "paediatrics"], languages=["en", "kn"],
                              services=[consult])  # fmt: skip
    r = await market.client.get(f"/api/v1/practitioners/{pid}", headers=market.headers)
    assert r.status_code == 200
    body = r.json()
    assert [s["code"] for s in body["specialties"]] == ["dermatology", "paediatrics"]
    assert body["languages"] == ["en", "kn"] and body["service_ids"] == [str(consult)]
    actions = [a["action"] for a in await audit_actions(factory.owner, market.tenant.id)]
    assert "directory.service.created" in actions
    assert "directory.practitioner.created" in actions and "directory.practitioner.services_set" in actions
    topics = await outbox_topics(factory, market.tenant.id)
    assert topics.count("practitioner.created") == 1 and "practitioner.updated" in topics
    assert "service.created" in topics
    (row,) = await listings(factory, practitioner_id=pid)
    assert row["specialty_codes"] == ["dermatology", "paediatrics"]
    assert row["min_price_minor"] == row["max_price_minor"] == 60000 and row["currency"] == "INR"
    assert row["modes"] == ["in_person"] and row["languages"] == ["en", "kn"]
    assert row["location_id"] == market.tenant.location_id and row["tenant_name"] == market.tenant.name


async def test_update_and_set_specialties(factory: Factory, market: Market):
    pid = await market.doctor("Dr. A One", specialties=["cardiology"])
    r = await market.client.patch(
        f"/api/v1/practitioners/{pid}", json={"bio": "Heart doctor.", "languages": ["hi", "en", "hi"]},
        headers=market.headers,
    )  # fmt: skip
    assert r.status_code == 200, r.text
    assert r.json()["languages"] == ["hi", "en"]
    r = await market.client.put(
        f"/api/v1/practitioners/{pid}/specialties", json={"codes": ["ent", "neurology"]}, headers=market.headers
    )
    assert r.status_code == 200
    assert [s["code"] for s in r.json()["specialties"]] == ["ent", "neurology"]
    (row,) = await listings(factory, practitioner_id=pid)
    assert row["specialty_names"] == ["Ear, nose and throat", "Neurology"] and row["languages"] == ["hi", "en"]
    updates = await audit_actions(factory.owner, market.tenant.id, target_id=str(pid))
    assert [a["action"] for a in updates][-2:] == [
        "directory.practitioner.updated", "directory.practitioner.specialties_set",
    ]  # fmt: skip
    assert updates[-2]["details"] == {"fields": ["bio", "languages"]}


async def test_bad_profile_input_is_refused_and_changes_nothing(factory: Factory, market: Market):
    pid = await market.doctor("Dr. Valid")
    nurse = await factory.user(market.tenant, "nurse")
    cases = [
        ({"membership_id": str(nurse.membership_id), "display_name": "Nurse"}, "membership_id"),
        ({"membership_id": str(uuid.uuid4()), "display_name": "Nobody"}, "membership_id"),
        ({"membership_id": str(nurse.membership_id), "display_name": "X", "languages": ["EN"]}, "languages"),
        ({"membership_id": str(nurse.membership_id), "display_name": "Xy", "languages": ["xx"]}, "languages"),
        ({"membership_id": str(nurse.membership_id), "display_name": "Xy", "specialties": ["astrology"]},
         "membership_id"),
    ]  # fmt: skip
    for body, field in cases:
        r = await market.client.post("/api/v1/practitioners", json=body, headers=market.headers)
        assert field in field_errors(assert_problem(r, 422)), (body, r.text)
    doctor = await factory.user(market.tenant, "doctor")
    r = await market.client.post(
        "/api/v1/practitioners",
        json={"membership_id": str(doctor.membership_id), "display_name": "Dr. X", "specialties": ["astrology"]},
        headers=market.headers,
    )
    assert "astrology" in field_errors(assert_problem(r, 422))["specialties"]
    r = await market.client.put(
        f"/api/v1/practitioners/{pid}/specialties", json={"codes": ["cardiology", "nope"]}, headers=market.headers
    )
    assert "codes" in field_errors(assert_problem(r, 422))
    r = await market.client.put(
        f"/api/v1/practitioners/{pid}/services", json={"service_ids": [str(uuid.uuid4())]}, headers=market.headers
    )
    assert "service_ids" in field_errors(assert_problem(r, 422))
    r = await market.client.patch(f"/api/v1/practitioners/{pid}", json={"display_name": None}, headers=market.headers)
    assert "display_name" in field_errors(assert_problem(r, 422))
    # A second profile for the same doctor is a conflict.
    r = await market.client.post(
        "/api/v1/practitioners", json={"membership_id": str(doctor.membership_id), "display_name": "Dr. Y"},
        headers=market.headers,
    )  # fmt: skip
    assert r.status_code == 201
    r = await market.client.post(
        "/api/v1/practitioners", json={"membership_id": str(doctor.membership_id), "display_name": "Dr. Z"},
        headers=market.headers,
    )  # fmt: skip
    assert_problem(r, 409)
    count = await scalar(factory.owner, "SELECT count(*) FROM practitioners WHERE tenant_id = :t", t=market.tenant.id)
    assert count == 2


async def test_bad_service_input(factory: Factory, market: Market):
    cases = [
        ({"name": "Consult", "duration_minutes": 15, "price_minor": 100, "currency": "GBP"}, "currency"),
        ({"name": "Consult", "duration_minutes": 4, "price_minor": 100, "currency": "INR"}, "duration_minutes"),
        ({"name": "Consult", "duration_minutes": 481, "price_minor": 100, "currency": "INR"}, "duration_minutes"),
        ({"name": "Consult", "duration_minutes": 15, "price_minor": -1, "currency": "INR"}, "price_minor"),
        ({"name": "Consult", "duration_minutes": 15, "price_minor": 1.5, "currency": "INR"}, "price_minor"),
        ({"name": "Consult", "duration_minutes": 15, "price_minor": 100, "currency": "INR", "mode": "phone"}, "mode"),
        ({"name": "Consult", "duration_minutes": 15, "price_minor": 100, "currency": "INR", "specialty": "x"},
         "specialty"),
    ]  # fmt: skip
    for body, field in cases:
        r = await market.client.post("/api/v1/services", json=body, headers=market.headers)
        assert field in field_errors(assert_problem(r, 422)), (body, r.text)
    assert await scalar(factory.owner, "SELECT count(*) FROM services WHERE tenant_id = :t", t=market.tenant.id) == 0


async def test_service_price_change_updates_listing(factory: Factory, market: Market):
    consult = await market.service("Consultation", 60000)
    video = await market.service("Video consultation", 50000, mode="video")
    pid = await market.doctor("Dr. Price", services=[consult, video])
    (row,) = await listings(factory, practitioner_id=pid)
    assert (row["min_price_minor"], row["max_price_minor"], sorted(row["modes"])) == (50000, 60000,
                                                                                       ["in_person", "video"])
    r = await market.client.patch(f"/api/v1/services/{video}", json={"price_minor": 70000}, headers=market.headers)
    assert r.status_code == 200 and r.json()["price_minor"] == 70000
    (row,) = await listings(factory, practitioner_id=pid)
    assert (row["min_price_minor"], row["max_price_minor"]) == (60000, 70000)
    r = await market.client.patch(f"/api/v1/services/{video}", json={"is_active": False}, headers=market.headers)
    (row,) = await listings(factory, practitioner_id=pid)
    assert row["modes"] == ["in_person"] and row["max_price_minor"] == 60000
    topics = await outbox_topics(factory, market.tenant.id)
    assert topics.count("service.updated") == 2


async def test_doctor_edits_only_their_own_profile(factory: Factory, market: Market):
    me = await factory.user(market.tenant, "doctor")
    other = await market.doctor("Dr. Other")
    headers = await factory.headers(me)
    r = await market.client.post(
        "/api/v1/practitioners", json={"membership_id": str(me.membership_id), "display_name": "Dr. Me"},
        headers=headers,
    )  # fmt: skip
    assert r.status_code == 201, r.text
    mine = r.json()["id"]
    r = await market.client.patch(f"/api/v1/practitioners/{mine}", json={"bio": "Hello"}, headers=headers)
    assert r.status_code == 200
    r = await market.client.put(f"/api/v1/practitioners/{mine}/specialties", json={"codes": ["ent"]}, headers=headers)
    assert r.status_code == 200
    assert_problem(await market.client.patch(f"/api/v1/practitioners/{mine}", json={"is_active": False},
                                             headers=headers), 403)  # fmt: skip
    assert_problem(await market.client.patch(f"/api/v1/practitioners/{other}", json={"bio": "Hacked"},
                                             headers=headers), 403)  # fmt: skip
    someone = await factory.user(market.tenant, "doctor")
    r = await market.client.post(
        "/api/v1/practitioners", json={"membership_id": str(someone.membership_id), "display_name": "Dr. Someone"},
        headers=headers,
    )  # fmt: skip
    assert_problem(r, 403)
    assert await scalar(factory.owner, "SELECT bio FROM practitioners WHERE id = :p", p=other) == ""


async def test_lists_are_paged(factory: Factory):
    market = await make_market(factory)
    for name in ("Dr. C", "Dr. A", "Dr. B"):
        await market.doctor(name)
    r = await market.client.get("/api/v1/practitioners?limit=2", headers=market.headers)
    page = r.json()
    assert [p["display_name"] for p in page["items"]] == ["Dr. A", "Dr. B"]
    r = await market.client.get(f"/api/v1/practitioners?limit=2&cursor={page['next_cursor']}", headers=market.headers)
    assert [p["display_name"] for p in r.json()["items"]] == ["Dr. C"] and r.json()["next_cursor"] is None
    await market.service("B service", 100)
    await market.service("A service", 100)
    r = await market.client.get("/api/v1/services", headers=market.headers)
    assert [s["name"] for s in r.json()["items"]] == ["A service", "B service"]
