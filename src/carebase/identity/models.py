"""Users, memberships, sessions and refresh tokens, devices, one-time codes, recovery codes."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, LargeBinary, SmallInteger, String, text
from sqlalchemy.orm import Mapped, mapped_column

from carebase.core.db import Base, IdMixin, TenantMixin, TimestampMixin

ROLES_SQL = (
    "'platform_admin', 'hospital_admin', 'doctor', 'nurse', 'pharmacist', 'lab_staff', "
    "'receptionist', 'patient'"
)


class User(IdMixin, TimestampMixin, Base):
    """One login identity across tenants. Platform-wide, so not tenant-owned."""

    __tablename__ = "users"
    __table_args__ = (
        Index("uq_users_email", text("lower(email)"), unique=True, postgresql_where=text("email IS NOT NULL")),
        Index("uq_users_phone", "phone", unique=True, postgresql_where=text("phone IS NOT NULL")),
        CheckConstraint("email IS NOT NULL OR phone IS NOT NULL", name="contact"),
    )

    email: Mapped[str | None] = mapped_column(String(254))
    phone: Mapped[str | None] = mapped_column(String(20))
    full_name: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[str | None] = mapped_column(String(200))
    password_changed_at: Mapped[datetime | None] = mapped_column()
    is_active: Mapped[bool] = mapped_column(server_default=text("true"))
    # TOTP secret, encrypted with the platform secret key (AES-GCM).
    mfa_secret_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    mfa_enabled_at: Mapped[datetime | None] = mapped_column()
    # Last TOTP time step accepted, so a code cannot be replayed within its window.
    mfa_last_step: Mapped[int | None] = mapped_column(BigInteger)
    failed_logins: Mapped[int] = mapped_column(SmallInteger, server_default="0")
    locked_until: Mapped[datetime | None] = mapped_column()
    last_login_at: Mapped[datetime | None] = mapped_column()
    language: Mapped[str] = mapped_column(String(8), server_default="en")


class RecoveryCode(IdMixin, Base):
    __tablename__ = "mfa_recovery_codes"

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64))
    used_at: Mapped[datetime | None] = mapped_column()


class Membership(IdMixin, TenantMixin, TimestampMixin, Base):
    """A user's role in one tenant. Visible to its tenant and to the user it belongs to."""

    __tablename__ = "memberships"
    __table_args__ = (
        CheckConstraint(f"role IN ({ROLES_SQL})", name="role"),
        CheckConstraint("status IN ('active', 'invited', 'deactivated')", name="status"),
        Index("uq_memberships_tenant_user", "tenant_id", "user_id", unique=True),
    )

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), index=True)
    role: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), server_default="active")
    department_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("departments.id"))
    title: Mapped[str | None] = mapped_column(String(120))


class AuthSession(IdMixin, Base):
    """One signed-in session (a refresh-token family). Identity-level, keyed by user."""

    __tablename__ = "auth_sessions"

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), index=True)
    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id"))
    membership_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("memberships.id"))
    device_id: Mapped[uuid.UUID | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(server_default=text("now()"))
    expires_at: Mapped[datetime] = mapped_column()
    last_used_at: Mapped[datetime] = mapped_column(server_default=text("now()"))
    revoked_at: Mapped[datetime | None] = mapped_column()
    revoked_reason: Mapped[str | None] = mapped_column(String(40))
    ip: Mapped[str | None] = mapped_column(String(45))
    user_agent: Mapped[str | None] = mapped_column(String(300))
    via: Mapped[str] = mapped_column(String(16))  # password | otp
    mfa_verified: Mapped[bool] = mapped_column(server_default=text("false"))


class RefreshToken(IdMixin, Base):
    __tablename__ = "refresh_tokens"

    session_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("auth_sessions.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    issued_at: Mapped[datetime] = mapped_column(server_default=text("now()"))
    used_at: Mapped[datetime | None] = mapped_column()


class Device(IdMixin, TenantMixin, TimestampMixin, Base):
    """A browser or app a staff member signs in from; may need an admin's approval."""

    __tablename__ = "devices"
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'approved', 'revoked')", name="status"),
        Index("uq_devices_tenant_user_fp", "tenant_id", "user_id", "fingerprint_hash", unique=True),
    )

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), index=True)
    fingerprint_hash: Mapped[str] = mapped_column(String(64))
    label: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16))
    decided_by: Mapped[uuid.UUID | None] = mapped_column()
    decided_at: Mapped[datetime | None] = mapped_column()
    last_seen_at: Mapped[datetime | None] = mapped_column()
    ip: Mapped[str | None] = mapped_column(String(45))


class OneTimeCode(IdMixin, Base):
    """A login code or a password-reset token. Only an HMAC of the code and destination is kept."""

    __tablename__ = "one_time_codes"
    __table_args__ = (
        CheckConstraint("purpose IN ('login', 'password_reset')", name="purpose"),
        Index("ix_one_time_codes_lookup", "purpose", "destination_hash", "created_at"),
    )

    purpose: Mapped[str] = mapped_column(String(20))
    destination_hash: Mapped[str] = mapped_column(String(64))
    # NULL for destinations with no account: the code is stored (and never sent) so that known and
    # unknown destinations get the same answers and timing.
    user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    code_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(server_default=text("now()"))
    expires_at: Mapped[datetime] = mapped_column()
    attempts: Mapped[int] = mapped_column(SmallInteger, server_default="0")
    consumed_at: Mapped[datetime | None] = mapped_column()
