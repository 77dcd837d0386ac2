"""Web UI routes (server-rendered, htmx): one module per area, all on ``WebRoute``."""

from fastapi import APIRouter

from carebase.web import (
    account,
    admin_devices,
    admin_org,
    admin_settings,
    admin_staff,
    audit_viewer,
    book,
    dead_letters,
    desk,
    exports,
    family,
    find,
    home,
    login,
    notifications,
    patient_login,
    patients,
    platform,
    schedule,
)

router = APIRouter(include_in_schema=False)
for module in (login, patient_login, home, account, patients, admin_staff, admin_devices, admin_org, admin_settings,
               audit_viewer, platform, notifications, dead_letters, exports, desk, find, book, family,
               schedule):  # fmt: skip
    router.include_router(module.router, include_in_schema=False)
