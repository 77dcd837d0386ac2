"""The signed-in user's notifications (``/account/notifications``): the in-app inbox (newest first, unread
highlighted, mark one or all read, cursor paging), what they want on which channel, personal quiet hours, and
for organisation admins a link to the organisation's quiet hours (on /admin/settings). The same service
functions as the API."""

from __future__ import annotations

from datetime import time
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from starlette.responses import RedirectResponse, Response

from carebase.notifications import inbox, service
from carebase.tenancy import service as tenancy
from carebase.tenancy.permissions import TenancyPermission
from carebase.web.auth import Web, WebCtx, WebRoute, parse_uuid
from carebase.web.forms import keep, read_form
from carebase.web.templating import flash, partial, render

router = APIRouter(route_class=WebRoute)

PAGE = 20
CATEGORY_LABELS = {
    "booking": ("Bookings", "Confirmed, moved or cancelled appointments."),
    "reminder": ("Reminders", "Before each appointment."),
    "waitlist": ("Waitlist offers", "A time freed up for you."),
    "admin": ("Admin", "Device requests, monthly reports, exports."),
    "escalation": ("Escalations", "Messages that could not be delivered to a patient."),
}
CHANNEL_LABELS = {"email": "Email", "sms": "SMS", "whatsapp": "WhatsApp", "push": "Push", "in_app": "In-app"}


def _hhmm(value: time | None) -> str:
    return value.strftime("%H:%M") if value else ""


def _parse_time(value: str, name: str, errors: dict[str, str]) -> time | None:
    if not value:
        return None
    try:
        parsed = time.fromisoformat(value)
    except ValueError:
        errors[name] = "Enter a time like 21:30."
        return None
    return parsed.replace(second=0, microsecond=0, tzinfo=None)


def _window(form: dict[str, str], start: str, end: str) -> tuple[tuple[time, time] | None, dict[str, str]]:
    """Two time fields as a quiet-hours window; both empty means none."""
    errors: dict[str, str] = {}
    a = _parse_time(form.get(start, ""), start, errors)
    b = _parse_time(form.get(end, ""), end, errors)
    if errors:
        return None, errors
    if a is None and b is None:
        return None, {}
    if a is None:
        errors[start] = "Enter when quiet hours start, or leave both empty."
    if b is None:
        errors[end] = "Enter when quiet hours end, or leave both empty."
    if a is not None and b is not None and a == b:
        errors[end] = "The end must differ from the start."
    return (None, errors) if errors else ((a, b), {})  # type: ignore[return-value]


async def _context(ctx: WebCtx, cursor: str | None) -> dict[str, Any]:
    p = ctx.principal
    async with ctx.uow() as session:
        rows = await inbox.list_for(session, p.user_id, before=inbox.parse_cursor(cursor), limit=PAGE + 1)
        unread = await inbox.unread_count(session, p.user_id)
        prefs = await service.preferences(session, p.tenant_id, p.user_id)
        mine = await service.user_quiet_hours(session, p.tenant_id, p.user_id)
        policy = await tenancy.tenant_policy(session, p.tenant_id)
        org = await tenancy.get_organization(session, p.tenant_id)
    ctx.request.state.unread = unread  # the bell shows the same count as the page
    items = rows[:PAGE]
    next_link = None
    if len(rows) > PAGE:
        next_link = "/account/notifications?" + urlencode({"cursor": inbox.cursor(items[-1])})
    return {
        "items": items, "unread_here": unread, "next_link": next_link, "later_page": bool(cursor),
        "categories": [(c, *CATEGORY_LABELS.get(c, (c, ""))) for c in service.USER_CATEGORIES],
        "channels": [(ch, CHANNEL_LABELS.get(ch, ch)) for ch in service.USER_CHANNELS],
        "enabled": {f"{ch}:{cat}": prefs.get((ch, cat), True) for cat in service.USER_CATEGORIES
                    for ch in service.USER_CHANNELS},
        "quiet_values": {"quiet_start": _hhmm(mine[0]) if mine else "", "quiet_end": _hhmm(mine[1]) if mine else ""},
        "quiet_errors": {}, "policy": policy, "tz": org.timezone,
        "can_manage_org": p.can(TenancyPermission.ORGANIZATION_MANAGE),
    }  # fmt: skip


async def _page(request: Request, ctx: WebCtx, extra: dict[str, Any] | None = None, status: int = 200,
                cursor: str | None = None) -> Response:  # fmt: skip
    context = await _context(ctx, cursor)
    return render(request, "account/notifications.html", context | (extra or {}), status)


@router.get("/account/notifications")
async def notifications_page(request: Request, ctx: Web, cursor: str | None = Query(None, max_length=100)) -> Response:
    return await _page(request, ctx, cursor=cursor)


@router.post("/account/notifications/read-all")
async def mark_all_read(request: Request, ctx: Web) -> Response:
    async with ctx.uow() as session:
        await inbox.mark_all_read(session, ctx.principal.user_id)
    flash(request, "notifications_read")
    return RedirectResponse("/account/notifications", 303)


@router.post("/account/notifications/{notification_id}/read")
async def mark_read(request: Request, notification_id: str, ctx: Web) -> Response:
    nid = parse_uuid(notification_id)
    async with ctx.uow() as session:
        n = await inbox.mark_read(session, ctx.principal.user_id, nid)
        unread = await inbox.unread_count(session, ctx.principal.user_id)
        tz = (await tenancy.get_organization(session, ctx.principal.tenant_id)).timezone
    if request.headers.get("hx-request"):
        # The item, and the bell out of band so its count drops at once.
        return partial(request, "account/_notification.html", {"n": n, "unread": unread, "oob_bell": True, "tz": tz})
    return RedirectResponse("/account/notifications", 303)


@router.post("/account/notifications/preferences")
async def save_preferences(request: Request, ctx: Web) -> Response:
    form = await read_form(request)
    choices = {(ch, cat): form.get(f"{ch}:{cat}") == "on" for cat in service.USER_CATEGORIES
               for ch in service.USER_CHANNELS}  # fmt: skip
    p = ctx.principal
    async with ctx.uow() as session:
        await service.set_preferences(session, p.tenant_id, p.user_id, choices)
    flash(request, "preferences_saved")
    return RedirectResponse("/account/notifications#preferences", 303)


@router.post("/account/notifications/quiet-hours")
async def save_quiet_hours(request: Request, ctx: Web) -> Response:
    form = await read_form(request)
    window, errors = _window(form, "quiet_start", "quiet_end")
    if errors:
        values = keep({k: form.get(k, "") for k in ("quiet_start", "quiet_end")})
        return await _page(request, ctx, {"quiet_values": values, "quiet_errors": errors}, 422)
    p = ctx.principal
    async with ctx.uow() as session:
        await service.set_user_quiet_hours(session, p.tenant_id, p.user_id, window)
    flash(request, "quiet_hours_saved")
    return RedirectResponse("/account/notifications#quiet-hours", 303)
