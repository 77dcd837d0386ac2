"""Directory permissions: practitioner profiles and the service catalogue of a tenant.

The public directory (search, specialties, published profiles) needs no permission at all."""

from enum import StrEnum

from carebase.identity.roles import Role


class DirectoryPermission(StrEnum):
    READ = "directory.read"
    PROFILES_MANAGE = "directory.profiles.manage"
    PROFILE_OWN = "directory.profile.own"
    SERVICES_MANAGE = "directory.services.manage"


DESCRIPTIONS = {
    DirectoryPermission.READ: "See the organisation's practitioner profiles and services",
    DirectoryPermission.PROFILES_MANAGE: "Create and change any practitioner's profile, publish or hide it",
    DirectoryPermission.PROFILE_OWN: "Create and change one's own practitioner profile (doctors)",
    DirectoryPermission.SERVICES_MANAGE: "Add and change services (consultation types, prices)",
}

GRANTS = {
    Role.HOSPITAL_ADMIN: set(DirectoryPermission) - {DirectoryPermission.PROFILE_OWN},
    Role.DOCTOR: {DirectoryPermission.READ, DirectoryPermission.PROFILE_OWN},
    Role.NURSE: {DirectoryPermission.READ},
    Role.RECEPTIONIST: {DirectoryPermission.READ},
}
