"""CSV exports end to end: start through the API, the worker writes the file with progress, only the
requester downloads it; dead letters: list, retry, discard through the API with tenant scoping."""

from __future__ import annotations

import csv
import io

import asyncpg

from carebase.core.bootstrap import asyncpg_dsn
from carebase.core.worker import drain
from carebase.jobs import exports  # noqa: F401  (registers the export handler)
from tests.worker.test_scheduled import _book


async def test_admin_export_end_to_end_and_only_the_requester_downloads(client, factory, owner_sessionmaker,
                                                                         database_url):  # fmt: skip
    clinic, appointment_id, starts = await _book(client, factory, owner_sessionmaker)
    admin = await factory.user(clinic.tenant, "hospital_admin")
    other_admin = await factory.user(clinic.tenant, "hospital_admin")
    headers = await factory.headers(admin)
    r = await client.post("/api/v1/jobs/exports", headers=headers, json={"kind": "appointments_export"})
    assert r.status_code == 202, r.text
    job = r.json()
    assert job["status"] == "queued" and job["download_url"] is None
    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        await drain(conn, owner_sessionmaker, topics=["job.requested"])
        finished = await conn.fetch("SELECT payload FROM outbox WHERE topic = 'job.finished' AND tenant_id = $1",
                                    clinic.tenant.id)  # fmt: skip
    finally:
        await conn.close()
    assert len(finished) == 1
    r = await client.get(f"/api/v1/jobs/{job['id']}", headers=headers)
    assert r.status_code == 200 and r.json()["status"] == "done" and r.json()["progress"] == 100
    assert r.json()["rows"] == 1
    r = await client.get(r.json()["download_url"], headers=headers)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(r.text)))
    assert rows[0][:3] == ["date", "time", "patient"] and len(rows) == 2
    assert rows[1][6] == "confirmed"
    # Someone else (even an admin of the same tenant) cannot see or download it.
    other = await factory.headers(other_admin)
    assert (await client.get(f"/api/v1/jobs/{job['id']}", headers=other)).status_code == 404
    assert (await client.get(f"/api/v1/jobs/{job['id']}/download", headers=other)).status_code == 404
    # A doctor may not start the admin export.
    doctor = await factory.headers(clinic.doctor)
    r = await client.post("/api/v1/jobs/exports", headers=doctor, json={"kind": "appointments_export"})
    assert r.status_code == 403


async def test_patient_exports_own_history_only(client, factory, owner_sessionmaker, database_url):
    clinic, appointment_id, starts = await _book(client, factory, owner_sessionmaker)
    patient_user = await factory.user(clinic.tenant, "patient")
    headers = await factory.headers(patient_user)
    r = await client.post("/api/v1/jobs/exports", headers=headers, json={"kind": "my_appointments_export"})
    assert r.status_code == 202, r.text
    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        await drain(conn, owner_sessionmaker, topics=["job.requested"])
    finally:
        await conn.close()
    r = await client.get(f"/api/v1/jobs/{r.json()['id']}/download", headers=headers)
    assert r.status_code == 200
    assert len(list(csv.reader(io.StringIO(r.text)))) == 1  # the header only: the booked patient is someone else


async def test_dead_letters_are_scoped_and_can_be_retried_or_discarded(client, factory, database_url):
    from carebase.core.ids import new_id

    tenant = await factory.tenant()
    other = await factory.tenant()
    admin = await factory.user(tenant, "hospital_admin")
    headers = await factory.headers(admin)
    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    ids = [new_id(), new_id(), new_id()]
    try:
        await conn.executemany(
            "INSERT INTO outbox (id, tenant_id, topic, payload, status, attempts, last_error)"
            " VALUES ($1, $2, 'test.dead', '{}', 'dead', 8, 'h: RuntimeError')",
            [(ids[0], tenant.id), (ids[1], tenant.id), (ids[2], other.id)],
        )
        r = await client.get("/api/v1/dead-letters", headers=headers)
        assert r.status_code == 200
        listed = {item["id"] for item in r.json()}
        assert {str(ids[0]), str(ids[1])} <= listed and str(ids[2]) not in listed
        r = await client.post(f"/api/v1/dead-letters/{ids[0]}/retry", headers=headers)
        assert r.status_code == 200 and r.json()["status"] == "pending" and r.json()["attempts"] == 0
        r = await client.post(f"/api/v1/dead-letters/{ids[1]}/discard", headers=headers)
        assert r.status_code == 200 and r.json()["status"] == "discarded"
        assert (await client.post(f"/api/v1/dead-letters/{ids[1]}/retry", headers=headers)).status_code == 409
        assert (await client.post(f"/api/v1/dead-letters/{ids[2]}/retry", headers=headers)).status_code == 404
        platform = await factory.user(None, "platform_admin")
        r = await client.get("/api/v1/dead-letters", headers=await factory.headers(platform))
        assert r.status_code == 200 and str(ids[2]) in {item["id"] for item in r.json()}
    finally:
        await conn.execute("DELETE FROM outbox WHERE id = ANY($1::uuid[])", ids)
        await conn.close()
