"""Audit permissions."""

from enum import StrEnum

from carebase.identity.roles import Role


class AuditPermission(StrEnum):
    READ = "audit.events.read"


DESCRIPTIONS = {AuditPermission.READ: "Browse the tenant's audit log"}

GRANTS = {
    Role.PLATFORM_ADMIN: {AuditPermission.READ},
    Role.HOSPITAL_ADMIN: {AuditPermission.READ},
}
