"""Sessions and refresh tokens: start, refresh (rotate, detect reuse), revoke, list, switch tenant;
and ``load_principal``, the one place a verified token becomes a Principal."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import asyncpg
from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from carebase.audit import service as audit
from carebase.core.clock import utcnow
from carebase.core.context import client_ip_var, user_agent_var
from carebase.core.crypto import random_token, sha256_hex
from carebase.core.db import set_context
from carebase.core.errors import NotAuthenticated, NotFound
from carebase.identity.models import AuthSession, Membership, RefreshToken, User
from carebase.identity.principal import Principal
from carebase.identity.roles import Role
from carebase.identity.tokens import AccessClaims, issue_access_token
from carebase.settings import get_settings

# A refresh token presented again within this many seconds of its rotation lost a race with a
# parallel refresh (two tabs); it is refused without revoking the family. Later reuse is theft.
REFRESH_RACE_GRACE_SECONDS = 5


@dataclass(frozen=True, slots=True)
class TokenPair:
    access_token: str
    expires_in: int
    refresh_token: str
    refresh_expires_at: datetime
    session_id: uuid.UUID
    role: Role
    tenant_id: uuid.UUID
    mfa_pending: bool


async def _issue(session: AsyncSession, auth: AuthSession, role: Role, mfa_pending: bool) -> TokenPair:
    refresh = random_token(32)
    session.add(RefreshToken(session_id=auth.id, token_hash=sha256_hex(refresh)))
    await session.flush()
    access, ttl = issue_access_token(AccessClaims(auth.user_id, auth.tenant_id, auth.membership_id, auth.id, role))
    return TokenPair(access, ttl, refresh, auth.expires_at, auth.id, role, auth.tenant_id, mfa_pending)


async def start_session(
    session: AsyncSession,
    membership: Membership,
    *,
    via: str,
    mfa_verified: bool,
    mfa_enrolled: bool,
    device_id: uuid.UUID | None = None,
) -> TokenPair:
    """Open a session (a refresh family) for a membership the caller has authenticated."""
    role = Role(membership.role)
    auth = AuthSession(
        user_id=membership.user_id,
        tenant_id=membership.tenant_id,
        membership_id=membership.id,
        device_id=device_id,
        expires_at=utcnow() + timedelta(days=get_settings().auth.refresh_token_days),
        ip=client_ip_var.get(),
        user_agent=(user_agent_var.get() or "")[:300] or None,
        via=via,
        mfa_verified=mfa_verified,
    )
    session.add(auth)
    await session.flush()
    mfa_pending = role.requires_mfa and not (mfa_enrolled and mfa_verified)
    return await _issue(session, auth, role, mfa_pending)


async def refresh(session: AsyncSession, refresh_token: str) -> TokenPair:
    """Rotate a refresh token. Reuse of an already rotated token revokes the whole family."""
    now = utcnow()
    token_hash = sha256_hex(refresh_token)
    claimed = (
        await session.execute(
            update(RefreshToken)
            .where(RefreshToken.token_hash == token_hash, RefreshToken.used_at.is_(None))
            .values(used_at=now)
            .returning(RefreshToken.session_id)
        )
    ).scalar_one_or_none()
    if claimed is None:
        revoked = await _on_refresh_failure(session, token_hash, now)
        raise NotAuthenticated("The refresh token is not valid.", keep_changes=revoked)
    auth = await session.get(AuthSession, claimed, with_for_update=True)
    assert auth is not None
    if auth.revoked_at is not None or auth.expires_at <= now:
        raise NotAuthenticated("The session has ended. Sign in again.")
    await set_context(session, tenant_id=auth.tenant_id, user_id=auth.user_id)
    membership = await session.get(Membership, auth.membership_id)
    if membership is None or membership.status != "active":
        raise NotAuthenticated("The session has ended. Sign in again.")
    auth.last_used_at = now
    role = Role(membership.role)
    user = await session.get(User, auth.user_id)
    enrolled = bool(user and user.mfa_enabled_at)
    return await _issue(session, auth, role, role.requires_mfa and not (enrolled and auth.mfa_verified))


async def _on_refresh_failure(session: AsyncSession, token_hash: str, now: datetime) -> bool:
    """Revoke the family if a rotated token is presented again; True if it did."""
    row = (
        await session.execute(
            select(RefreshToken.used_at, AuthSession)
            .join(AuthSession, AuthSession.id == RefreshToken.session_id)
            .where(RefreshToken.token_hash == token_hash)
        )
    ).first()
    if row is None:
        return False
    used_at, auth = row
    if auth.revoked_at is not None:
        return False
    if used_at is not None and (now - used_at).total_seconds() <= REFRESH_RACE_GRACE_SECONDS:
        return False  # lost a race with a parallel refresh of the same token
    auth.revoked_at = now
    auth.revoked_reason = "refresh_reuse"
    await session.flush()
    await set_context(session, tenant_id=auth.tenant_id, user_id=auth.user_id)
    await audit.record(
        session,
        auth.tenant_id,
        "auth.refresh.reused",
        actor=audit.Actor(auth.user_id, None),
        outcome="denied",
        target_type="session",
        target_id=auth.id,
        details={"revoked": "session family"},
    )
    return True


_AUTHENTICATE = text("SELECT * FROM app_authenticate(:sid, :uid, :tid, :platform)")
_AUTHENTICATE_RAW = "SELECT * FROM app_authenticate($1, $2, $3, $4)"


def _principal(claims: AccessClaims, row: Sequence[Any] | None) -> Principal:
    if row is None:
        raise NotAuthenticated("The session has ended. Sign in again.")
    full_name, enrolled, mfa_verified, role_name = row
    role = Role(role_name)
    if role is not claims.role:
        raise NotAuthenticated("Your role changed. Sign in again.")
    return Principal(
        user_id=claims.user_id,
        tenant_id=claims.tenant_id,
        membership_id=claims.membership_id,
        session_id=claims.session_id,
        role=role,
        full_name=full_name,
        mfa_pending=role.requires_mfa and not (enrolled and mfa_verified),
    )


async def load_principal(session: AsyncSession, claims: AccessClaims) -> Principal:
    """Turn verified token claims into a Principal if the session, membership, user and tenant
    are all still live. One round trip: ``app_authenticate`` (migration 0002) sets the
    transaction's context from the claims and returns the session's row."""
    connection = await session.connection()
    params = {
        "sid": claims.session_id, "uid": claims.user_id, "tid": claims.tenant_id,
        "platform": claims.role is Role.PLATFORM_ADMIN,
    }  # fmt: skip
    return _principal(claims, (await connection.execute(_AUTHENTICATE, params)).first())


async def load_principal_raw(conn: asyncpg.Connection, claims: AccessClaims) -> Principal:
    """``load_principal`` on a raw connection (the hot paths): in its transaction, or as a statement of its own."""
    row = await conn.fetchrow(
        _AUTHENTICATE_RAW, claims.session_id, claims.user_id, claims.tenant_id, claims.role is Role.PLATFORM_ADMIN
    )
    return _principal(claims, row)


async def revoke_session(
    session: AsyncSession, principal: Principal, session_id: uuid.UUID, *, reason: str = "revoked"
) -> None:
    auth = await session.get(AuthSession, session_id)
    if auth is None or auth.user_id != principal.user_id:
        raise NotFound("No such session.")
    if auth.revoked_at is None:
        auth.revoked_at = utcnow()
        auth.revoked_reason = reason
    await audit.record(
        session,
        principal.tenant_id,
        "auth.session.revoked" if reason != "logout" else "auth.logout",
        actor=audit.Actor(principal.user_id, principal.role),
        target_type="session",
        target_id=session_id,
    )


async def list_sessions(session: AsyncSession, principal: Principal) -> list[AuthSession]:
    rows = await session.execute(
        select(AuthSession)
        .where(
            AuthSession.user_id == principal.user_id,
            AuthSession.revoked_at.is_(None),
            AuthSession.expires_at > utcnow(),
        )
        .order_by(AuthSession.last_used_at.desc())
        .limit(100)
    )
    return list(rows.scalars())


async def revoke_all_for_user(
    session: AsyncSession,
    user_id: uuid.UUID,
    reason: str,
    *,
    tenant_id: uuid.UUID | None = None,
    keep: uuid.UUID | None = None,
) -> None:
    """End a user's sessions: in one tenant, or everywhere; optionally keeping the current one."""
    query = update(AuthSession).where(AuthSession.user_id == user_id, AuthSession.revoked_at.is_(None))
    if tenant_id is not None:
        query = query.where(AuthSession.tenant_id == tenant_id)
    if keep is not None:
        query = query.where(AuthSession.id != keep)
    await session.execute(query.values(revoked_at=utcnow(), revoked_reason=reason))


async def revoke_device_sessions(session: AsyncSession, device_id: uuid.UUID) -> None:
    await session.execute(
        update(AuthSession)
        .where(AuthSession.device_id == device_id, AuthSession.revoked_at.is_(None))
        .values(revoked_at=utcnow(), revoked_reason="device_revoked")
    )
