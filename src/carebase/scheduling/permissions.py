"""Scheduling permissions: schedule templates, holidays, appointments, approvals, waitlist, dependents."""

from enum import StrEnum

from carebase.identity.roles import Role


class SchedulingPermission(StrEnum):
    TEMPLATES_MANAGE = "scheduling.templates.manage"
    TEMPLATES_READ = "scheduling.templates.read"
    HOLIDAYS_MANAGE = "scheduling.holidays.manage"
    APPOINTMENTS_READ = "scheduling.appointments.read"
    APPOINTMENTS_BOOK = "scheduling.appointments.book"
    APPOINTMENTS_MANAGE = "scheduling.appointments.manage"
    BOOKINGS_APPROVE = "scheduling.bookings.approve"
    WAITLIST_MANAGE = "scheduling.waitlist.manage"
    DEPENDENTS_OWN = "scheduling.dependents.own"


DESCRIPTIONS = {
    SchedulingPermission.TEMPLATES_MANAGE: "Edit weekly schedule templates and exceptions (doctors: only their own)",
    SchedulingPermission.TEMPLATES_READ: "See schedule templates, exceptions and holidays",
    SchedulingPermission.HOLIDAYS_MANAGE: "Add and remove the organisation's holidays",
    SchedulingPermission.APPOINTMENTS_READ: "See the organisation's appointments and calendars",
    SchedulingPermission.APPOINTMENTS_BOOK: "Book appointments (patients: for themselves and their dependents)",
    SchedulingPermission.APPOINTMENTS_MANAGE: "Check patients in, mark no-shows and change appointment status",
    SchedulingPermission.BOOKINGS_APPROVE: "Approve or decline booking requests",
    SchedulingPermission.WAITLIST_MANAGE: "Manage the waitlist",
    SchedulingPermission.DEPENDENTS_OWN: "Link family members to one's account and book for them (patients)",
}

_STAFF_READ = {SchedulingPermission.TEMPLATES_READ}
_DESK = {
    SchedulingPermission.TEMPLATES_READ,
    SchedulingPermission.APPOINTMENTS_READ,
    SchedulingPermission.APPOINTMENTS_BOOK,
    SchedulingPermission.APPOINTMENTS_MANAGE,
}

GRANTS = {
    Role.HOSPITAL_ADMIN: _DESK
    | {
        SchedulingPermission.TEMPLATES_MANAGE,
        SchedulingPermission.HOLIDAYS_MANAGE,
        SchedulingPermission.WAITLIST_MANAGE,
    },
    Role.DOCTOR: _DESK | {SchedulingPermission.TEMPLATES_MANAGE, SchedulingPermission.BOOKINGS_APPROVE},
    Role.NURSE: _DESK,
    Role.RECEPTIONIST: _DESK | {SchedulingPermission.WAITLIST_MANAGE},
    Role.PHARMACIST: _STAFF_READ,
    Role.LAB_STAFF: _STAFF_READ,
    Role.PATIENT: {SchedulingPermission.APPOINTMENTS_BOOK, SchedulingPermission.DEPENDENTS_OWN},
}
