"""Audit events of the one-statement booking writes are linked just after the commit (``audit.linker``):
before the response in the normal case, by the worker's sweep when the web process could not."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from sqlalchemy import text

from carebase.audit import linker
from carebase.audit import service as audit_service
from carebase.audit.service import verify_chain
from carebase.core.bootstrap import asyncpg_dsn
from tests.api.helpers import audit_actions, scalar
from tests.scheduling.bookable import make_bookable
from tests.scheduling.test_booking import free_slots, hold

pytestmark = pytest.mark.usefixtures("client")

_PENDING = "SELECT count(*) FROM audit_pending WHERE tenant_id = :t"


@asynccontextmanager
async def _linking_through(app, dsn: str) -> AsyncIterator[None]:  # type: ignore[no-untyped-def]
    """The process links through a linker on ``dsn`` for the block, then through the app's own again."""
    other = linker.GroupLinker(dsn)
    linker.install(other)
    try:
        yield
    finally:
        linker.install(app.state.audit_linker)
        await other.close()


async def test_a_booking_is_in_the_chain_when_its_response_arrives(client, factory, owner_sessionmaker):
    clinic = await make_bookable(factory, owner_sessionmaker)
    headers = await factory.headers(await factory.user(clinic.tenant, "receptionist"))
    patient = await factory.patient(clinic.tenant)
    slot = (await free_slots(client, headers, clinic))[0]
    held = await hold(client, headers, clinic, patient, slot["starts_at"])
    assert held.status_code == 201
    assert [e["action"] for e in await audit_actions(owner_sessionmaker, clinic.tenant.id,
                                                     action="scheduling.appointment.held")] == [
        "scheduling.appointment.held"
    ]  # fmt: skip
    assert await scalar(owner_sessionmaker, _PENDING, t=clinic.tenant.id) == 0


async def test_events_left_unlinked_are_linked_by_the_worker_sweep(
    app, client, factory, owner_sessionmaker, database_url, monkeypatch
):
    """The linker cannot reach the database: the booking still succeeds (it is committed), its events wait
    in ``audit_pending``, and the worker's sweep links them into a chain that verifies."""
    clinic = await make_bookable(factory, owner_sessionmaker)
    headers = await factory.headers(await factory.user(clinic.tenant, "receptionist"))
    patient = await factory.patient(clinic.tenant)
    slot = (await free_slots(client, headers, clinic))[0]
    # Made a minute ago, as if the process had died then: old enough for the sweep.
    monkeypatch.setattr(audit_service, "utcnow", lambda: datetime.now(UTC) - timedelta(minutes=1))
    async with _linking_through(app, "postgresql://carebase_app@127.0.0.1:9/nowhere"):
        held = await hold(client, headers, clinic, patient, slot["starts_at"])
        assert held.status_code == 201, held.text
        confirmed = await client.post(f"/api/v1/appointments/{held.json()['id']}/confirm", headers=headers)
        assert confirmed.status_code == 200, confirmed.text
    assert await scalar(owner_sessionmaker, _PENDING, t=clinic.tenant.id) == 2
    assert not await audit_actions(owner_sessionmaker, clinic.tenant.id, action="scheduling.appointment.booked")

    async with owner_sessionmaker() as session, session.begin():
        assert await linker.link_stale(session) >= 1
    assert await scalar(owner_sessionmaker, _PENDING, t=clinic.tenant.id) == 0
    [booked] = await audit_actions(owner_sessionmaker, clinic.tenant.id, action="scheduling.appointment.booked")
    assert booked["details"] == {"status": "confirmed"} and booked["patient_id"] == patient
    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        checked, broken = await verify_chain(conn, clinic.tenant.id)
    finally:
        await conn.close()
    assert broken is None and checked >= 2


async def test_a_database_that_stops_answering_does_not_hold_the_booking(
    app, client, factory, owner_sessionmaker, monkeypatch
):
    """The linker's connection reaches a server that accepts and never answers (a hung database): after
    the linker's timeout the booking is answered anyway, and its event waits for the sweep."""
    clinic = await make_bookable(factory, owner_sessionmaker)
    headers = await factory.headers(await factory.user(clinic.tenant, "receptionist"))
    patient = await factory.patient(clinic.tenant)
    slot = (await free_slots(client, headers, clinic))[0]
    hung: list[asyncio.StreamWriter] = []

    async def accept_and_say_nothing(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        hung.append(writer)

    silent = await asyncio.start_server(accept_and_say_nothing, "127.0.0.1", 0)
    port = silent.sockets[0].getsockname()[1]
    monkeypatch.setattr(linker, "TIMEOUT", 0.5)
    try:
        async with _linking_through(app, f"postgresql://carebase_app@127.0.0.1:{port}/carebase"):
            started = asyncio.get_running_loop().time()
            held = await hold(client, headers, clinic, patient, slot["starts_at"])
            waited = asyncio.get_running_loop().time() - started
    finally:
        for writer in hung:
            writer.close()
        silent.close()
        await silent.wait_closed()
    assert held.status_code == 201, held.text
    assert waited < 3
    assert await scalar(owner_sessionmaker, _PENDING, t=clinic.tenant.id) == 1


async def test_the_sweep_leaves_fresh_events_to_the_web_process(owner_sessionmaker, factory):
    tenant = await factory.tenant()
    pending_id, tenant_id, event, prefix, suffix = audit_service.pending_args(tenant.id, "test.fresh", target_id="x")
    insert = text(
        "INSERT INTO audit_pending (id, tenant_id, event, prefix, suffix, link_at_commit)"
        " VALUES (:i, :t, CAST(:e AS jsonb), :p, :s, false)"
    )
    async with owner_sessionmaker() as session, session.begin():
        await session.execute(insert, {"i": pending_id, "t": tenant_id, "e": event, "p": prefix, "s": suffix})
    try:
        async with owner_sessionmaker() as session, session.begin():
            assert await linker.link_stale(session) == 0
        assert await scalar(owner_sessionmaker, _PENDING, t=tenant.id) == 1
    finally:
        async with owner_sessionmaker() as session, session.begin():
            await session.execute(text("DELETE FROM audit_pending WHERE id = :i"), {"i": pending_id})
