"""A worker killed with SIGKILL mid-handler: after a restart every event is handled, and the delivery
records suppress duplicate side effects (the killed handler's transaction rolled back; the handlers that
had committed are not run again)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.worker.conftest import effects, insert_events

ROOT = Path(__file__).resolve().parents[2]


def _start(database_url: str, topic: str, slow: float) -> subprocess.Popen[bytes]:
    path = os.pathsep.join([str(ROOT / "src"), str(ROOT), os.environ.get("PYTHONPATH", "")])
    env = dict(os.environ, CAREBASE_WORKER_LEASE_SECONDS="1.5", CAREBASE_WORKER_POLL_SECONDS="0.3", PYTHONPATH=path)
    argv = [sys.executable, "-m", "tests.worker.worker_proc", database_url, topic, str(slow)]
    return subprocess.Popen(argv, cwd=ROOT, env=env)  # noqa: S603  (our own interpreter and module)


async def _wait_for(predicate, timeout: float) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not await predicate():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def test_sigkill_mid_handler_then_restart(conn, database_url, topic):
    ids = await insert_events(conn, topic, 12)

    async def in_slow_handler_of_the_third() -> bool:
        # The slow handler's own effect is uncommitted while it sleeps: watch the fast handler's records.
        return await conn.fetchval("SELECT count(*) FROM outbox_deliveries WHERE event_id = ANY($1::uuid[])"
                                   " AND handler_name = 'crash_test.fast'", ids) >= 3  # fmt: skip

    first = _start(database_url, topic, slow=0.4)
    try:
        await _wait_for(in_slow_handler_of_the_third, 20)
        await asyncio.sleep(0.1)
        first.send_signal(signal.SIGKILL)
        first.wait(5)
    finally:
        first.kill()
    assert first.returncode == -signal.SIGKILL
    done_before = await conn.fetchval("SELECT count(*) FROM outbox WHERE id = ANY($1::uuid[]) AND status = 'done'", ids)
    assert done_before < len(ids)
    # The killed worker's claim stays leased (1.5 s here), then the second worker takes it over.
    second = _start(database_url, topic, slow=0.01)
    try:
        async def all_done() -> bool:
            return await conn.fetchval(
                "SELECT count(*) FROM outbox WHERE id = ANY($1::uuid[]) AND status = 'done'", ids) == len(ids)

        await _wait_for(all_done, 30)
        second.send_signal(signal.SIGTERM)  # graceful: exits on its own
        assert second.wait(10) == 0
    finally:
        second.kill()
    counts = await effects(conn, ids)
    assert all(counts.get((i, "fast")) == 1 for i in ids), counts
    assert all(counts.get((i, "slow")) == 1 for i in ids), counts
    retried = await conn.fetchval("SELECT count(*) FROM outbox WHERE id = ANY($1::uuid[]) AND attempts > 1", ids)
    assert retried >= 1  # the events of the killed claim were run again, without duplicate effects
