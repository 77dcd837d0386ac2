"""Imports every context's models so that Base.metadata knows all tables (Alembic, tests)."""

from carebase.audit.models import AuditEvent, AuditHead
from carebase.core.idempotency_models import IdempotencyRecord
from carebase.core.outbox import OutboxEvent
from carebase.core.worker.models import OutboxDelivery
from carebase.directory.models import (
    Listing,
    Practitioner,
    PractitionerService,
    PractitionerSpecialty,
    Service,
    Specialty,
)
from carebase.identity.models import (
    AuthSession,
    Device,
    Membership,
    OneTimeCode,
    RecoveryCode,
    RefreshToken,
    User,
)
from carebase.jobs.models import Job
from carebase.notifications.models import (
    Notification,
    NotificationPreference,
    NotificationQuietHours,
    NotificationTemplate,
    PushSubscription,
)
from carebase.patients.models import Patient
from carebase.realtime.models import RealtimeEvent
from carebase.scheduling.models import (
    Appointment,
    Dependent,
    Holiday,
    ScheduleException,
    ScheduleTemplate,
    WaitlistEntry,
)
from carebase.tenancy.models import Department, Location, Organization

__all__ = [
    "Appointment",
    "Dependent",
    "Holiday",
    "Listing",
    "Practitioner",
    "PractitionerService",
    "PractitionerSpecialty",
    "ScheduleException",
    "ScheduleTemplate",
    "Service",
    "Specialty",
    "WaitlistEntry",
    "AuditEvent",
    "AuditHead",
    "AuthSession",
    "Department",
    "Device",
    "IdempotencyRecord",
    "Location",
    "Membership",
    "Notification",
    "NotificationPreference",
    "NotificationQuietHours",
    "NotificationTemplate",
    "PushSubscription",
    "OneTimeCode",
    "Organization",
    "OutboxDelivery",
    "OutboxEvent",
    "Job",
    "Patient",
    "RealtimeEvent",
    "RecoveryCode",
    "RefreshToken",
    "User",
]
