"""Dependents: a patient registers family members, lists and unlinks them; can_book_for() says
whom a user may book for."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import text

from carebase.core.uow import unit_of_work
from carebase.identity.principal import Principal
from carebase.identity.roles import Role
from carebase.scheduling.dependents import can_book_for
from tests.api.helpers import assert_problem, audit_actions, scalar
from tests.factories import Factory, TenantInfo, UserInfo

URL = "/api/v1/my/dependents"
CHILD = {
    "given_name": "Meera", "family_name": "Kumar", "birth_date": "2019-05-04", "sex": "female",
    "relationship": "child", "consent_note": "Parent with legal responsibility",
}  # fmt: skip


@pytest.fixture
async def tenant(factory: Factory) -> TenantInfo:
    return await factory.tenant()


@pytest.fixture
async def guardian(factory: Factory, tenant: TenantInfo) -> UserInfo:
    user = await factory.user(tenant, "patient")
    await registered(factory, tenant, user)
    return user


async def registered(
    factory: Factory, tenant: TenantInfo, user: UserInfo | None = None, given: str = "Asha"
) -> uuid.UUID:
    """A patient registration with a register-style MRN (the factory's "T..." ones would sort after
    every "P..." one and throw off the register's next-MRN rule)."""
    patient_id = await factory.patient(tenant, user=user, given=given)
    async with factory.owner() as s, s.begin():
        await s.execute(
            text("UPDATE patients SET mrn = :m WHERE id = :p"),
            {"m": f"P9{uuid.uuid4().int % 10**5:05d}", "p": patient_id},
        )
    return patient_id


def principal(user: UserInfo, tenant: TenantInfo) -> Principal:
    return Principal(user.id, tenant.id, user.membership_id, uuid.uuid4(), Role(user.role))


async def booking_allowed(db, user: UserInfo, tenant: TenantInfo, patient_id: uuid.UUID) -> bool:  # type: ignore[no-untyped-def]
    async with unit_of_work(db, tenant_id=tenant.id, user_id=user.id) as session:
        return await can_book_for(session, principal(user, tenant), patient_id)


async def test_a_patient_adds_lists_and_removes_a_dependent(client, factory, tenant, guardian, owner_sessionmaker):
    h = await factory.headers(guardian)
    r = await client.post(URL, json=CHILD, headers=h)
    assert r.status_code == 201, r.text
    child = r.json()
    assert child["relationship"] == "child" and child["given_name"] == "Meera" and child["mrn"].startswith("P")
    # A registration of its own (no portal account), linked to the guardian.
    owner = await scalar(owner_sessionmaker, "SELECT user_id FROM patients WHERE id = :p", p=child["patient_id"])
    assert owner is None
    linked = await scalar(
        owner_sessionmaker, "SELECT guardian_user_id FROM dependents WHERE patient_id = :p", p=child["patient_id"]
    )
    assert linked == guardian.id

    listed = (await client.get(URL, headers=h)).json()
    assert [d["patient_id"] for d in listed] == [child["patient_id"]]
    events = await audit_actions(owner_sessionmaker, tenant.id, patient_id=uuid.UUID(child["patient_id"]))
    actions = [e["action"] for e in events]
    assert actions == ["patients.record.created", "scheduling.dependent.linked", "patients.record.read"]
    assert all(e["actor_user_id"] == guardian.id for e in events)

    # Another patient sees none of it and cannot unlink it.
    stranger = await factory.user(tenant, "patient")
    sh = await factory.headers(stranger)
    assert (await client.get(URL, headers=sh)).json() == []
    assert_problem(await client.delete(f"{URL}/{child['patient_id']}", headers=sh), 404)

    assert (await client.delete(f"{URL}/{child['patient_id']}", headers=h)).status_code == 204
    assert (await client.get(URL, headers=h)).json() == []
    assert_problem(await client.delete(f"{URL}/{child['patient_id']}", headers=h), 404)
    # The registration stays: it is the organisation's record.
    assert await scalar(owner_sessionmaker, "SELECT count(*) FROM patients WHERE id = :p", p=child["patient_id"]) == 1


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"relationship": "cousin"}, "relationship"),
        ({"consent_note": ""}, "consent_note"),
        ({"consent_note": None}, "consent_note"),
        ({"given_name": ""}, "given_name"),
        ({"birth_date": "2999-01-01"}, "birth_date"),
        ({"mrn": "P1"}, "mrn"),
    ],
)
async def test_bad_dependents_are_422_and_write_nothing(
    client, factory, tenant, guardian, owner_sessionmaker, change, field
):
    body = {**CHILD, **change}
    r = await client.post(URL, json=body, headers=await factory.headers(guardian))
    problem = assert_problem(r, 422)
    assert field in {e["loc"][-1] for e in problem["errors"]}
    assert await scalar(owner_sessionmaker, "SELECT count(*) FROM dependents WHERE tenant_id = :t", t=tenant.id) == 0
    assert await scalar(owner_sessionmaker, "SELECT count(*) FROM patients WHERE tenant_id = :t", t=tenant.id) == 1


async def test_idempotency_key_adds_a_dependent_once(client, factory, tenant, guardian, owner_sessionmaker):
    h = {**await factory.headers(guardian), "Idempotency-Key": "add-child-0001"}
    first = await client.post(URL, json=CHILD, headers=h)
    again = await client.post(URL, json=CHILD, headers=h)
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    assert await scalar(owner_sessionmaker, "SELECT count(*) FROM dependents WHERE tenant_id = :t", t=tenant.id) == 1


async def test_can_book_for_self_and_dependents_only(client, factory, tenant, db):
    parent = await factory.user(tenant, "patient")
    own = await registered(factory, tenant, parent)
    h = await factory.headers(parent)
    child = (await client.post(URL, json=CHILD, headers=h)).json()["patient_id"]
    someone_else = await registered(factory, tenant, given="Ravi")
    other_parent = await factory.user(tenant, "patient")
    others_child = (
        await client.post(URL, json={**CHILD, "given_name": "Anu"}, headers=await factory.headers(other_parent))
    ).json()["patient_id"]

    assert await booking_allowed(db, parent, tenant, own)
    assert await booking_allowed(db, parent, tenant, uuid.UUID(child))
    assert not await booking_allowed(db, parent, tenant, someone_else)
    assert not await booking_allowed(db, parent, tenant, uuid.UUID(others_child))
    assert not await booking_allowed(db, parent, tenant, uuid.uuid4())
    assert not await booking_allowed(db, other_parent, tenant, own)

    # The same user's registration in another organisation does not count here, nor here there.
    elsewhere = await factory.tenant()
    await factory.add_membership(parent, elsewhere, "patient")
    foreign = await factory.patient(elsewhere, user=parent)
    assert not await booking_allowed(db, parent, tenant, foreign)
    assert await booking_allowed(db, parent, elsewhere, foreign)
    assert not await booking_allowed(db, parent, elsewhere, uuid.UUID(child))

    await client.delete(f"{URL}/{child}", headers=h)
    assert not await booking_allowed(db, parent, tenant, uuid.UUID(child))


async def test_staff_have_no_dependents_endpoint(client, factory, tenant):
    receptionist = await factory.user(tenant, "receptionist")
    assert_problem(await client.post(URL, json=CHILD, headers=await factory.headers(receptionist)), 403)
