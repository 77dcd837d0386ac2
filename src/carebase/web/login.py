"""Staff sign-in pages: email and password, the MFA step, the device-pending page; password links;
sign-out and tenant switching."""

from __future__ import annotations

import uuid
from urllib.parse import quote

from fastapi import APIRouter, Request
from starlette.responses import RedirectResponse, Response

from carebase.core.context import client_ip_var, user_agent_var
from carebase.core.errors import CarebaseError, NotAuthenticated, PermissionDenied, RateLimited
from carebase.core.uow import unit_of_work
from carebase.identity import login as login_service
from carebase.identity import otp, sessions
from carebase.identity.login import LoginOutcome
from carebase.identity.schemas import ForgotPassword, PasswordLogin, ResetPassword
from carebase.web.auth import (
    WebAllowMfaPending,
    WebRoute,
    clear_cookie,
    clear_session_cookies,
    cookie_name,
    db_of,
    device_cookie,
    limiter_of,
    optional_principal,
    safe_next,
    set_device_cookie,
    set_session_cookies,
    set_short_cookie,
)
from carebase.web.forms import errors_from_service, keep, read_form, validate
from carebase.web.templating import flash, render

router = APIRouter(route_class=WebRoute)

MFA_COOKIE = "cb_mfa"


def _rate_limited(exc: RateLimited) -> dict[str, str]:
    return {"__all__": f"Too many attempts. Wait {exc.extra.get('retry_after', 60)} seconds and try again."}


def finish(request: Request, outcome: LoginOutcome, next_url: str) -> Response:
    """Turn a sign-in outcome into cookies and a redirect (shared with the patient sign-in)."""
    set_device_cookie(request, outcome.device_token)
    if outcome.status == "mfa_required" and outcome.mfa_token:
        set_short_cookie(request, MFA_COOKIE, outcome.mfa_token, 300)
        return RedirectResponse(f"/login/mfa?next={quote(next_url, safe='/')}", 303)
    clear_cookie(request, MFA_COOKIE)
    if outcome.status == "device_pending":
        return RedirectResponse("/login/device-pending", 303)
    assert outcome.tokens is not None
    set_session_cookies(request, outcome.tokens)
    if outcome.tokens.mfa_pending:
        return RedirectResponse("/account/mfa", 303)
    return RedirectResponse(next_url, 303)


@router.get("/login")
async def login_page(request: Request, next: str | None = None) -> Response:
    if await optional_principal(request) is not None:
        return RedirectResponse(safe_next(next), 303)
    return render(request, "auth/login.html", {"next": safe_next(next)})


@router.post("/login")
async def login_submit(request: Request) -> Response:
    form = await read_form(request)
    next_url = safe_next(form.get("next"))
    context = {"next": next_url, "values": keep(form)}
    body, errors = validate(PasswordLogin, {"email": form.get("email", ""), "password": form.get("password", "")})
    if body is None:
        return render(request, "auth/login.html", context | {"errors": errors}, status=422)
    try:
        async with unit_of_work(db_of(request)) as session:
            outcome = await login_service.password_login(
                session, limiter_of(request), email=str(body.email), password=body.password, tenant_id=None,
                device_token=device_cookie(request), ip=client_ip_var.get(), user_agent=user_agent_var.get(),
            )  # fmt: skip
    except RateLimited as exc:
        return render(request, "auth/login.html", context | {"errors": _rate_limited(exc)}, status=429)
    except CarebaseError as exc:
        return render(request, "auth/login.html", context | {"errors": {"__all__": exc.detail}}, status=401)
    return finish(request, outcome, next_url)


@router.get("/login/mfa")
async def mfa_page(request: Request, next: str | None = None) -> Response:
    if not request.cookies.get(cookie_name(MFA_COOKIE)):
        return RedirectResponse("/login", 303)
    return render(request, "auth/mfa.html", {"next": safe_next(next)})


