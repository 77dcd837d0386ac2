"""List endpoints use a fixed number of queries however many rows they return (no N+1)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import event

from tests.factories import Factory


@contextmanager
def count_queries(db) -> Iterator[list[str]]:  # type: ignore[no-untyped-def]
    statements: list[str] = []

    def before(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        statements.append(statement)

    event.listen(db.engine.sync_engine, "before_cursor_execute", before)
    try:
        yield statements
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", before)


async def queries_for(client, db, url: str, headers: dict[str, str], expected_items: int) -> int:  # type: ignore[no-untyped-def]
    with count_queries(db) as statements:
        r = await client.get(url, headers=headers)
    assert r.status_code == 200, r.text
    assert len(r.json()["items"]) == expected_items
    return len(statements)


async def test_patient_list_queries_do_not_grow_with_rows(client, db, factory: Factory):
    tenant = await factory.tenant()
    headers = await factory.headers(await factory.user(tenant, "doctor"))
    for i in range(2):
        await factory.patient(tenant, given=f"A{i}")
    few = await queries_for(client, db, "/api/v1/patients", headers, 2)
    for i in range(18):
        await factory.patient(tenant, given=f"B{i}")
    many = await queries_for(client, db, "/api/v1/patients", headers, 20)
    assert few == many, (few, many)
    assert 3 <= many <= 12  # auth, tenant context, the page, its audit event


async def test_staff_list_queries_do_not_grow_with_rows(client, db, factory: Factory):
    tenant = await factory.tenant()
    headers = await factory.headers(await factory.user(tenant, "hospital_admin"))
    await factory.user(tenant, "doctor")
    few = await queries_for(client, db, "/api/v1/staff", headers, 2)
    for role in ["doctor", "nurse", "pharmacist", "lab_staff", "receptionist"] * 3:
        await factory.user(tenant, role)
    many = await queries_for(client, db, "/api/v1/staff", headers, 17)
    assert few == many, (few, many)


async def test_audit_list_queries_do_not_grow_with_rows(client, db, factory: Factory):
    tenant = await factory.tenant()
    headers = await factory.headers(await factory.user(tenant, "hospital_admin"))
    few_items = len((await client.get("/api/v1/audit-events", headers=headers)).json()["items"])
    few = await queries_for(client, db, "/api/v1/audit-events", headers, few_items)
    for _ in range(10):
        await factory.patient(tenant)
    many = await queries_for(client, db, "/api/v1/audit-events", headers, min(few_items + 10, 25))
    assert few == many, (few, many)
