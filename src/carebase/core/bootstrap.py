"""Resolve the database: the configured server or the embedded one; prepare the app role."""

from __future__ import annotations

import asyncpg

from carebase.core.db import async_url
from carebase.settings import VAR_DIR, Settings


def resolve_owner_url(settings: Settings) -> str:
    if settings.database_url:
        return settings.database_url
    from carebase.core.embedded import start_embedded

    settings.database_url = start_embedded(VAR_DIR)
    return settings.database_url


def asyncpg_dsn(url: str) -> str:
    """A plain libpq-style DSN for asyncpg (no SQLAlchemy driver suffix)."""
    return async_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def ensure_app_role(owner_url: str, role: str, password: str) -> None:
    """Create or update the app's login role: LOGIN, no superuser, no BYPASSRLS, owns nothing."""
    if not role.replace("_", "").isalnum():
        raise ValueError("database_app_role must be a plain identifier")
    conn = await asyncpg.connect(asyncpg_dsn(owner_url))
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", role)
        verb = "ALTER" if exists else "CREATE"
        # Role names cannot be bound parameters; the name is checked above and the password quoted.
        quoted = await conn.fetchval("SELECT quote_literal($1)", password)
        await conn.execute(
            f"{verb} ROLE {role} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS "
            f"PASSWORD {quoted}"
        )
        db = await conn.fetchval("SELECT current_database()")
        await conn.execute(f'GRANT CONNECT ON DATABASE "{db}" TO {role}')
        await conn.execute(f"GRANT USAGE ON SCHEMA public TO {role}")
    finally:
        await conn.close()
