"""Cron in tenant timezones, each due run materialised and run once however many workers run it."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import asyncpg
from sqlalchemy import text

from carebase.core.bootstrap import asyncpg_dsn
from carebase.core.worker import CRON, Runner, cron, unregister
from carebase.core.worker.cron import dedupe_key, due_times, materialise


def test_daily_8am_in_london_follows_dst_and_kolkata_does_not():
    # UK clocks go forward on 2026-03-29 and back on 2026-10-25.
    spring = due_times("0 8 * * *", "Europe/London", datetime(2026, 3, 27, 12, tzinfo=UTC),
                       datetime(2026, 3, 31, 12, tzinfo=UTC))  # fmt: skip
    assert [d.hour for d in spring] == [8, 7, 7, 7]  # 08:00 GMT, then 08:00 BST = 07:00 UTC
    autumn = due_times("0 8 * * *", "Europe/London", datetime(2026, 10, 23, 12, tzinfo=UTC),
                       datetime(2026, 10, 27, 12, tzinfo=UTC))  # fmt: skip
    assert [d.hour for d in autumn] == [7, 8, 8, 8]  # the 25th is already GMT at 08:00
    kolkata = due_times("0 8 * * *", "Asia/Kolkata", datetime(2026, 3, 27, 12, tzinfo=UTC),
                        datetime(2026, 3, 31, 12, tzinfo=UTC))  # fmt: skip
    assert {(d.hour, d.minute) for d in kolkata} == {(2, 30)} and len(kolkata) == 4


def test_monthly_on_the_first_at_nine_local():
    runs = due_times("0 9 1 * *", "Asia/Kolkata", datetime(2026, 1, 15, tzinfo=UTC), datetime(2026, 4, 15, tzinfo=UTC))
    assert [d.isoformat() for d in runs] == [
        "2026-02-01T03:30:00+00:00", "2026-03-01T03:30:00+00:00", "2026-04-01T03:30:00+00:00"]


async def test_two_workers_run_each_due_run_exactly_once(factory, database_url):
    london = await factory.tenant(tz="Europe/London")
    kolkata = await factory.tenant(tz="Asia/Kolkata")
    name = "test_every_ten"
    topic = f"cron.{name}"
    seen: list[tuple] = []

    @cron(name, "*/10 * * * *")
    async def tick(session, run):  # type: ignore[no-untyped-def]
        await session.execute(text("SELECT pg_sleep(0.002)"))
        seen.append((run.tenant_id, run.due_at))

    conns = [await asyncpg.connect(asyncpg_dsn(database_url)) for _ in range(2)]
    try:
        job = CRON[name]
        start = datetime(2026, 3, 29, 0, 0, tzinfo=UTC)  # across London's spring-forward

        async def worker(conn: asyncpg.Connection, offset: int) -> None:
            # Each worker looks at its own (overlapping) windows on a simulated clock, then runs what is due.
            after = start
            for step in range(1, 13):
                until = start + timedelta(minutes=10 * step + offset)
                await materialise(conn, after=after, until=until, jobs=[job], tenant_ids=[london.id, kolkata.id])
                after = until
                await Runner(conn, topics=[topic]).run_batch()
                await asyncio.sleep(0)
            while await Runner(conn, topics=[topic]).run_batch():
                pass

        await asyncio.gather(worker(conns[0], 0), worker(conns[1], 3))
        ours = [(t, d) for t, d in seen if t in (london.id, kolkata.id)]
        assert len(ours) == len(set(ours)), "a due run ran twice"
        expected = {(t, start + timedelta(minutes=10 * k)) for t in (london.id, kolkata.id) for k in range(1, 13)}
        assert set(ours) == expected
        keys = await conns[0].fetch("SELECT dedupe_key, status FROM outbox WHERE topic = $1 AND tenant_id = $2",
                                    topic, london.id)  # fmt: skip
        assert len(keys) == 12 and {k["status"] for k in keys} == {"done"}
        assert dedupe_key(name, start + timedelta(minutes=10)) in {k["dedupe_key"] for k in keys}
    finally:
        CRON.pop(name, None)
        unregister(topic)
        for c in conns:
            await c.close()


def test_the_schedule_is_registered():
    import carebase.handlers  # noqa: F401

    assert {"reminders", "agenda", "no_shows", "waitlist_offers", "payment_follow_up", "monthly_report",
            "cleanup"} <= set(CRON)  # fmt: skip
    assert CRON["agenda"].expr == "0 8 * * *" and CRON["monthly_report"].expr == "0 9 1 * *"
