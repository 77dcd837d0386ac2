"""Imports every context's models so that Base.metadata knows all tables (Alembic, tests)."""

from carebase.audit.models import AuditEvent, AuditHead
from carebase.core.idempotency_models import IdempotencyRecord
from carebase.core.outbox import OutboxEvent
from carebase.identity.models import (
    AuthSession,
    Device,
    Membership,
    OneTimeCode,
    RecoveryCode,
    RefreshToken,
    User,
)
from carebase.patients.models import Patient
from carebase.tenancy.models import Department, Location, Organization

__all__ = [
    "AuditEvent", "AuditHead", "AuthSession", "Department", "Device", "IdempotencyRecord", "Location",
    "Membership", "OneTimeCode", "Organization", "OutboxEvent", "Patient", "RecoveryCode",
    "RefreshToken", "User",
]
