"""py-spy profiles of our server for the availability and booking sections (``--profile``).

py-spy samples the server while a load runs (a GET load from bench.loadgen, or the booking clients);
the report gives self time by library and the share of samples in the code paths listed in MARKERS.
"""

from __future__ import annotations

import argparse
import collections
import subprocess
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from bench import loadgen
from bench.booking_data import log
from bench.servers import HOST, Server

MARKERS = {
    "availability(): load + compute": "availability (carebase/scheduling/availability.py",
    "compute_slots (pure Python)": "compute_slots (",
    "availability_read (response objects)": "availability_read (",
    "the availability SQL (asyncpg fetchrow)": "fetchrow (asyncpg",
    "place_hold": "place_hold (",
    "is_free (availability over 3 days)": "is_free (",
    "insert_exclusive (savepoint + INSERT)": "insert_exclusive (",
    "expire_stale_holds": "expire_stale_holds (",
    "confirm": "confirm (carebase/scheduling/booking.py",
    "audit.record": "record (carebase/audit/service.py",
    "outbox emit": "emit (carebase/core/outbox.py",
    "JWT verify": "verify_access_token (",
    "principal lookup": "load_principal (",
    "BEGIN (asyncpg Transaction.start)": "Transaction.start (",
    "COMMIT (asyncpg Transaction.__commit)": "Transaction.__commit (",
    "FastAPI response serialisation": "serialize_response (",
    "pydantic": "pydantic/",
    "zoneinfo / datetime": "astimezone",
}


def profile_server(server: Server, seconds: int, run_load: Callable[[], Any], name: str, delay: float = 0.3) -> dict:
    """py-spy on the server for ``seconds``, starting ``delay`` s after ``run_load`` (in a thread) started."""
    import threading

    from bench import profile as prof
    from bench.run import RESULTS

    spy = prof.py_spy()
    if spy is None:
        return {"error": "py-spy is not installed (.venv/bin/pip install py-spy)"}
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / (datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ") + f"-{name}.collapsed")
    cmd = [spy, "record", "--pid", str(server.pid), "--duration", str(seconds), "--rate", "250", "--format", "raw",
           "--nonblocking", "-o", str(out)]  # fmt: skip
    load = threading.Thread(target=run_load)
    load.start()
    time.sleep(delay)
    spy_proc = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, check=False)  # noqa: S603
    load.join()
    err = spy_proc.stderr
    if spy_proc.returncode != 0 or not out.exists():
        return {"error": f"py-spy failed ({spy_proc.returncode}): {err[-500:]}"}
    total = 0
    libs: collections.Counter[str] = collections.Counter()
    marks: collections.Counter[str] = collections.Counter()
    for line in out.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        n = int(count)
        total += n
        libs[prof._library(stack.split(";")[-1])] += n
        for key, needle in MARKERS.items():
            if needle in stack:
                marks[key] += n
    pct = (lambda n: round(100 * n / total, 1)) if total else (lambda n: 0.0)
    return {"samples": total, "collapsed_stacks": str(out),
            "by_library_pct": {k: pct(v) for k, v in libs.most_common(12)},
            "markers_pct": {k: pct(marks[k]) for k in MARKERS if marks[k]}}  # fmt: skip


def profile_get(args: argparse.Namespace, server: Server, path: str, auth: dict[str, str], name: str) -> dict:
    seconds = max(3, int(args.duration))
    spec = loadgen.Spec(HOST, server.port, path, headers=auth, concurrency=args.concurrency, duration=seconds + 2,
                        warmup=0, server_pids=[server.pid])  # fmt: skip
    log(f"  profiling {name} with py-spy for {seconds} s")
    return profile_server(server, seconds, lambda: loadgen.run(spec, args.generator), name)


def profile_lines(prof: dict[str, Any], what: str) -> list[str]:
    if "error" in prof:
        return [f"  profile of {what}: {prof['error']}"]
    out = [
        f"  py-spy profile of {what} ({prof['samples']} samples; {prof['collapsed_stacks']}):",
        "    self time by library: " + ", ".join(f"{k} {v}%" for k, v in list(prof["by_library_pct"].items())[:10]),
    ]
    out += [f"    {v:5.1f}%  {k}" for k, v in prof["markers_pct"].items()]
    return out
