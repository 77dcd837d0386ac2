"""Message templates per event and channel (Jinja2, ``StrictUndefined``), English and Hindi, with per-tenant
overrides from ``notification_templates`` (rendered in a sandbox).

Files: ``templates/<lang>/<event>.subject.txt`` (email subject, push title), ``<event>.<channel>.txt`` or the
shared ``<event>.txt`` (text of every channel), ``<event>.email.html`` (HTML email, extends ``_layout.html``).
A missing variable raises at render time; ``tests/notifications/test_templates.py`` renders every template with
``SAMPLE_CONTEXT`` so that it fails in the tests, not at send time."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, TemplateNotFound, select_autoescape
from jinja2.sandbox import SandboxedEnvironment
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from carebase.core.errors import ValidationFailed
from carebase.notifications.models import NotificationTemplate

ROOT = Path(__file__).parent / "templates"
LANGUAGES = ("en", "hi")
EVENTS = (
    "appointment_confirmed", "appointment_cancelled", "appointment_rescheduled", "waitlist_offer",
    "appointment_reminder", "login_code", "device_approval", "delivery_escalation", "export_ready",
    "daily_agenda", "monthly_report",
)  # fmt: skip
TEXT_CHANNELS = ("email", "sms", "whatsapp", "push", "in_app")

_APPOINTMENT = {
    "tenant_name": "City Clinic", "patient_name": "Asha Rao", "practitioner_name": "Dr Mehta",
    "service_name": "Consultation", "location_name": "Main branch", "when": "Mon 24 Nov 2026, 10:30 IST",
    "link": "https://example.test/my/appointments",
}  # fmt: skip
SAMPLE_CONTEXT: dict[str, dict[str, Any]] = {
    "appointment_confirmed": _APPOINTMENT,
    "appointment_cancelled": _APPOINTMENT | {"reason": "Doctor unavailable"},
    "appointment_rescheduled": _APPOINTMENT,
    "waitlist_offer": _APPOINTMENT | {"offer_expires": "Mon 24 Nov 2026, 09:30 IST"},
    "appointment_reminder": _APPOINTMENT | {"offset_label": "tomorrow"},
    "login_code": {"tenant_name": "Carebase", "code": "123456", "minutes": 10},
    "device_approval": {"tenant_name": "City Clinic", "user_name": "Ravi Kumar", "device_label": "Firefox on Linux",
                        "link": "https://example.test/admin/devices"},
    "delivery_escalation": {"tenant_name": "City Clinic", "patient_name": "Asha Rao", "about": "booking",
                            "channel": "sms", "error": "sms 400 invalid number"},
    "daily_agenda": {"tenant_name": "City Clinic", "practitioner_name": "Dr Mehta", "day": "Mon 24 Nov 2026",
                     "appointments": 12, "first": "09:00 IST", "link": "https://example.test/schedule/day"},
    "monthly_report": {"tenant_name": "City Clinic", "month": "2026-10", "appointments": 420, "no_shows": 21,
                       "no_show_percent": "5.0", "new_patients": 37, "link": "https://example.test/"},
    "export_ready": {"tenant_name": "City Clinic", "rows": 42, "expires": "Tue 25 Nov 2026, 10:30 IST",
                     "link": "https://example.test/exports/1"},
}  # fmt: skip

_files = Environment(
    loader=FileSystemLoader(ROOT), undefined=StrictUndefined, autoescape=select_autoescape(["html"]),
    keep_trailing_newline=False, auto_reload=False,
)  # fmt: skip
_sandbox = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False)
_sandbox_html = SandboxedEnvironment(undefined=StrictUndefined, autoescape=True)


@dataclass(frozen=True, slots=True)
class Rendered:
    subject: str
    text: str
    html: str | None


def language_of(value: str | None) -> str:
    return value if value in LANGUAGES else "en"


def _file(name: str, context: dict[str, Any]) -> str:
    return _files.get_template(name).render(context).strip()


def render_files(event: str, channel: str, language: str, context: dict[str, Any]) -> Rendered:
    lang = language_of(language)
    ctx = {"lang": lang, **context}
    subject = _file(f"{lang}/{event}.subject.txt", ctx)
    try:
        text = _file(f"{lang}/{event}.{channel}.txt", ctx)
    except TemplateNotFound:
        text = _file(f"{lang}/{event}.txt", ctx)
    html = _file(f"{lang}/{event}.email.html", ctx) if channel == "email" else None
    return Rendered(subject, text, html)


def render_override(source: str, context: dict[str, Any], *, html: bool = False) -> str:
    env = _sandbox_html if html else _sandbox
    return env.from_string(source).render(context).strip()


async def render(
    session: AsyncSession, tenant_id: uuid.UUID, event: str, channel: str, language: str, context: dict[str, Any]
) -> Rendered:
    """The tenant's override where one exists, else the shipped template."""
    base = render_files(event, channel, language, context)
    rows = (
        await session.execute(
            select(NotificationTemplate.part, NotificationTemplate.source).where(
                NotificationTemplate.tenant_id == tenant_id, NotificationTemplate.event == event,
                NotificationTemplate.channel == channel, NotificationTemplate.language == language_of(language),
            )
        )
    ).all()  # fmt: skip
    if not rows:
        return base
    parts = dict(rows)
    ctx = {"lang": language_of(language), **context}
    return Rendered(
        subject=render_override(parts["subject"], ctx) if "subject" in parts else base.subject,
        text=render_override(parts["txt"], ctx) if "txt" in parts else base.text,
        html=render_override(parts["html"], ctx, html=True) if "html" in parts and base.html else base.html,
    )


async def set_override(
    session: AsyncSession, tenant_id: uuid.UUID, *, event: str, channel: str, language: str, part: str, source: str
) -> None:
    """Store a tenant's template after rendering it with the sample context: a template that uses an unknown
    variable (or does not parse) is refused here, when it is entered."""
    if event not in EVENTS or channel not in TEXT_CHANNELS or language not in LANGUAGES or part not in (
        "subject", "txt", "html"
    ):
        raise ValidationFailed.field("event", "Unknown template.")
    try:
        render_override(source, {"lang": language, **SAMPLE_CONTEXT[event]}, html=part == "html")
    except Exception as exc:  # jinja2 syntax error, undefined variable, sandbox violation
        raise ValidationFailed.field("source", f"The template does not render: {exc}") from exc
    existing = (
        await session.execute(
            select(NotificationTemplate).where(
                NotificationTemplate.tenant_id == tenant_id, NotificationTemplate.event == event,
                NotificationTemplate.channel == channel, NotificationTemplate.language == language,
                NotificationTemplate.part == part,
            )
        )
    ).scalar_one_or_none()  # fmt: skip
    if existing is None:
        session.add(NotificationTemplate(tenant_id=tenant_id, event=event, channel=channel, language=language,
                                         part=part, source=source))  # fmt: skip
    else:
        existing.source = source
    await session.flush()
