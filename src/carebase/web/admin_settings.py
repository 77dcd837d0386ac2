"""Organisation settings (hospital admin): the whole tenant policy on one page, ``/admin/settings``.

One form, validated by the API's own ``PolicyUpdate`` (its bounds also give the hints, the inputs' min and max and
the error messages, so the rules live in one place). Only what changed is written, through
``tenancy.service.update_policy``, which audits the field names; a save that changes nothing writes nothing."""

from __future__ import annotations

from datetime import time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from starlette.responses import RedirectResponse, Response

from carebase.core.errors import CarebaseError
from carebase.tenancy import service
from carebase.tenancy.permissions import TenancyPermission as P
from carebase.tenancy.schemas import PolicyUpdate
from carebase.tenancy.service import TenantPolicy
from carebase.web.auth import WebCtx, WebRoute, web_require
from carebase.web.forms import errors_from_service, keep, read_form, validate
from carebase.web.templating import flash, render

router = APIRouter(route_class=WebRoute)

# The permission the API's PATCH /organization/policy requires.
OrgAdmin = Annotated[WebCtx, Depends(web_require(P.ORGANIZATION_MANAGE))]

NUMBERS = ("cancellation_cutoff_hours", "booking_horizon_days")
SWITCHES = ("device_approval_required", "marketplace", "quiet_hours_enabled")
TIMES = ("quiet_hours_start", "quiet_hours_end")
UNITS = {"cancellation_cutoff_hours": "hours", "booking_horizon_days": "days"}


def _bound(name: str, kind: str) -> int:
    """A number field's ``ge``/``le`` from the schema."""
    for rule in PolicyUpdate.model_fields[name].metadata:
        if hasattr(rule, kind):
            return int(getattr(rule, kind))
    raise LookupError(f"{name} has no {kind} bound")


BOUNDS = {name: (_bound(name, "ge"), _bound(name, "le")) for name in NUMBERS}


def _number_error(name: str) -> str:
    low, high = BOUNDS[name]
    return f"Enter a whole number of {UNITS[name]} from {low} to {high}."


TIME_ERROR = "Enter a time like 21:30."


def _hhmm(value: time) -> str:
    return value.strftime("%H:%M")


def _values(policy: TenantPolicy) -> dict[str, str]:
    """The policy as the form shows it (strings; checkboxes as "on" or "")."""
    return {
        "cancellation_cutoff_hours": str(policy.cancellation_cutoff_hours),
        "booking_horizon_days": str(policy.booking_horizon_days),
        **{name: "on" if getattr(policy, name) else "" for name in SWITCHES},
        "quiet_hours_start": _hhmm(policy.quiet_hours_start),
        "quiet_hours_end": _hhmm(policy.quiet_hours_end),
    }


def _parse(form: dict[str, str]) -> tuple[PolicyUpdate | None, dict[str, str]]:
    """The posted form through ``PolicyUpdate``; every field is required here (this form sets the whole policy)."""
    data: dict[str, Any] = {name: form.get(name) == "on" for name in SWITCHES}
    data |= {name: form.get(name, "") for name in NUMBERS + TIMES}
    missing = {name for name in NUMBERS + TIMES if data[name] == ""}
    body, errors = validate(PolicyUpdate, {k: v for k, v in data.items() if k not in missing})
    errors |= dict.fromkeys(missing, "")
    # One plain message per field, whatever pydantic called the problem (too big, not a number, empty...).
    for name in list(errors):
        if name in NUMBERS:
            errors[name] = _number_error(name)
        elif name in TIMES:
            errors[name] = TIME_ERROR
    return (None, errors) if errors else (body, {})


def _changes(body: PolicyUpdate, policy: TenantPolicy) -> dict[str, Any]:
    return {
        name: value for name, value in body.model_dump(exclude_none=True).items()
        if value != getattr(policy, name)
    }  # fmt: skip


def _page(request: Request, org_name: str, tz: str, values: dict[str, str], errors: dict[str, str] | None = None,
          status: int = 200) -> Response:  # fmt: skip
    hints = {name: f"{low} to {high} {UNITS[name]}." for name, (low, high) in BOUNDS.items()}
    context = {"values": values, "errors": errors or {}, "bounds": BOUNDS, "range_hint": hints, "tz": tz,
               "org": org_name}  # fmt: skip
    return render(request, "admin/settings.html", context, status)


@router.get("/admin/settings")
async def settings_page(request: Request, ctx: OrgAdmin) -> Response:
    async with ctx.uow() as session:
        policy = await service.tenant_policy(session, ctx.principal.tenant_id)
        org = await service.get_organization(session, ctx.principal.tenant_id)
    return _page(request, org.name, org.timezone, _values(policy))


@router.post("/admin/settings")
async def save_settings(request: Request, ctx: OrgAdmin) -> Response:
    form = await read_form(request)
    body, errors = _parse(form)
    if body is not None:
        try:
            async with ctx.uow() as session:
                changes = _changes(body, await service.tenant_policy(session, ctx.principal.tenant_id))
                if changes:
                    await service.update_policy(session, ctx.principal, PolicyUpdate(**changes))
        except CarebaseError as exc:
            errors = errors_from_service(exc)
        else:
            flash(request, "settings_saved")
            return RedirectResponse("/admin/settings", 303)
    async with ctx.uow() as session:
        org = await service.get_organization(session, ctx.principal.tenant_id)
    values = keep({name: form.get(name, "") for name in NUMBERS + TIMES}) | {
        name: "on" if form.get(name) == "on" else "" for name in SWITCHES
    }
    return _page(request, org.name, org.timezone, values, errors, 422)
