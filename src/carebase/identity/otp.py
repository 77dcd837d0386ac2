"""One-time codes: patient sign-in by phone or email, and password links (forgot, reset, change).

Known and unknown destinations get the same answers and the same work: a code row is stored
for both (with no user for an unknown one) and messages are sent after the response."""

from __future__ import annotations

import uuid
from datetime import timedelta

import phonenumbers
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from carebase.audit import service as audit
from carebase.core.clock import utcnow
from carebase.core.crypto import constant_time_equal, keyed_hash, numeric_code, random_token
from carebase.core.db import set_context
from carebase.core.errors import NotAuthenticated, ValidationFailed
from carebase.core.ratelimit import RateLimiter, enforce
from carebase.identity import messages, passwords
from carebase.identity.login import LoginOutcome, _pick_membership, active_memberships, finish_login
from carebase.identity.models import Membership, OneTimeCode, User
from carebase.identity.principal import Principal
from carebase.identity.sessions import revoke_all_for_user
from carebase.notifications import outbound
from carebase.settings import get_settings
from carebase.tenancy.models import PLATFORM_TENANT_ID

CODE_INVALID = "The code is not right or has expired. Ask for a new one."


def normalise_destination(raw: str, default_region: str = "IN") -> tuple[str, str]:
    """Return ("email" | "phone", normalised value) or raise a field error."""
    value = raw.strip()
    if "@" in value:
        local, _, domain = value.rpartition("@")
        if not local or "." not in domain or " " in value:
            raise ValidationFailed.field("destination", "Enter a valid email address or phone number.")
        return "email", value.lower()
    try:
        number = phonenumbers.parse(value, default_region)
    except phonenumbers.NumberParseException as exc:
        raise ValidationFailed.field("destination", "Enter a valid email address or phone number.") from exc
    if not phonenumbers.is_valid_number(number):
        raise ValidationFailed.field("destination", "That phone number is not valid.")
    return "phone", phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


async def _find_user(session: AsyncSession, kind: str, value: str) -> User | None:
    column = func.lower(User.email) if kind == "email" else User.phone
    return (await session.execute(select(User).where(column == value))).scalar_one_or_none()


async def _has_patient_membership(session: AsyncSession, user: User) -> bool:
    await set_context(session, tenant_id=None, user_id=user.id)
    return any(m.role == "patient" for m, _ in await active_memberships(session, user.id))


async def limit_code_requests(limiter: RateLimiter, value: str, ip: str | None) -> str:
    """The rate limits on asking for a code (per IP and per destination); returns the destination's hash."""
    limits = get_settings().rate_limits
    dest_hash = keyed_hash("destination", value)
    await enforce(limiter, f"otp:ip:{ip}", limits.otp_per_ip)
    await enforce(limiter, f"otp:dest:{dest_hash}", limits.otp_per_account)
    return dest_hash


async def issue_code(session: AsyncSession, dest_hash: str, user_id: uuid.UUID | None) -> tuple[str, int]:
    """A new 6-digit code for a destination (older ones stop working); returns it and its minutes.
    Without ``user_id`` it proves the destination only and never signs anyone in by itself."""
    code = numeric_code(6)
    minutes = get_settings().auth.otp_minutes
    await session.execute(
        update(OneTimeCode)
        .where(OneTimeCode.purpose == "login", OneTimeCode.destination_hash == dest_hash,
               OneTimeCode.consumed_at.is_(None))
        .values(consumed_at=utcnow())
    )  # fmt: skip
    session.add(
        OneTimeCode(
            purpose="login", destination_hash=dest_hash, user_id=user_id,
            code_hash=keyed_hash("otp", f"{dest_hash}:{code}"), expires_at=utcnow() + timedelta(minutes=minutes),
        )
    )  # fmt: skip
    await session.flush()
    return code, minutes


async def check_code(session: AsyncSession, dest_hash: str, code: str) -> tuple[OneTimeCode, bool]:
    """The newest live code of a destination with this try counted, and whether ``code`` matches it.
    No live code, or too many tries (the code is then voided), is refused here; the caller consumes
    a matching code (``consumed_at``) and refuses a wrong one (``keep_changes``: the try counts)."""
    now = utcnow()
    row = await session.scalar(
        select(OneTimeCode)
        .where(OneTimeCode.purpose == "login", OneTimeCode.destination_hash == dest_hash,
               OneTimeCode.consumed_at.is_(None), OneTimeCode.expires_at > now)
        .order_by(OneTimeCode.created_at.desc())
        .limit(1)
        .with_for_update()
    )  # fmt: skip
    if row is None:
        raise NotAuthenticated(CODE_INVALID)
    row.attempts += 1
    if row.attempts > get_settings().auth.otp_max_attempts:
        row.consumed_at = now
        raise NotAuthenticated("Too many tries. Ask for a new code.", keep_changes=True)
    return row, constant_time_equal(row.code_hash, keyed_hash("otp", f"{dest_hash}:{code}"))


async def request_login_code(session: AsyncSession, limiter: RateLimiter, *, destination: str, ip: str | None) -> None:
    kind, value = normalise_destination(destination)
    dest_hash = await limit_code_requests(limiter, value, ip)
    user = await _find_user(session, kind, value)
    if user is not None and not (user.is_active and await _has_patient_membership(session, user)):
        user = None
    code, minutes = await issue_code(session, dest_hash, user.id if user else None)
    if user is not None:
        outbound.queue(session, messages.login_code(value, code, minutes, language=user.language, user_id=user.id))


