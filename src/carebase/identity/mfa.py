"""TOTP multi-factor authentication: enrolment with a QR code, verification, recovery codes."""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass

import pyotp
import segno
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from carebase.audit import service as audit
from carebase.core.clock import utcnow
from carebase.core.crypto import decrypt, encrypt, keyed_hash
from carebase.core.errors import Conflict, PermissionDenied, ValidationFailed
from carebase.identity.models import AuthSession, RecoveryCode, User
from carebase.identity.principal import Principal

ISSUER = "Carebase"
RECOVERY_CODES = 10
_PURPOSE = "mfa-secret"


@dataclass(frozen=True, slots=True)
class Enrolment:
    secret: str
    otpauth_uri: str
    qr_svg: str


def _secret(user: User) -> str | None:
    return decrypt(_PURPOSE, user.mfa_secret_enc).decode() if user.mfa_secret_enc else None


def verify_totp(user: User, code: str) -> bool:
    """Accept the current code (±1 step for clock drift), never the same step twice."""
    secret = _secret(user)
    code = code.strip().replace(" ", "")
    if not secret or not code.isdigit() or len(code) != 6:
        return False
    totp = pyotp.TOTP(secret)
    now_step = int(utcnow().timestamp()) // totp.interval
    for step in (now_step - 1, now_step, now_step + 1):
        if user.mfa_last_step is not None and step <= user.mfa_last_step:
            continue
        if pyotp.utils.strings_equal(totp.generate_otp(step), code):
            user.mfa_last_step = step
            return True
    return False


async def use_recovery_code(session: AsyncSession, user: User, code: str) -> bool:
    digest = keyed_hash("recovery", code.strip().lower().replace("-", ""))
    used = await session.execute(
        update(RecoveryCode)
        .where(RecoveryCode.user_id == user.id, RecoveryCode.code_hash == digest, RecoveryCode.used_at.is_(None))
        .values(used_at=utcnow())
        .returning(RecoveryCode.id)
    )
    return used.first() is not None


async def verify_second_factor(session: AsyncSession, user: User, code: str) -> bool:
    if verify_totp(user, code):
        return True
    return len(code.strip()) > 6 and await use_recovery_code(session, user, code)


async def begin_enrolment(session: AsyncSession, principal: Principal) -> Enrolment:
    user = await session.get(User, principal.user_id)
    assert user is not None
    if user.mfa_enabled_at is not None:
        raise Conflict("Two-step sign-in is already on. Turn it off first to enrol a new device.")
    secret = pyotp.random_base32()
    user.mfa_secret_enc = encrypt(_PURPOSE, secret.encode())
    user.mfa_last_step = None
    label = user.email or user.phone or str(user.id)
    uri = pyotp.TOTP(secret).provisioning_uri(name=label, issuer_name=ISSUER)
    svg = segno.make(uri, error="m").svg_inline(scale=4, dark="#10253f", light="#ffffff")
    await audit.record(
        session, principal.tenant_id, "auth.mfa.enrolment_started",
        actor=audit.Actor(principal.user_id, principal.role), target_type="user", target_id=user.id,
    )  # fmt: skip
    return Enrolment(secret=secret, otpauth_uri=uri, qr_svg=svg)


async def confirm_enrolment(session: AsyncSession, principal: Principal, code: str) -> list[str]:
    """Turn MFA on once the user proves the authenticator works; returns one-time recovery codes."""
    user = await session.get(User, principal.user_id)
    assert user is not None
    if user.mfa_enabled_at is not None:
        raise Conflict("Two-step sign-in is already on.")
    if not user.mfa_secret_enc:
        raise Conflict("Start enrolment first.")
    if not verify_totp(user, code):
        raise ValidationFailed.field("code", "That code is not right. Check the time on your phone and try again.")
    user.mfa_enabled_at = utcnow()
    codes = await _new_recovery_codes(session, user.id)
    # This session has now passed MFA.
    await session.execute(
        update(AuthSession).where(AuthSession.id == principal.session_id).values(mfa_verified=True)
    )
    await audit.record(
        session, principal.tenant_id, "auth.mfa.enabled",
        actor=audit.Actor(principal.user_id, principal.role), target_type="user", target_id=user.id,
    )  # fmt: skip
    return codes


async def _new_recovery_codes(session: AsyncSession, user_id: uuid.UUID) -> list[str]:
    await session.execute(
        update(RecoveryCode)
        .where(RecoveryCode.user_id == user_id, RecoveryCode.used_at.is_(None))
        .values(used_at=utcnow())
    )
    codes = []
    for _ in range(RECOVERY_CODES):
        raw = secrets.token_hex(5)
        codes.append(f"{raw[:5]}-{raw[5:]}")
        session.add(RecoveryCode(user_id=user_id, code_hash=keyed_hash("recovery", raw)))
    await session.flush()
    return codes


async def disable(session: AsyncSession, principal: Principal, code: str) -> None:
    if principal.role.requires_mfa:
        raise PermissionDenied("Your role must keep two-step sign-in on.")
    user = await session.get(User, principal.user_id)
    assert user is not None
    if user.mfa_enabled_at is None:
        raise Conflict("Two-step sign-in is not on.")
    if not await verify_second_factor(session, user, code):
        raise ValidationFailed.field("code", "That code is not right.")
    user.mfa_enabled_at = None
    user.mfa_secret_enc = None
    await audit.record(
        session, principal.tenant_id, "auth.mfa.disabled",
        actor=audit.Actor(principal.user_id, principal.role), target_type="user", target_id=user.id,
    )  # fmt: skip


async def recovery_codes_left(session: AsyncSession, user_id: uuid.UUID) -> int:
    rows = await session.execute(
        select(RecoveryCode.id).where(RecoveryCode.user_id == user_id, RecoveryCode.used_at.is_(None))
    )
    return len(rows.all())
