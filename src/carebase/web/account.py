"""The signed-in user's account: profile, password, two-step sign-in (MFA), sessions, devices."""

from __future__ import annotations

from typing import Any

import segno
from fastapi import APIRouter, Request
from starlette.responses import RedirectResponse, Response

from carebase.core.errors import CarebaseError, ValidationFailed
from carebase.identity import devices, mfa, otp, sessions
from carebase.identity.schemas import ChangePassword
from carebase.web.auth import Web, WebAllowMfaPending, WebCtx, WebRoute, parse_uuid
from carebase.web.forms import errors_from_service, read_form, validate
from carebase.web.templating import flash, render

router = APIRouter(route_class=WebRoute)


async def _account_context(ctx: WebCtx) -> dict[str, Any]:
    p = ctx.principal
    async with ctx.uow() as session:
        live = await sessions.list_sessions(session, p)
        mine = [d for d, _ in await devices.list_devices(session, p, mine=True)]
        codes_left = await mfa.recovery_codes_left(session, p.user_id)
    return {"me": ctx.request.state.me, "sessions": live, "devices": mine, "codes_left": codes_left}


@router.get("/account")
async def account_page(request: Request, ctx: Web) -> Response:
    return render(request, "account/index.html", await _account_context(ctx))


@router.post("/account/password")
async def change_password(request: Request, ctx: Web) -> Response:
    form = await read_form(request)
    errors: dict[str, str] = {}
    if form.get("new_password", "") != form.get("confirm_password", ""):
        errors["confirm_password"] = "The two new passwords are not the same."  # noqa: S105
    data = {"current_password": form.get("current_password") or None, "new_password": form.get("new_password", "")}
    body, found = validate(ChangePassword, data)
    errors = found | errors
    if body is not None and not errors:
        try:
            async with ctx.uow() as session:
                await otp.change_password(
                    session, ctx.principal, current_password=body.current_password, new_password=body.new_password
                )
        except CarebaseError as exc:
            errors = errors_from_service(exc)
        else:
            flash(request, "password_changed")
            return RedirectResponse("/account#password", 303)
    context = await _account_context(ctx) | {"errors": errors}
    return render(request, "account/index.html", context, status=422)


@router.post("/account/sessions/{session_id}/revoke")
async def revoke_session(request: Request, session_id: str, ctx: WebAllowMfaPending) -> Response:
    sid = parse_uuid(session_id)
    async with ctx.uow() as session:
        await sessions.revoke_session(session, ctx.principal, sid)
    if sid == ctx.principal.session_id:
        return RedirectResponse("/login", 303)
    flash(request, "session_revoked")
    return RedirectResponse("/account#sessions", 303)


# --- two-step sign-in -------------------------------------------------------------------------------


@router.get("/account/mfa")
async def mfa_page(request: Request, ctx: WebAllowMfaPending) -> Response:
    me = request.state.me
    if me.mfa_enabled and not ctx.principal.mfa_pending:
        return RedirectResponse("/account#mfa", 303)
    return render(request, "account/mfa.html", {"step": "intro", "required": ctx.principal.mfa_pending})


def _qr(uri: str) -> str:
    return segno.make(uri, error="m").svg_inline(scale=4, dark="#10253f", light="#ffffff")


@router.post("/account/mfa/start")
async def mfa_start(request: Request, ctx: WebAllowMfaPending) -> Response:
    try:
        async with ctx.uow() as session:
            enrolment = await mfa.begin_enrolment(session, ctx.principal)
    except CarebaseError as exc:
        return render(request, "account/mfa.html", {"step": "intro", "required": ctx.principal.mfa_pending,
                                                    "errors": {"__all__": exc.detail}}, status=409)  # fmt: skip
    return render(request, "account/mfa.html", {
        "step": "scan", "required": ctx.principal.mfa_pending, "secret": enrolment.secret,
        "uri": enrolment.otpauth_uri, "qr_svg": enrolment.qr_svg,
    })  # fmt: skip


@router.post("/account/mfa/confirm")
async def mfa_confirm(request: Request, ctx: WebAllowMfaPending) -> Response:
    form = await read_form(request)
    code = form.get("code", "").replace(" ", "")
    uri = form.get("uri", "")
    try:
        if not (len(code) == 6 and code.isdigit()):
            raise ValidationFailed.field("code", "Enter the 6-digit code your app shows.")
        async with ctx.uow() as session:
            codes = await mfa.confirm_enrolment(session, ctx.principal, code)
    except CarebaseError as exc:
        context = {
            "step": "scan", "required": ctx.principal.mfa_pending, "errors": errors_from_service(exc),
            "secret": form.get("secret", ""), "uri": uri,
            # Rebuilt from the same otpauth URI the page showed: segno output is markup we make, not the client's.
            "qr_svg": _qr(uri) if uri.startswith("otpauth://totp/") and len(uri) < 500 else "",
        }  # fmt: skip
        return render(request, "account/mfa.html", context, status=422)
    return render(request, "account/mfa.html", {"step": "codes", "codes": codes, "required": False})


@router.post("/account/mfa/disable")
async def mfa_disable(request: Request, ctx: Web) -> Response:
    form = await read_form(request)
    try:
        async with ctx.uow() as session:
            await mfa.disable(session, ctx.principal, form.get("code", ""))
    except CarebaseError as exc:
        context = await _account_context(ctx) | {"errors": {"mfa_code": errors_from_service(exc).popitem()[1]}}
        return render(request, "account/index.html", context, status=422)
    flash(request, "mfa_disabled")
    return RedirectResponse("/account#mfa", 303)
