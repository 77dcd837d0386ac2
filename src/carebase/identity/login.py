"""Sign-in with a password (staff, and patients who chose one), the MFA step, and tenant switching."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from carebase.audit import service as audit
from carebase.core.clock import utcnow
from carebase.core.crypto import keyed_hash
from carebase.core.db import set_context
from carebase.core.errors import NotAuthenticated, NotFound, PermissionDenied, RateLimited
from carebase.core.ratelimit import RateLimiter, enforce
from carebase.identity import mfa, passwords
from carebase.identity.devices import check_device
from carebase.identity.models import AuthSession, Membership, User
from carebase.identity.principal import Principal
from carebase.identity.sessions import TokenPair, start_session
from carebase.identity.tokens import issue_challenge, verify_challenge
from carebase.settings import get_settings
from carebase.tenancy.models import PLATFORM_TENANT_ID, Organization
from carebase.tenancy.service import tenant_policy

BAD_CREDENTIALS = "The email or password is not right."


@dataclass(frozen=True, slots=True)
class LoginOutcome:
    status: str  # ok | mfa_required | device_pending
    tokens: TokenPair | None = None
    mfa_token: str | None = None
    device_id: uuid.UUID | None = None
    device_token: str | None = None


async def active_memberships(session: AsyncSession, user_id: uuid.UUID) -> list[tuple[Membership, Organization]]:
    """Memberships the user can sign in to, most recently used first. Needs ``app.user_id`` set."""
    last_used = (
        select(AuthSession.membership_id, func.max(AuthSession.created_at).label("at"))
        .where(AuthSession.user_id == user_id)
        .group_by(AuthSession.membership_id)
        .subquery()
    )
    rows = await session.execute(
        select(Membership, Organization)
        .join(Organization, Organization.id == Membership.tenant_id)
        .outerjoin(last_used, last_used.c.membership_id == Membership.id)
        .where(Membership.user_id == user_id, Membership.status == "active", Organization.status == "active")
        .order_by(last_used.c.at.desc().nulls_last(), Membership.created_at)
    )
    return [(m, o) for m, o in rows.all()]


async def _pick_membership(
    session: AsyncSession, user: User, tenant_id: uuid.UUID | None, *, patients_only: bool = False
) -> Membership | None:
    for membership, _ in await active_memberships(session, user.id):
        if patients_only and membership.role != "patient":
            continue
        if tenant_id is None or membership.tenant_id == tenant_id:
            return membership
    return None


async def _audit_failure(session: AsyncSession, user: User | None, reason: str, via: str) -> None:
    tenant_id = PLATFORM_TENANT_ID
    if user is not None:
        # The user's memberships are visible only with app.user_id set: the failure then lands
        # in the chain of the tenant the user works in, where its admins see it.
        await set_context(session, tenant_id=None, user_id=user.id)
        memberships = await active_memberships(session, user.id)
        if memberships:
            tenant_id = memberships[0][0].tenant_id
    await set_context(session, tenant_id=tenant_id, user_id=user.id if user else None)
    await audit.record(
        session, tenant_id, "auth.login.failed", actor=audit.Actor(user.id if user else None, None),
        outcome="failure", details={"reason": reason, "via": via},
    )  # fmt: skip


async def finish_login(
    session: AsyncSession,
    user: User,
    membership: Membership,
    *,
    via: str,
    mfa_verified: bool,
    device_token: str | None,
    user_agent: str | None,
) -> LoginOutcome:
    """The common end of every sign-in: device check, session, audit."""
    await set_context(session, tenant_id=membership.tenant_id, user_id=user.id)
    device = await check_device(session, membership, device_token, user_agent)
    if device.status in ("pending", "revoked"):
        await audit.record(
            session, membership.tenant_id, "auth.login.device_" + device.status,
            actor=audit.Actor(user.id, membership.role), outcome="denied", target_type="device",
            target_id=device.device_id,
        )  # fmt: skip
        return LoginOutcome("device_pending", device_id=device.device_id, device_token=device.device_token)
    user.failed_logins = 0
    user.locked_until = None
    user.last_login_at = utcnow()
    tokens = await start_session(
        session, membership, via=via, mfa_verified=mfa_verified,
        mfa_enrolled=user.mfa_enabled_at is not None, device_id=device.device_id,
    )  # fmt: skip
    await audit.record(
        session, membership.tenant_id, "auth.login.succeeded", actor=audit.Actor(user.id, membership.role),
        target_type="session", target_id=tokens.session_id, details={"via": via, "mfa": mfa_verified},
    )  # fmt: skip
    return LoginOutcome("ok", tokens=tokens, device_token=device.device_token)


async def password_login(
    session: AsyncSession,
    limiter: RateLimiter,
    *,
    email: str,
    password: str,
    tenant_id: uuid.UUID | None,
    device_token: str | None,
    ip: str | None,
    user_agent: str | None,
) -> LoginOutcome:
    limits = get_settings().rate_limits
    account_key = keyed_hash("ratelimit", email.lower())
    await enforce(limiter, f"login:ip:{ip}", limits.login_per_ip)
    await enforce(limiter, f"login:acct:{account_key}", limits.login_per_account)

    user = (
        await session.execute(select(User).where(func.lower(User.email) == email.lower()))
    ).scalar_one_or_none()
    now = utcnow()
    if user is not None and user.locked_until and user.locked_until > now:
        raise RateLimited(int((user.locked_until - now).total_seconds()) + 1, "Too many failed attempts.")
    ok = await passwords.verify_password_async(user.password_hash if user else None, password)
    if user is None or not ok or not user.is_active:
        if user is not None and ok is False:
            user.failed_logins += 1
            over = user.failed_logins - limits.lockout_threshold
            if over >= 0:
                user.locked_until = now + timedelta(seconds=min(2**over, limits.lockout_max_seconds))
        await _audit_failure(session, user, "bad_credentials" if user else "unknown_account", "password")
        raise NotAuthenticated(BAD_CREDENTIALS, keep_changes=True)

    await set_context(session, tenant_id=None, user_id=user.id)
    membership = await _pick_membership(session, user, tenant_id)
    if membership is None:
        await _audit_failure(session, user, "no_active_membership", "password")
        raise NotAuthenticated("You have no active role in that organisation.", keep_changes=True)
    if passwords.needs_rehash(user.password_hash or ""):
        user.password_hash = await passwords.hash_password_async(password)
    if user.mfa_enabled_at is not None:
        challenge = issue_challenge(
            "mfa", user.id, {"mid": str(membership.id), "dev": device_token or ""}, minutes=5
        )
        return LoginOutcome("mfa_required", mfa_token=challenge)
    return await finish_login(
        session, user, membership, via="password", mfa_verified=False,
        device_token=device_token, user_agent=user_agent,
    )  # fmt: skip


async def mfa_login(
    session: AsyncSession, limiter: RateLimiter, *, mfa_token: str, code: str, user_agent: str | None
) -> LoginOutcome:
    data = verify_challenge("mfa", mfa_token)
    user_id = uuid.UUID(data["sub"])
    await enforce(limiter, f"mfa:{user_id}", get_settings().rate_limits.login_per_account)
    user = await session.get(User, user_id)
    if user is None or not user.is_active:
        raise NotAuthenticated("This step has expired. Sign in again.")
    await set_context(session, tenant_id=None, user_id=user.id)
    membership = await session.get(Membership, uuid.UUID(data["mid"]))
    if membership is None or membership.status != "active":
        raise NotAuthenticated("This step has expired. Sign in again.")
    if not await mfa.verify_second_factor(session, user, code):
        await _audit_failure(session, user, "bad_mfa_code", "password")
        raise NotAuthenticated("That code is not right.", keep_changes=True)
    return await finish_login(
        session, user, membership, via="password", mfa_verified=True,
        device_token=data.get("dev") or None, user_agent=user_agent,
    )  # fmt: skip


async def switch_membership(session: AsyncSession, principal: Principal, membership_id: uuid.UUID) -> TokenPair:
    """Move to another of the user's memberships: a new session there; this one ends."""
    membership = next(
        (m for m, _ in await active_memberships(session, principal.user_id) if m.id == membership_id), None
    )
    if membership is None:
        raise NotFound("You have no active role with that id.")
    if membership.role in ("platform_admin", "hospital_admin") or (
        membership.role != "patient" and (await tenant_policy(session, membership.tenant_id)).device_approval_required
    ):
        raise PermissionDenied("Sign in again to work there: that role needs its own sign-in.")
    current = await session.get(AuthSession, principal.session_id)
    user = await session.get(User, principal.user_id)
    assert current is not None and user is not None
    current.revoked_at = utcnow()
    current.revoked_reason = "switched"
    await set_context(session, tenant_id=membership.tenant_id, user_id=principal.user_id)
    tokens = await start_session(
        session, membership, via=current.via, mfa_verified=current.mfa_verified,
        mfa_enrolled=user.mfa_enabled_at is not None, device_id=None,
    )  # fmt: skip
    await audit.record(
        session, membership.tenant_id, "auth.tenant.switched", actor=audit.Actor(principal.user_id, membership.role),
        target_type="session", target_id=tokens.session_id,
    )  # fmt: skip
    return tokens
