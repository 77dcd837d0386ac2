"""Alembic driven from code: upgrade, downgrade and current, always as the database owner."""

from __future__ import annotations

from pathlib import Path

import asyncpg
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory

ROOT = Path(__file__).resolve().parents[3]


def alembic_config(owner_url: str) -> Config:
    cfg = Config(str(ROOT / "alembic.ini"))
    cfg.set_main_option("script_location", str(ROOT / "migrations"))
    cfg.attributes["owner_url"] = owner_url
    return cfg


def upgrade(owner_url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(owner_url), revision)


def downgrade(owner_url: str, revision: str = "-1") -> None:
    command.downgrade(alembic_config(owner_url), revision)


def head_revision(owner_url: str) -> str | None:
    return ScriptDirectory.from_config(alembic_config(owner_url)).get_current_head()


async def current_revision(conn: asyncpg.Connection) -> str | None:
    """The revision the database is at (None before the first migration)."""
    exists = await conn.fetchval("SELECT to_regclass('public.alembic_version') IS NOT NULL")
    if not exists:
        return None
    return await conn.fetchval("SELECT version_num FROM alembic_version")
