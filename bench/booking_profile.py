"""py-spy profiles of our server for the availability and booking sections (``--profile``).

py-spy samples the server while a load runs (a GET load from bench.loadgen, or the booking clients);
the report gives self time by library and the share of samples in the code paths listed in MARKERS.
"""

from __future__ import annotations

import argparse
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
    "asyncpg fetchrow (availability's load; the hold; its rules on a miss; confirm)": "fetchrow (asyncpg",
    "place_hold": "place_hold (",
    "hold_on": "hold_on (",
    "confirm_on": "confirm_on (",
    "waiting for the audit linker (link_after_commit)": "link_after_commit (",
    "audit events' canonical JSON (pending_args)": "pending_args (",
    "the in-process worker (outbox handlers)": "run_batch (carebase/core/worker",
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
    summary = prof.summarise(out, MARKERS, libraries=12)
    summary["markers_pct"] = {k: v for k, v in summary["markers_pct"].items() if v}
    return {**summary, "collapsed_stacks": str(out)}


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
