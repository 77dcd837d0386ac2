"""Retries with backoff, dead letters, per-handler delivery records, lease takeover, graceful stop."""

from __future__ import annotations

import asyncio

import pytest

from carebase.core.worker import Runner, backoff, drain, handler
from carebase.core.worker import runner as runner_module
from tests.worker.conftest import effects, insert_events


def test_backoff_is_full_jitter_and_capped():
    for attempts in range(1, 12):
        values = [backoff(attempts, base=2, cap=60) for _ in range(200)]
        assert all(0 <= v <= min(60, 2 * 2 ** (attempts - 1)) for v in values)
        assert len(set(values)) > 100  # spread out, not a fixed delay


async def test_failing_handler_is_retried_then_dead_and_succeeded_handlers_do_not_rerun(conn, topic, monkeypatch):
    monkeypatch.setattr(runner_module, "MAX_ATTEMPTS", 3)

    @handler(topic, name=f"{topic}.ok")
    async def ok(c, event):
        await c.execute("INSERT INTO worker_test_effects (event_id, handler) VALUES ($1, 'ok')", event["id"])

    @handler(topic, name=f"{topic}.boom")
    async def boom(c, event):
        await c.execute("INSERT INTO worker_test_effects (event_id, handler) VALUES ($1, 'boom')", event["id"])
        raise RuntimeError("provider down")

    [event_id] = await insert_events(conn, topic, 1)
    for attempt in (1, 2, 3):
        assert await Runner(conn, topics=[topic]).run_batch() == 1
        row = await conn.fetchrow("SELECT status, attempts, available_at > now() AS later, last_error FROM outbox"
                                  " WHERE id = $1", event_id)  # fmt: skip
        assert row["attempts"] == attempt
        assert row["last_error"] == f"{topic}.boom: RuntimeError"
        if attempt < 3:
            assert row["status"] == "pending"
            await conn.execute("UPDATE outbox SET available_at = now() WHERE id = $1", event_id)  # skip the wait
    assert row["status"] == "dead"
    assert await Runner(conn, topics=[topic]).run_batch() == 0  # dead stays dead
    # "ok" committed once; "boom" rolled back every time (its effect shares its failed transaction).
    assert await effects(conn, [event_id]) == {(event_id, "ok"): 1}


async def test_retry_waits_for_backoff(conn, topic, monkeypatch):
    monkeypatch.setattr(runner_module, "backoff", lambda attempts: 3600.0)

    @handler(topic)
    async def boom(c, event):
        raise ValueError

    [event_id] = await insert_events(conn, topic, 1)
    assert await Runner(conn, topics=[topic]).run_batch() == 1
    assert await Runner(conn, topics=[topic]).run_batch() == 0  # not due for an hour
    assert await conn.fetchval("SELECT available_at > now() + interval '59 minutes' FROM outbox WHERE id = $1",
                               event_id)  # fmt: skip


async def test_a_crashed_workers_claim_is_taken_over_after_the_lease(conn, database_url, topic):
    import asyncpg

    from carebase.core.bootstrap import asyncpg_dsn

    @handler(topic)
    async def record(c, event):
        await c.execute("INSERT INTO worker_test_effects (event_id, handler) VALUES ($1, 'record')", event["id"])

    ids = await insert_events(conn, topic, 5)
    crashed = await asyncpg.connect(asyncpg_dsn(database_url))
    claimed = await Runner(crashed, topics=[topic], lease_seconds=30).claim(10)
    assert len(claimed) == 5
    await crashed.close()  # dies without running anything
    other = Runner(conn, topics=[topic])
    assert await other.run_batch() == 0  # leased: not yet
    await conn.execute("UPDATE outbox SET leased_until = now() - interval '1 second' WHERE id = ANY($1::uuid[])", ids)
    assert await other.run_batch() == 5
    rows = await conn.fetch("SELECT status, attempts FROM outbox WHERE id = ANY($1::uuid[])", ids)
    assert {(r["status"], r["attempts"]) for r in rows} == {("done", 2)}
    assert set((await effects(conn, ids)).values()) == {1}


async def test_graceful_stop_finishes_the_current_event_and_releases_the_rest(conn, topic):
    stop = asyncio.Event()

    @handler(topic)
    async def slow(c, event):
        await c.execute("INSERT INTO worker_test_effects (event_id, handler) VALUES ($1, 'slow')", event["id"])
        stop.set()  # a SIGTERM arrives while this event is being handled

    ids = await insert_events(conn, topic, 4)
    assert await Runner(conn, topics=[topic], stop=stop).run_batch() == 4
    rows = {r["id"]: (r["status"], r["attempts"]) for r in await conn.fetch(
        "SELECT id, status, attempts FROM outbox WHERE id = ANY($1::uuid[])", ids)}  # fmt: skip
    assert sorted(rows.values()) == [("done", 1), ("pending", 0), ("pending", 0), ("pending", 0)]
    assert await drain(conn, topics=[topic]) == 3
    assert set((await effects(conn, ids)).values()) == {1}


