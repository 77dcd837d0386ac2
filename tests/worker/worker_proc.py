"""A ``carebase worker`` for the crash test: the real loop (``run_worker``) with two test handlers on one
topic, a fast one and a slow one, each writing its side effect in its delivery transaction.

Usage: python -m tests.worker.worker_proc OWNER_URL TOPIC SLOW_SECONDS
"""

from __future__ import annotations

import asyncio
import signal
import sys

from carebase.core.worker import handler, run_worker


def main() -> None:
    url, topic, slow_seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])

    @handler(topic, name="crash_test.fast")
    async def fast(conn, event):  # type: ignore[no-untyped-def]
        await conn.execute("INSERT INTO worker_test_effects (event_id, handler) VALUES ($1, 'fast')", event["id"])

    @handler(topic, name="crash_test.slow")
    async def slow(conn, event):  # type: ignore[no-untyped-def]
        await conn.execute("INSERT INTO worker_test_effects (event_id, handler) VALUES ($1, 'slow')", event["id"])
        await asyncio.sleep(slow_seconds)

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        await run_worker(url, stop, import_handlers=False, topics=[topic], cron_enabled=False)

    asyncio.run(run())


if __name__ == "__main__":
    main()
