"""Roles a membership can hold."""

from enum import StrEnum


class Role(StrEnum):
    PLATFORM_ADMIN = "platform_admin"
    HOSPITAL_ADMIN = "hospital_admin"
    DOCTOR = "doctor"
    NURSE = "nurse"
    PHARMACIST = "pharmacist"
    LAB_STAFF = "lab_staff"
    RECEPTIONIST = "receptionist"
    PATIENT = "patient"

    @property
    def label(self) -> str:
        return ROLE_LABELS[self]

    @property
    def is_staff(self) -> bool:
        return self is not Role.PATIENT

    @property
    def requires_mfa(self) -> bool:
        return self in (Role.PLATFORM_ADMIN, Role.HOSPITAL_ADMIN)


ROLE_LABELS = {
    Role.PLATFORM_ADMIN: "Platform admin",
    Role.HOSPITAL_ADMIN: "Hospital admin",
    Role.DOCTOR: "Doctor",
    Role.NURSE: "Nurse",
    Role.PHARMACIST: "Pharmacist",
    Role.LAB_STAFF: "Lab staff",
    Role.RECEPTIONIST: "Receptionist",
    Role.PATIENT: "Patient",
}

# Roles a hospital admin may give inside a hospital or clinic (not the platform's).
TENANT_STAFF_ROLES = [r for r in Role if r not in (Role.PLATFORM_ADMIN, Role.PATIENT)]
