"""Sample the carebase server with py-spy while GET /api/v1/me is under load, and summarise.

Optional: ``python -m bench.run --only me --profile`` (needs ``py-spy``: ``.venv/bin/pip install py-spy``;
sampling another process needs ptrace rights, e.g. root). Writes the collapsed stacks (load them in
https://www.speedscope.app or flamegraph.pl) and returns a summary:

- ``by_library``: where the CPU is spent, by the package of the innermost Python frame (self time).
  SQLAlchemy runs its sync half inside greenlets, so py-spy sees those stacks cut at the greenlet;
  self time by library is therefore the reliable split, inclusive times of our own functions undercount.
- ``markers``: share of samples whose stack contains a given frame (JWT verify, tenant context,
  principal lookup, BEGIN/COMMIT, new database connections, ...).
"""

from __future__ import annotations

import collections
import re
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

from bench import loadgen

MARKERS = {
    "JWT verify (verify_access_token)": "verify_access_token (",
    "tenant context (set_context, 1 round trip)": "set_context (",
    "principal lookup (load_principal)": "load_principal (",
    "the /me query (account.me)": "me (carebase/identity/account.py",
    "BEGIN (asyncpg Transaction.start)": "Transaction.start (",
    "COMMIT (asyncpg Transaction.__commit)": "Transaction.__commit (",
    "new DB connections (asyncpg connect)": "connect (asyncpg/connection.py",
    "closing DB connections": "Connection.close (asyncpg",
    "AsyncSession construction": "AsyncSession.__init__ (",
    "FastAPI dependency solving": "solve_dependencies (",
    "PlatformMiddleware (whole request below it)": "PlatformMiddleware.__call__ (",
    "metrics.observe": "observe (carebase/core/metrics.py",
    "response validation/serialisation (pydantic)": "pydantic/",
}
_FRAME = re.compile(r"(.*) \((.*?)(?::\d+)?\)$")


def py_spy() -> str | None:
    import sys

    local = Path(sys.executable).parent / "py-spy"
    return str(local) if local.exists() else shutil.which("py-spy")


def _library(frame: str) -> str:
    m = _FRAME.match(frame)
    if not m:
        return "(native / no Python frame)"
    path = m.group(2).split("site-packages/")[-1]
    if path.startswith("<"):
        return "sqlalchemy"  # generated wrappers
    parts = path.split("/")
    if parts[0] == "carebase":
        return "/".join(parts[:2])
    if len(parts) == 1:
        return "stdlib"
    return parts[0]


def summarise(collapsed: Path, markers: dict[str, str] = MARKERS, libraries: int = 15) -> dict[str, Any]:
    """Self time by library (the ``libraries`` largest) and the share of samples whose stack holds each of
    ``markers``' frames, from py-spy's collapsed stacks."""
    total = 0
    libs: collections.Counter[str] = collections.Counter()
    marks: collections.Counter[str] = collections.Counter()
    for line in collapsed.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        n = int(count)
        total += n
        libs[_library(stack.split(";")[-1])] += n
        for name, needle in markers.items():
            if needle in stack:
                marks[name] += n
    pct = (lambda n: round(100 * n / total, 1)) if total else (lambda n: 0.0)
    return {
        "samples": total,
        "by_library_pct": {k: pct(v) for k, v in libs.most_common(libraries)},
        "markers_pct": {k: pct(marks[k]) for k in markers},
    }


def profile_me(
    spec: loadgen.Spec, generator: str, out: Path, rate: int = 250, markers: dict[str, str] = MARKERS
) -> dict[str, Any]:
    spy = py_spy()
    if spy is None:
        return {"error": "py-spy is not installed (.venv/bin/pip install py-spy)"}
    seconds = max(3, int(spec.duration))
    cmd = [spy, "record", "--pid", str(spec.server_pids[0]), "--duration", str(seconds), "--rate", str(rate),
           "--format", "raw", "--nonblocking", "-o", str(out)]  # fmt: skip
    spec.duration = seconds + 2  # keep the load on for the whole sample
    spy_proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)  # noqa: S603
    time.sleep(0.3)
    result = loadgen.run(spec, generator)
    _, err = spy_proc.communicate(timeout=60)
    if spy_proc.returncode != 0 or not out.exists():
        return {"error": f"py-spy failed ({spy_proc.returncode}): {err[-500:]}"}
    summary = summarise(out, markers)
    summary["collapsed_stacks"] = str(out)
    summary["rps_while_sampled"] = result.rps
    return summary
