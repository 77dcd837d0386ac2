"""Database plumbing: declarative base, engines, and the per-transaction tenant context.

Two roles reach the database:
- the *owner* (``CAREBASE_DATABASE_URL``) runs migrations and maintenance commands;
- the *app role* (``carebase_app``) serves requests. It owns nothing and row-level security
  applies to it, so a query that forgets its tenant filter still sees one tenant only.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime

import asyncpg
from sqlalchemy import DateTime, ForeignKey, MetaData, Uuid, func, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from carebase.core.ids import new_id

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: DateTime(timezone=True), uuid.UUID: Uuid(as_uuid=True)}


class IdMixin:
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)


class TimestampMixin:
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now(), onupdate=func.now())


class TenantMixin:
    """Marks a tenant-owned table: ``tenant_id`` is NOT NULL and RLS applies (see migrations)."""

    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id"), index=True)


class TenantLedMixin(TenantMixin):
    """``TenantMixin`` for a busy table whose own indexes all lead with ``tenant_id``: no index on
    ``tenant_id`` alone, which would only cost every insert (and every non-HOT update) one more entry."""

    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id"))


def async_url(url: str) -> URL:
    parsed = make_url(url)
    if parsed.drivername in ("postgres", "postgresql", "postgresql+psycopg", "postgresql+psycopg2"):
        parsed = parsed.set(drivername="postgresql+asyncpg")
    return parsed


def app_role_url(owner_url: str, role: str, password: str) -> URL:
    return async_url(owner_url).set(username=role, password=password)


class Database:
    """Holds the app engine (app role) and, lazily, the owner engine."""

    def __init__(self, owner_url: str, app_role: str, app_password: str, pool_size: int = 20) -> None:
        self.owner_url = owner_url
        self.app_url = app_role_url(owner_url, app_role, app_password)
        self.app_role = app_role
        # A fixed pool: overflow connections would be opened and closed under load, and each new
        # asyncpg connection costs round trips and a cold statement cache. Requests wait instead.
        self.engine: AsyncEngine = create_async_engine(
            self.app_url, pool_size=pool_size, max_overflow=0, pool_timeout=30, pool_pre_ping=False
        )
        self.sessionmaker = async_sessionmaker(self.engine, expire_on_commit=False, autoflush=True)
        self._owner_engine: AsyncEngine | None = None
        self.pool_size = pool_size
        self._raw_pool: asyncpg.Pool | None = None
        self._raw_lock = asyncio.Lock()
        # First come, first served for the raw pool's connections (``raw_connection``).
        self._raw_turns = asyncio.Semaphore(pool_size)

    async def raw_pool(self) -> asyncpg.Pool:
        """A plain asyncpg pool as the app role, for the hot paths that skip SQLAlchemy (public reads,
        availability, hold and confirm). Opened on first use; RLS applies exactly as on the engine."""
        if self._raw_pool is None:
            async with self._raw_lock:
                if self._raw_pool is None:
                    self._raw_pool = await asyncpg.create_pool(
                        self.raw_dsn, min_size=1, max_size=self.pool_size, reset=_nothing_to_reset
                    )
        return self._raw_pool

    @property
    def raw_dsn(self) -> str:
        """The app role's DSN for plain asyncpg connections."""
        return self.app_url.set(drivername="postgresql").render_as_string(hide_password=False)

    @asynccontextmanager
    async def raw_connection(self) -> AsyncIterator[asyncpg.Connection]:
        """A connection of the raw pool, handed out in the order asked for. asyncpg's pool lets a newcomer
        take a connection just released while the waiter it woke has not run yet; the waiter then queues
        again at the back. Under load most requests waited nothing and one in twenty over 300 ms (hold +
        confirm at 64 clients). A fair semaphore the size of the pool in front of it keeps the order."""
        pool = await self.raw_pool()
        async with self._raw_turns, pool.acquire() as conn:
            yield conn

    @property
    def owner_engine(self) -> AsyncEngine:
        if self._owner_engine is None:
            self._owner_engine = create_async_engine(async_url(self.owner_url), pool_size=2)
        return self._owner_engine

    async def dispose(self) -> None:
        if self._raw_pool is not None:
            await self._raw_pool.close()
            self._raw_pool = None
        await self.engine.dispose()
        if self._owner_engine is not None:
            await self._owner_engine.dispose()


