"""Jinja2 environment (autoescape on), the page context every template gets, navigation by
permission, flash messages, and the error page."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import Request
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from starlette.responses import HTMLResponse

from carebase.audit.permissions import AuditPermission
from carebase.identity.devices import device_label
from carebase.identity.permissions import IdentityPermission
from carebase.identity.principal import Principal
from carebase.identity.roles import ROLE_LABELS, Role
from carebase.jobs.permissions import JobsPermission
from carebase.patients.permissions import PatientPermission
from carebase.scheduling.permissions import SchedulingPermission
from carebase.tenancy.permissions import TenancyPermission
from carebase.web.auth import clear_cookie, cookie_name, csrf_token, set_short_cookie

TEMPLATES = Path(__file__).parent / "templates"

env = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(["html", "xml", "svg"], default=True),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


@dataclass(frozen=True, slots=True)
class NavItem:
    label: str
    href: str
    permission: str | None = None
    icon: str = ""
    roles: tuple[str, ...] | None = None  # only these roles (when a permission is too broad)


NAV = [
    NavItem("Home", "/", None, "home"),
    NavItem("Tenants", "/platform/tenants", TenancyPermission.TENANTS_MANAGE, "building"),
    NavItem("Find a doctor", "/find", SchedulingPermission.APPOINTMENTS_BOOK, "search", ("patient",)),
    NavItem("My appointments", "/my/appointments", SchedulingPermission.APPOINTMENTS_BOOK, "calendar", ("patient",)),
    NavItem("Family", "/my/family", SchedulingPermission.DEPENDENTS_OWN, "people", ("patient",)),
    NavItem("Waitlist", "/my/waitlist", SchedulingPermission.APPOINTMENTS_BOOK, "clock", ("patient",)),
    NavItem("Front desk", "/desk", SchedulingPermission.APPOINTMENTS_MANAGE, "board",
            ("receptionist", "nurse", "hospital_admin")),
    NavItem("My schedule", "/schedule", SchedulingPermission.TEMPLATES_MANAGE, "calendar", ("doctor",)),
    NavItem("Patients", "/patients", PatientPermission.READ, "people"),
    NavItem("Staff", "/admin/staff", IdentityPermission.STAFF_READ, "badge"),
    NavItem("Devices", "/admin/devices", IdentityPermission.DEVICES_MANAGE, "device"),
    NavItem("Locations", "/admin/locations", TenancyPermission.LOCATIONS_MANAGE, "pin"),
    NavItem("Audit log", "/admin/audit", AuditPermission.READ, "list"),
    NavItem("Dead letters", "/admin/dead-letters", JobsPermission.DEAD_LETTERS, "alert"),
    NavItem("Settings", "/admin/settings", TenancyPermission.ORGANIZATION_MANAGE, "settings"),
    NavItem("Account", "/account", None, "user"),
]


def nav_for(principal: Principal | None) -> list[NavItem]:
    if principal is None or principal.mfa_pending:
        return []
    return [
        n for n in NAV
        if (n.permission is None or principal.can(n.permission)) and (n.roles is None or principal.role in n.roles)
    ]  # fmt: skip


# Flash messages are keys, never free text from the client: a forged cookie can only pick one of these.
FLASHES = {
    "password_changed": ("success", "Your password is changed. Your other sessions were signed out."),
    "password_reset": ("success", "Your new password is set. Sign in with it now."),
    "mfa_enabled": ("success", "Two-step sign-in is on."),
    "mfa_disabled": ("success", "Two-step sign-in is off."),
    "session_revoked": ("success", "That session is signed out."),
    "signed_out": ("success", "You are signed out."),
    "patient_registered": ("success", "The patient is registered."),
    "staff_invited": ("success", "Invitation sent. They choose a password from the email link."),
    "staff_updated": ("success", "The staff member is updated."),
    "location_saved": ("success", "The location is saved."),
    "department_saved": ("success", "The department is saved."),
    "settings_saved": ("success", "The settings are saved."),
    "tenant_created": ("success", "The organisation is created and its admin invited."),
    "tenant_updated": ("success", "The organisation is updated."),
    "reset_sent": ("info", "If this email is registered, a link to choose a new password is on its way."),
    "switched": ("success", "You switched organisation."),
    "booked": ("success", "The appointment is booked."),
    "requested": ("success", "Your request is sent. The doctor confirms it soon."),
    "cancelled": ("success", "The appointment is cancelled."),
    "rescheduled": ("success", "The appointment is moved to the new time."),
    "waitlist_joined": ("success", "You are on the waitlist. We offer you a time as soon as one frees up."),
    "waitlist_left": ("success", "You left the waitlist."),
    "template_saved": ("success", "The session is saved."),
    "template_ended": ("success", "The session is ended. Booked visits stay."),
    "time_off_added": ("success", "Your time off is saved. No new bookings can land in it."),
    "time_off_removed": ("success", "The time off is removed."),
    "approved": ("success", "The booking is confirmed."),
    "declined": ("success", "The booking is declined; the patient is told."),
    "notifications_read": ("success", "All your notifications are marked as read."),
    "preferences_saved": ("success", "Your notification choices are saved."),
    "quiet_hours_saved": ("success", "Your quiet hours are saved."),
}


def flash(request: Request, key: str) -> None:
    if key in FLASHES:
        set_short_cookie(request, "cb_flash", key, 60)


def _take_flash(request: Request) -> tuple[str, str] | None:
    key = request.cookies.get(cookie_name("cb_flash"))
    if not key:
        return None
    clear_cookie(request, "cb_flash")
    return FLASHES.get(key)


def _fmt_dt(value: datetime | None, tz: str | None = None, fmt: str = "%d %b %Y, %H:%M") -> str:
    if value is None:
        return "—"
    if tz:
        value = value.astimezone(ZoneInfo(tz))
    return value.strftime(fmt)


def _fmt_date(value: date | None) -> str:
    return value.strftime("%d %b %Y") if value else "—"


def _money(minor: int | None, currency: str) -> str:
    from carebase.web.slots import money

    return money(minor, currency)


def _role_label(value: str) -> str:
    try:
        return ROLE_LABELS[Role(value)]
    except ValueError:
        return value


env.filters["dt"] = _fmt_dt
env.filters["d"] = _fmt_date
env.filters["role_label"] = _role_label
env.filters["money"] = _money
env.filters["device_label"] = device_label
env.globals["ROLES"] = ROLE_LABELS


def render(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    status: int = 200,
    *,
    principal: Principal | None = None,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    principal = principal or getattr(request.state, "principal", None)
    data: dict[str, Any] = {
        "request": request,
        "principal": principal,
        "nav": nav_for(principal),
        "current_path": request.url.path,
        "csrf": csrf_token(request),
        "flash": _take_flash(request),
        "org_name": getattr(request.state, "org_name", None),
        "memberships": getattr(request.state, "memberships", []),
        "unread": getattr(request.state, "unread", None),
        "errors": {},
        "values": {},
        "form_error": None,
    }
    data.update(context or {})
    html = env.get_template(template).render(**data)
    return HTMLResponse(html, status_code=status, headers=headers)


def partial(request: Request, template: str, context: dict[str, Any], status: int = 200) -> HTMLResponse:
    """An htmx fragment: no shell, but the same escaping and CSRF token."""
    return render(request, template, context, status=status)


def error_page(request: Request, status: int, title: str, detail: str) -> HTMLResponse:
    return render(request, "error.html", {"status": status, "title": title, "detail": detail}, status=status)
