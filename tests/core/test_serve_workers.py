"""``carebase serve --workers 2``: two server processes share the port, both ready, and Ctrl-C
stops them all."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


def _status(url: str) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=1) as resp:  # noqa: S310 (loopback)
            return int(resp.status)
    except OSError:
        return None


def test_two_server_processes_answer_and_stop_on_ctrl_c(database_url: str) -> None:
    port = _free_port()
    path = os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])
    # No in-process worker: it would start on every event earlier tests left pending in this database,
    # which made the servers slow to answer and to stop under a full run (a flaky failure).
    env = dict(os.environ, CAREBASE_DATABASE_URL=database_url, PYTHONPATH=path, CAREBASE_LOG_LEVEL="WARNING",
               CAREBASE_RUN_WORKER_IN_PROCESS="false")  # fmt: skip
    argv = [sys.executable, "-m", "carebase.cli", "serve", "--no-demo", "--workers", "2", "--port", str(port)]
    proc = subprocess.Popen(  # noqa: S603 (our own CLI); its own process group, so a failure kills every process
        argv, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True
    )
    try:
        deadline = time.monotonic() + 60
        while _status(f"http://127.0.0.1:{port}/readyz") != 200:
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
            assert time.monotonic() < deadline, "no 200 on /readyz within 60 s"
            time.sleep(0.2)
        servers = [c for c in _children(proc.pid) if b"spawn" in Path(f"/proc/{c}/cmdline").read_bytes()]
        assert len(servers) == 2
        assert all(_status(f"http://127.0.0.1:{port}/healthz") == 200 for _ in range(10))
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=20) == 0
        assert not any(Path(f"/proc/{c}").exists() for c in servers)
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # the server processes too, not only their parent
        except ProcessLookupError:
            pass
        proc.wait()