@router.post("/login/mfa")
async def mfa_submit(request: Request) -> Response:
    form = await read_form(request)
    next_url = safe_next(form.get("next"))
    token = request.cookies.get(cookie_name(MFA_COOKIE))
    if not token:
        return RedirectResponse("/login", 303)
    code = form.get("code", "").replace(" ", "")
    if not 6 <= len(code) <= 20:
        errors = {"code": "Enter the 6-digit code from your app, or a recovery code."}
        return render(request, "auth/mfa.html", {"next": next_url, "errors": errors}, status=422)
    try:
        async with unit_of_work(db_of(request)) as session:
            outcome = await login_service.mfa_login(
                session, limiter_of(request), mfa_token=token, code=code, user_agent=user_agent_var.get()
            )
    except RateLimited as exc:
        return render(request, "auth/mfa.html", {"next": next_url, "errors": _rate_limited(exc)}, status=429)
    except NotAuthenticated as exc:
        if "expired" in exc.detail or "Sign in again" in exc.detail:
            clear_cookie(request, MFA_COOKIE)
            return render(request, "auth/login.html", {"next": next_url, "errors": {"__all__": exc.detail}}, status=401)
        return render(request, "auth/mfa.html", {"next": next_url, "errors": {"code": exc.detail}}, status=401)
    return finish(request, outcome, next_url)


@router.get("/login/device-pending")
async def device_pending(request: Request) -> Response:
    return render(request, "auth/device_pending.html", {"has_device": device_cookie(request) is not None})


# --- password links ---------------------------------------------------------------------------------


@router.get("/forgot-password")
async def forgot_page(request: Request) -> Response:
    return render(request, "auth/forgot.html", {"sent": False})


@router.post("/forgot-password")
async def forgot_submit(request: Request) -> Response:
    form = await read_form(request)
    body, errors = validate(ForgotPassword, {"email": form.get("email", "")})
    if body is None:
        return render(request, "auth/forgot.html", {"sent": False, "values": keep(form), "errors": errors}, 422)
    try:
        async with unit_of_work(db_of(request)) as session:
            await otp.forgot_password(session, limiter_of(request), email=str(body.email), ip=client_ip_var.get())
    except RateLimited as exc:
        context = {"sent": False, "values": keep(form), "errors": _rate_limited(exc)}
        return render(request, "auth/forgot.html", context, 429)
    return render(request, "auth/forgot.html", {"sent": True})


@router.get("/reset-password")
async def reset_page(request: Request, token: str = "") -> Response:
    return render(request, "auth/reset.html", {"token": token[:200]})


@router.post("/reset-password")
async def reset_submit(request: Request) -> Response:
    form = await read_form(request)
    token = form.get("token", "")
    context = {"token": token}
    errors: dict[str, str] = {}
    if form.get("new_password", "") != form.get("confirm_password", ""):
        errors["confirm_password"] = "The two passwords are not the same."  # noqa: S105
    body, found = validate(ResetPassword, {"token": token, "new_password": form.get("new_password", "")})
    errors = found | errors
    if body is None or errors:
        if "token" in errors:
            errors["__all__"] = "This link is not valid. Ask for a new one."
        return render(request, "auth/reset.html", context | {"errors": errors}, status=422)
    try:
        async with unit_of_work(db_of(request)) as session:
            await otp.reset_password(session, token=body.token, new_password=body.new_password)
    except CarebaseError as exc:
        errors = errors_from_service(exc)
        if "token" in errors:
            errors["__all__"] = errors.pop("token")
        return render(request, "auth/reset.html", context | {"errors": errors}, status=422)
    flash(request, "password_reset")
    return RedirectResponse("/login", 303)


# --- sign-out and switching ---------------------------------------------------------------------------


@router.post("/logout")
async def logout(request: Request, ctx: WebAllowMfaPending) -> Response:
    async with ctx.uow() as session:
        await sessions.revoke_session(session, ctx.principal, ctx.principal.session_id, reason="logout")
    clear_session_cookies(request)
    flash(request, "signed_out")
    home = "/patient-login" if ctx.principal.role == "patient" else "/login"
    return RedirectResponse(home, 303)


@router.post("/switch")
async def switch(request: Request, ctx: WebAllowMfaPending) -> Response:
    form = await read_form(request)
    try:
        membership_id = uuid.UUID(form.get("membership_id", ""))
    except ValueError:
        return RedirectResponse("/", 303)
    try:
        async with ctx.uow() as session:
            tokens = await login_service.switch_membership(session, ctx.principal, membership_id)
    except PermissionDenied as exc:
        return render(request, "auth/switch_denied.html", {"detail": exc.detail}, status=403)
    set_session_cookies(request, tokens)
    flash(request, "switched")
    return RedirectResponse("/", 303)