async def verify_login_code(
    session: AsyncSession,
    limiter: RateLimiter,
    *,
    destination: str,
    code: str,
    tenant_id: uuid.UUID | None,
    ip: str | None,
    user_agent: str | None,
) -> LoginOutcome:
    _, value = normalise_destination(destination)
    dest_hash = keyed_hash("destination", value)
    await enforce(limiter, f"otp-verify:ip:{ip}", get_settings().rate_limits.otp_per_ip)
    row, matches = await check_code(session, dest_hash, code)
    if not matches or row.user_id is None:
        user = await session.get(User, row.user_id) if row.user_id else None
        if user is not None:
            is_patient = await _has_patient_membership(session, user)
            memberships = await active_memberships(session, user.id) if is_patient else []
            tenant = memberships[0][0].tenant_id if memberships else PLATFORM_TENANT_ID
            await set_context(session, tenant_id=tenant, user_id=user.id)
            await audit.record(
                session, tenant, "auth.login.failed", actor=audit.Actor(user.id, None), outcome="failure",
                details={"reason": "bad_code", "via": "otp"},
            )  # fmt: skip
        raise NotAuthenticated(CODE_INVALID, keep_changes=True)
    row.consumed_at = utcnow()
    user = await session.get(User, row.user_id)
    assert user is not None
    await set_context(session, tenant_id=None, user_id=user.id)
    membership = await _pick_membership(session, user, tenant_id, patients_only=True)
    if membership is None:
        raise NotAuthenticated("You are not registered as a patient there.", keep_changes=True)
    return await finish_login(
        session, user, membership, via="otp", mfa_verified=False, device_token=None, user_agent=user_agent
    )


# --- passwords ------------------------------------------------------------------------------------


async def forgot_password(session: AsyncSession, limiter: RateLimiter, *, email: str, ip: str | None) -> None:
    limits = get_settings().rate_limits
    await enforce(limiter, f"forgot:ip:{ip}", limits.otp_per_ip)
    await enforce(limiter, f"forgot:acct:{keyed_hash('ratelimit', email.lower())}", limits.otp_per_account)
    user = await _find_user(session, "email", email.lower())
    token = random_token(32)
    minutes = get_settings().auth.reset_link_minutes
    if user is None or not user.is_active:
        return
    session.add(
        OneTimeCode(
            purpose="password_reset", destination_hash=keyed_hash("reset", token), user_id=user.id,
            code_hash=keyed_hash("reset", token), expires_at=utcnow() + timedelta(minutes=minutes),
        )
    )  # fmt: skip
    await session.flush()
    outbound.queue(session, messages.password_link(user.email or email, token, minutes))


async def reset_password(session: AsyncSession, *, token: str, new_password: str) -> None:
    digest = keyed_hash("reset", token)
    row = (
        await session.execute(
            select(OneTimeCode)
            .where(OneTimeCode.purpose == "password_reset", OneTimeCode.destination_hash == digest,
                   OneTimeCode.consumed_at.is_(None), OneTimeCode.expires_at > utcnow())
            .with_for_update()
        )
    ).scalar_one_or_none()  # fmt: skip
    if row is None or row.user_id is None:
        raise ValidationFailed.field("token", "This link has expired or was already used. Ask for a new one.")
    user = await session.get(User, row.user_id)
    assert user is not None
    passwords.check_new_password(new_password, field="new_password", email=user.email)
    user.password_hash = await passwords.hash_password_async(new_password)
    user.password_changed_at = utcnow()
    user.failed_logins = 0
    user.locked_until = None
    row.consumed_at = utcnow()
    await revoke_all_for_user(session, user.id, "password_reset")
    await activate_invited_memberships(session, user)
    memberships = await active_memberships(session, user.id)
    tenant = memberships[0][0].tenant_id if memberships else PLATFORM_TENANT_ID
    await set_context(session, tenant_id=tenant, user_id=user.id)
    await audit.record(
        session, tenant, "auth.password.reset", actor=audit.Actor(user.id, None), target_type="user", target_id=user.id
    )


async def activate_invited_memberships(session: AsyncSession, user: User) -> None:
    """An invitee who chose a password joins every tenant that invited them. RLS lets the app
    role change a membership only inside its tenant's context, so each tenant is entered in turn."""
    await set_context(session, tenant_id=None, user_id=user.id)
    invited = (
        await session.execute(
            select(Membership.id, Membership.tenant_id, Membership.role).where(
                Membership.user_id == user.id, Membership.status == "invited"
            )
        )
    ).all()
    for membership_id, tenant_id, role in invited:
        await set_context(session, tenant_id=tenant_id, user_id=user.id)
        await session.execute(update(Membership).where(Membership.id == membership_id).values(status="active"))
        await audit.record(
            session, tenant_id, "identity.staff.joined", actor=audit.Actor(user.id, role),
            target_type="membership", target_id=membership_id,
        )  # fmt: skip
    await set_context(session, tenant_id=None, user_id=user.id)


async def change_password(
    session: AsyncSession, principal: Principal, *, current_password: str | None, new_password: str
) -> None:
    user = await session.get(User, principal.user_id)
    assert user is not None
    if user.password_hash:
        ok = await passwords.verify_password_async(user.password_hash, current_password or "")
        if not ok:
            raise ValidationFailed.field("current_password", "Your current password is not right.")
    passwords.check_new_password(new_password, field="new_password", email=user.email)
    user.password_hash = await passwords.hash_password_async(new_password)
    user.password_changed_at = utcnow()
    await revoke_all_for_user(session, user.id, "password_changed", keep=principal.session_id)
    await audit.record(
        session, principal.tenant_id, "auth.password.changed", actor=audit.Actor(user.id, principal.role),
        target_type="user", target_id=user.id,
    )  # fmt: skip
