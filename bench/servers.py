"""Server processes and the benchmark database: start, wait for the first 200, stop with SIGINT."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
UVICORN_FLAGS = ["--workers", "1", "--no-access-log", "--log-level", "warning", "--http", "httptools"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def carebase_cmd() -> list[str]:
    script = Path(sys.executable).parent / "carebase"
    return [str(script)] if script.exists() else [sys.executable, "-m", "carebase.cli"]


def uvicorn_loop() -> str:
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return "asyncio"
    return "uvloop"


def get_status(url: str, timeout: float = 1.0) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 (loopback only)
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return exc.code
    except (OSError, ValueError):
        return None


@dataclass
class Server:
    name: str
    cmd: list[str]
    port: int
    env: dict[str, str | None] = field(default_factory=dict)  # None: remove from the environment
    health_path: str = "/healthz"
    log_path: Path | None = None
    proc: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self) -> None:
        if self.log_path is None:
            fd, name = tempfile.mkstemp(prefix=f"bench-{self.name}-", suffix=".log")
            os.close(fd)
            self.log_path = Path(name)
        log = open(self.log_path, "wb")  # noqa: SIM115 (kept by the child)
        self.started_at = time.perf_counter()
        env = {k: v for k, v in {**os.environ, **self.env}.items() if v is not None}
        self.proc = subprocess.Popen(  # noqa: S603 (our own commands)
            self.cmd, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT
        )
        log.close()

    def wait_healthy(self, timeout: float = 120.0, interval: float = 0.05) -> float:
        """Seconds from start() to the first 200 on the health path."""
        url = f"http://{HOST}:{self.port}{self.health_path}"
        deadline = self.started_at + timeout
        while time.perf_counter() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(
                    f"{self.name} exited with {self.proc.returncode} before answering:\n{self.log_tail()}"
                )
            if get_status(url, timeout=0.5) == 200:
                return time.perf_counter() - self.started_at
            time.sleep(interval)
        raise RuntimeError(f"{self.name}: no 200 on {url} within {timeout:.0f} s:\n{self.log_tail()}")

    def stop(self, timeout: float = 30.0) -> tuple[float, int | None]:
        """SIGINT (Ctrl-C), wait; returns (seconds to exit, exit code). Kills it after the timeout."""
        if self.proc is None or self.proc.poll() is not None:
            return 0.0, None if self.proc is None else self.proc.returncode
        t0 = time.perf_counter()
        self.proc.send_signal(signal.SIGINT)
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return time.perf_counter() - t0, None
        return time.perf_counter() - t0, code

    def log_tail(self, lines: int = 30) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


def uvicorn_server(name: str, app: str, env: dict[str, str] | None = None) -> Server:
    port = free_port()
    cmd = [
        sys.executable,
        "-m",
        "uvicorn",
        app,
        "--host",
        HOST,
        "--port",
        str(port),
        *UVICORN_FLAGS,
        "--loop",
        uvicorn_loop(),
    ]
    return Server(name, cmd, port, env=env or {})


# ---------------------------------------------------------------------------------------------
# The benchmark database


@dataclass
class BenchDatabase:
    """A throwaway database for the /me and login benchmarks, plus the env for ``carebase``."""

    owner_url: str  # postgresql://... of the benchmark database (owner)
    app_role: str
    app_password: str
    var_dir: Path
    kind: str  # "local" (a PostgreSQL server) or "embedded" (pgserver started by the bench)
    admin_url: str | None = None
    name: str | None = None
    embedded: object | None = None

    def env(self) -> dict[str, str]:
        return {
            "CAREBASE_DATABASE_URL": self.owner_url,
            "CAREBASE_DATABASE_APP_ROLE": self.app_role,
            "CAREBASE_DATABASE_APP_PASSWORD": self.app_password,
            "CAREBASE_VAR_DIR": str(self.var_dir),
            "CAREBASE_LOG_LEVEL": "WARNING",
        }

    def app_dsn(self) -> str:
        """asyncpg DSN of the benchmark database as the app role (what the app itself uses)."""
        from sqlalchemy.engine import make_url

        url = make_url(self.owner_url).set(drivername="postgresql", username=self.app_role, password=self.app_password)
        return url.render_as_string(hide_password=False)

    def drop(self) -> None:
        if self.kind == "local" and self.admin_url and self.name:
            asyncio.run(_admin(self.admin_url, f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)'))
        if self.embedded is not None:
            with contextlib.suppress(Exception):
                self.embedded.cleanup()  # type: ignore[attr-defined]


async def _admin(admin_url: str, *statements: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(admin_url, timeout=5)
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


def create_bench_database(admin_url: str | None, var_dir: Path) -> BenchDatabase:
    """A fresh database on the given server (its own app role, so it never touches the role other
    runs, e.g. the test suite, use), or on an embedded PostgreSQL if the server is unreachable."""
    app_role, app_password = "carebase_bench_app", secrets.token_urlsafe(18)
    if admin_url:
        from sqlalchemy.engine import make_url

        name = f"carebase_bench_{os.getpid()}"
        try:
            asyncio.run(
                _admin(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', f'CREATE DATABASE "{name}"')
            )
        except (OSError, Exception) as exc:  # unreachable or refused: fall back
            print(f"  ({admin_url} not usable: {exc.__class__.__name__}: {exc}; using an embedded PostgreSQL)")
        else:
            owner = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
            return BenchDatabase(owner, app_role, app_password, var_dir, "local", admin_url, name)
    import warnings

    warnings.filterwarnings("ignore", module="platformdirs")
    import pgserver

    pgdata = var_dir / "bench-pg"
    server = pgserver.get_server(pgdata, cleanup_mode="delete")
    server.psql("CREATE DATABASE carebase;")
    return BenchDatabase(server.get_uri("carebase"), app_role, app_password, var_dir, "embedded", embedded=server)


def run_cli(args: list[str], env: dict[str, str], timeout: float = 300) -> str:
    proc = subprocess.run(  # noqa: S603 (our own CLI)
        [*carebase_cmd(), *args],
        cwd=REPO,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(
            f"carebase {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}"
        )
    return proc.stdout
