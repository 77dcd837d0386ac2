"""Jobs permissions: exports and the dead-letter admin."""

from enum import StrEnum

from carebase.identity.roles import Role


class JobsPermission(StrEnum):
    EXPORT_OWN = "jobs.export.own_appointments"
    EXPORT_APPOINTMENTS = "jobs.export.appointments"
    DEAD_LETTERS = "jobs.dead_letters.manage"


DESCRIPTIONS = {
    JobsPermission.EXPORT_OWN: "Export one's own appointment history (and one's dependents') as CSV",
    JobsPermission.EXPORT_APPOINTMENTS: "Export the organisation's appointment list as CSV",
    JobsPermission.DEAD_LETTERS: "See, retry and discard events the worker gave up on (dead letters)",
}

GRANTS = {
    Role.PLATFORM_ADMIN: {JobsPermission.DEAD_LETTERS},
    Role.HOSPITAL_ADMIN: {JobsPermission.DEAD_LETTERS, JobsPermission.EXPORT_APPOINTMENTS},
    Role.RECEPTIONIST: {JobsPermission.EXPORT_APPOINTMENTS},
    Role.PATIENT: {JobsPermission.EXPORT_OWN},
}
