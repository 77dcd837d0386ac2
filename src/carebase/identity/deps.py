"""FastAPI dependencies for authentication and permissions, as ``Annotated`` aliases.

- ``DbSession``: an anonymous unit of work (sign-in endpoints); no tenant context.
- ``Auth``: a verified bearer token turned into a Principal inside the request's unit of work,
  with the tenant context set from the token (never from a header or body).
- ``require(permission)``: default deny; a denial is audited in its own transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Annotated, Any

import asyncpg
from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from carebase.audit import service as audit
from carebase.core.context import actor_var, tenant_var
from carebase.core.db import Database
from carebase.core.errors import NotAuthenticated, PermissionDenied
from carebase.core.ratelimit import RateLimiter
from carebase.core.uow import run_callbacks, unit_of_work
from carebase.identity.principal import Principal
from carebase.identity.principal_cache import PrincipalCache
from carebase.identity.sessions import load_principal, load_principal_raw
from carebase.identity.tokens import AccessClaims, verify_access_token


def get_db(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


def get_limiter(request: Request) -> RateLimiter:
    limiter: RateLimiter = request.app.state.limiter
    return limiter


Limiter = Annotated[RateLimiter, Depends(get_limiter)]


async def _anonymous_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with unit_of_work(get_db(request)) as session:
        yield session


DbSession = Annotated[AsyncSession, Depends(_anonymous_session, scope="function")]


def bearer_token(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise NotAuthenticated("Send an access token: Authorization: Bearer <token>.")
    return token.strip()


@dataclass(frozen=True, slots=True)
class Ctx:
    """What an authenticated handler gets: the principal and its unit of work."""

    principal: Principal
    session: AsyncSession


def hold_until_mfa(principal: Principal, allow_mfa_pending: bool) -> None:
    if principal.mfa_pending and not allow_mfa_pending:
        raise PermissionDenied(
            "Set up two-step sign-in first: your role requires it.", code_hint="mfa_enrolment_required"
        )


@asynccontextmanager
async def authenticated_ctx(db: Database, claims: AccessClaims, *, allow_mfa_pending: bool) -> AsyncIterator[Ctx]:
    """The request's unit of work with its principal. A context manager (not a generator looped
    over), so an error raised by the endpoint reaches the unit of work: rolled back, or committed
    when it carries ``keep_changes``."""
    async with unit_of_work(db) as session:
        principal = await load_principal(session, claims)
        tenant_var.set(str(principal.tenant_id))
        actor_var.set(str(principal.user_id))
        hold_until_mfa(principal, allow_mfa_pending)
        yield Ctx(principal, session)


async def _auth(request: Request) -> AsyncIterator[Ctx]:
    claims = verify_access_token(bearer_token(request))
    async with authenticated_ctx(get_db(request), claims, allow_mfa_pending=False) as ctx:
        yield ctx


async def _auth_mfa_pending(request: Request) -> AsyncIterator[Ctx]:
    claims = verify_access_token(bearer_token(request))
    async with authenticated_ctx(get_db(request), claims, allow_mfa_pending=True) as ctx:
        yield ctx


Auth = Annotated[Ctx, Depends(_auth, scope="function")]
# For the few endpoints an admin may use before enrolling MFA: /me, MFA enrolment, sign-out.
AuthAllowMfaPending = Annotated[Ctx, Depends(_auth_mfa_pending, scope="function")]


async def audit_denial(db: Database, principal: Principal, permission: str, path: str) -> None:
    """Record a permission denial in its own transaction (the request's one rolls back)."""
    async with unit_of_work(db, tenant_id=principal.tenant_id, user_id=principal.user_id) as session:
        await audit.record(
            session, principal.tenant_id, "access.denied", actor=audit.Actor(principal.user_id, principal.role),
            outcome="denied", details={"permission": permission, "path": path},
        )  # fmt: skip


async def enforce(request: Request, principal: Principal, permission: str, *, allow_mfa_pending: bool = False) -> None:
    """Default deny, for handlers that authenticate without ``Auth`` (the hot reads): an admin who
    must still enrol MFA is held back, and a missing permission is refused and audited."""
    hold_until_mfa(principal, allow_mfa_pending)
    if not principal.can(permission):
        await audit_denial(get_db(request), principal, str(permission), request.url.path)
        raise PermissionDenied()


def require(permission: str) -> Callable[..., Coroutine[Any, Any, Ctx]]:
    async def check(request: Request, ctx: Auth) -> Ctx:
        await enforce(request, ctx.principal, permission)
        return ctx

    return check


@dataclass(frozen=True, slots=True)
class RawCtx:
    """What a hot-path handler gets instead of ``Ctx``: the principal, a raw pool connection outside any
    transaction, and callbacks to run once the handler's writes have committed."""

    principal: Principal
    conn: asyncpg.Connection
    after_commit: list[Callable[[], None]] = field(default_factory=list)


def raw_require(permission: str) -> Callable[[Request], AsyncIterator[RawCtx]]:
    """``require(permission)`` on the raw pool instead of an ORM session, for handlers whose writes are each
    one statement that sets its own tenant context (the booking functions, migration 0015): no transaction
    is opened, each statement is its own, and the callbacks run once the handler has returned. Such a
    handler opens a transaction itself (``raw_transaction_unless_open``) for anything that takes several
    statements. The principal comes from the principal cache (kept honest by the database's announcements,
    see ``principal_cache``); on a miss, ``app_authenticate`` checks the session, as ``Auth`` does. Then
    ``enforce``. Declare it with ``Depends(..., scope="function")``: the callbacks run before the response
    is sent."""

    async def dependency(request: Request) -> AsyncIterator[RawCtx]:
        claims = verify_access_token(bearer_token(request))
        principals: PrincipalCache = request.app.state.principal_cache
        generation = principals.generation
        principal = principals.get(claims)
        async with get_db(request).raw_connection() as conn:
            if principal is None:
                principal = await load_principal_raw(conn, claims)
                principals.put(principal, generation)
            tenant_var.set(str(principal.tenant_id))
            actor_var.set(str(principal.user_id))
            await enforce(request, principal, permission)
            ctx = RawCtx(principal, conn)
            yield ctx
            run_callbacks(ctx.after_commit)

    return dependency


def parse_uuid(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except ValueError:
        return None
