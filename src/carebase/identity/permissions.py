"""Identity permissions: staff, devices."""

from enum import StrEnum

from carebase.identity.roles import Role


class IdentityPermission(StrEnum):
    STAFF_READ = "identity.staff.read"
    STAFF_MANAGE = "identity.staff.manage"
    DEVICES_MANAGE = "identity.devices.manage"


DESCRIPTIONS = {
    IdentityPermission.STAFF_READ: "List the tenant's staff and their roles",
    IdentityPermission.STAFF_MANAGE: "Invite staff, change their role, deactivate them",
    IdentityPermission.DEVICES_MANAGE: "Approve and revoke the devices staff sign in from",
}

GRANTS = {
    Role.PLATFORM_ADMIN: set(IdentityPermission),
    Role.HOSPITAL_ADMIN: set(IdentityPermission),
}