async def driver_connection(session: AsyncSession) -> asyncpg.Connection:
    """The session's asyncpg connection, inside its transaction, for hot-path reads that skip the
    ORM (architecture section 8). Statements run in the unit of work's transaction and context."""
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    driver: asyncpg.Connection = raw.driver_connection  # type: ignore[assignment]
    if not driver.is_in_transaction():
        # SQLAlchemy opens the transaction lazily, on its first statement: make it open it now.
        await connection.execute(_NOOP)
    return driver


async def _nothing_to_reset(conn: asyncpg.Connection) -> None:
    """Returning a connection to the raw pool costs no round trip. asyncpg still rolls back a transaction
    left open and drops listeners; what its default reset query would also clear (session settings,
    cursors outside transactions, LISTEN, session advisory locks) we never create on these connections:
    the tenant context is transaction-local (``set_config(..., true)``) and ends with the transaction."""


def begin_statement(
    *, tenant_id: uuid.UUID | None = None, user_id: uuid.UUID | None = None, platform_admin: bool = False,
    readonly: bool = False,
) -> str:
    """``BEGIN`` and the transaction's context (``set_context``'s three settings) as one simple-protocol
    query: one round trip where ``conn.transaction()`` and a parameterised ``set_config`` take two. The
    values are literals, so only ``uuid.UUID`` objects are accepted (their text is hex and dashes)."""
    begin = "BEGIN READ ONLY" if readonly else "BEGIN"
    if tenant_id is None and user_id is None and not platform_admin:
        return begin
    for value in (tenant_id, user_id):
        if value is not None and not isinstance(value, uuid.UUID):
            raise TypeError(f"a tenant context takes uuid.UUID values, not {type(value).__name__}")
    t, u, p = tenant_id or "", user_id or "", "on" if platform_admin else ""
    return (
        f"{begin}; SELECT set_config('app.tenant_id', '{t}', true), set_config('app.user_id', '{u}', true),"
        f" set_config('app.platform_admin', '{p}', true)"
    )


async def rollback_quietly(conn: asyncpg.Connection) -> None:
    """Roll back after an error; if the connection cannot (broken, or a cancelled query still running),
    the pool's release rolls back or closes it."""
    with contextlib.suppress(Exception):
        if not conn.is_closed() and conn.is_in_transaction():
            await conn.execute("ROLLBACK")


@asynccontextmanager
async def raw_transaction(
    db: Database, *, tenant_id: uuid.UUID | None = None, user_id: uuid.UUID | None = None, readonly: bool = False
) -> AsyncIterator[asyncpg.Connection]:
    """A transaction on the raw pool, in a tenant's context when given (``SET LOCAL`` semantics, as
    ``set_context``), begun in one round trip. Commits when the block ends, rolls back on any exception."""
    async with db.raw_connection() as conn:
        await conn.execute(begin_statement(tenant_id=tenant_id, user_id=user_id, readonly=readonly))
        try:
            yield conn
        except BaseException:
            await rollback_quietly(conn)
            raise
        await conn.execute("COMMIT")


_NOOP = text("SELECT 1")
_SET_CONTEXT = text(
    "SELECT set_config('app.tenant_id', :t, true), set_config('app.user_id', :u, true),"
    " set_config('app.platform_admin', :p, true)"
)


async def set_tenant(session: AsyncSession, tenant_id: uuid.UUID | None) -> None:
    """Scope the current transaction to one tenant (``SET LOCAL`` semantics)."""
    await session.execute(
        text("SELECT set_config('app.tenant_id', :t, true)"), {"t": str(tenant_id) if tenant_id else ""}
    )


async def set_context(
    session: AsyncSession,
    *,
    tenant_id: uuid.UUID | None,
    user_id: uuid.UUID | None = None,
    platform_admin: bool = False,
) -> None:
    """Set tenant, acting user and platform flag for this transaction in one round trip."""
    await session.execute(
        _SET_CONTEXT,
        {
            "t": str(tenant_id) if tenant_id else "",
            "u": str(user_id) if user_id else "",
            "p": "on" if platform_admin else "",
        },
    )
