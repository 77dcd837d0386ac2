"""Tenancy permissions: tenants, the organisation's settings, locations, departments."""

from enum import StrEnum

from carebase.identity.roles import Role


class TenancyPermission(StrEnum):
    TENANTS_MANAGE = "tenancy.tenants.manage"
    ORGANIZATION_MANAGE = "tenancy.organization.manage"
    LOCATIONS_READ = "tenancy.locations.read"
    LOCATIONS_MANAGE = "tenancy.locations.manage"
    DEPARTMENTS_READ = "tenancy.departments.read"
    DEPARTMENTS_MANAGE = "tenancy.departments.manage"


DESCRIPTIONS = {
    TenancyPermission.TENANTS_MANAGE: "Create, list and suspend tenants (platform)",
    TenancyPermission.ORGANIZATION_MANAGE: "Change the organisation's settings and policies",
    TenancyPermission.LOCATIONS_READ: "See the organisation's locations",
    TenancyPermission.LOCATIONS_MANAGE: "Add and change locations",
    TenancyPermission.DEPARTMENTS_READ: "See the organisation's departments",
    TenancyPermission.DEPARTMENTS_MANAGE: "Add and change departments",
}

_STAFF_READ = {TenancyPermission.LOCATIONS_READ, TenancyPermission.DEPARTMENTS_READ}

GRANTS = {
    Role.PLATFORM_ADMIN: {TenancyPermission.TENANTS_MANAGE},
    Role.HOSPITAL_ADMIN: set(TenancyPermission) - {TenancyPermission.TENANTS_MANAGE},
    Role.DOCTOR: _STAFF_READ,
    Role.NURSE: _STAFF_READ,
    Role.PHARMACIST: _STAFF_READ,
    Role.LAB_STAFF: _STAFF_READ,
    Role.RECEPTIONIST: _STAFF_READ,
    Role.PATIENT: {TenancyPermission.LOCATIONS_READ},
}