async def test_session_handlers_record_their_delivery_atomically(conn, topic, owner_sessionmaker):
    from sqlalchemy import text

    calls = []

    @handler(topic, session=True, name=f"{topic}.session")
    async def with_session(session, event):
        calls.append(event["id"])
        await session.execute(text("INSERT INTO worker_test_effects (event_id, handler) VALUES (:e, 'session')"),
                              {"e": event["id"]})  # fmt: skip
        if len(calls) == 1:
            raise RuntimeError("first try fails")

    [event_id] = await insert_events(conn, topic, 1)
    await Runner(conn, owner_sessionmaker, topics=[topic]).run_batch()
    assert await conn.fetchval("SELECT count(*) FROM outbox_deliveries WHERE event_id = $1", event_id) == 0
    await conn.execute("UPDATE outbox SET available_at = now() WHERE id = $1", event_id)
    await Runner(conn, owner_sessionmaker, topics=[topic]).run_batch()
    await conn.execute("UPDATE outbox SET status = 'pending', available_at = now() WHERE id = $1", event_id)
    await Runner(conn, owner_sessionmaker, topics=[topic]).run_batch()  # replayed: the record skips it
    assert len(calls) == 2
    assert await effects(conn, [event_id]) == {(event_id, "session"): 1}


@pytest.mark.parametrize("n", [1])
async def test_worker_loop_is_woken_by_notify(conn, database_url, topic, n):
    from carebase.core.worker import run_worker

    seen = asyncio.Event()

    @handler(topic)
    async def mark(c, event):
        seen.set()

    stop = asyncio.Event()
    task = asyncio.create_task(run_worker(database_url, stop, import_handlers=False, topics=[topic],
                                          cron_enabled=False))  # fmt: skip
    await asyncio.sleep(0.3)
    await insert_events(conn, topic, n)
    await conn.execute("SELECT pg_notify('carebase_outbox', $1)", topic)
    await asyncio.wait_for(seen.wait(), 2)  # well before the 5 s safety poll
    stop.set()
    await asyncio.wait_for(task, 5)


async def test_a_batch_handler_gets_the_batch_at_once_and_a_bad_event_fails_alone(conn, topic, monkeypatch):
    from carebase.core.worker import unregister

    other = f"{topic}.other"
    calls: list[int] = []
    bad: set = set()

    async def many(c, events):
        calls.append(len(events))
        await c.executemany("INSERT INTO worker_test_effects (event_id, handler) VALUES ($1, 'batch')",
                            [(e["id"],) for e in events])  # fmt: skip
        if bad & {e["id"] for e in events}:
            raise RuntimeError("one bad event")

    @handler(topic, name=f"{topic}.each")
    async def each(c, event):
        await c.execute("INSERT INTO worker_test_effects (event_id, handler) VALUES ($1, 'each')", event["id"])

    try:
        for t in (topic, other):
            handler(t, batch=True, name=f"{topic}.batch")(many)
        ids = await insert_events(conn, topic, 3) + await insert_events(conn, other, 2)
        bad.add(ids[1])
        assert await Runner(conn, topics=[topic, other]).run_batch() == 5
        # Once with all five (across both topics), then one at a time after it raised.
        assert calls == [5, 1, 1, 1, 1, 1]
        rows = {r["id"]: r for r in await conn.fetch(
            "SELECT id, status, last_error FROM outbox WHERE id = ANY($1::uuid[])", ids)}  # fmt: skip
        assert {i for i in ids if rows[i]["status"] == "done"} == set(ids) - {ids[1]}
        assert (rows[ids[1]]["status"], rows[ids[1]]["last_error"]) == ("pending", f"{topic}.batch: RuntimeError")
        done = await effects(conn, ids)
        assert done == {**{(i, "batch"): 1 for i in ids if i != ids[1]},
                        **{(i, "each"): 1 for i in ids[:3] if i != ids[1]}}  # fmt: skip

        bad.clear()  # the provider is back: the retry runs the bad event's handlers, the others' not again
        await conn.execute("UPDATE outbox SET available_at = now() WHERE id = $1", ids[1])
        assert await Runner(conn, topics=[topic, other]).run_batch() == 1
        await conn.execute("UPDATE outbox SET status = 'pending' WHERE id = ANY($1::uuid[])", ids)
        assert await Runner(conn, topics=[topic, other]).run_batch() == 5  # replayed: the records skip them all
        assert calls == [5, 1, 1, 1, 1, 1, 1]
        assert set((await effects(conn, ids)).values()) == {1}
    finally:
        unregister(other)


def test_a_batch_handler_cannot_ask_for_a_session():
    with pytest.raises(ValueError, match="batch"):
        handler("test.never", session=True, batch=True)
