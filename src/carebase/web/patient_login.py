"""Patient sign-in with a one-time code sent to a phone or email. Mobile-first.

The phone number or email is carried from the first step to the second in the form itself
(a POST), never in a URL, so it does not end up in logs."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import RedirectResponse, Response

from carebase.core.context import client_ip_var, user_agent_var
from carebase.core.errors import CarebaseError, RateLimited
from carebase.core.uow import unit_of_work
from carebase.identity import otp
from carebase.web.auth import WebRoute, db_of, limiter_of, optional_principal, safe_next
from carebase.web.forms import errors_from_service, keep, read_form
from carebase.web.login import finish
from carebase.web.templating import render

router = APIRouter(route_class=WebRoute)
START = "auth/patient_start.html"
CODE = "auth/patient_code.html"


def _wait(exc: RateLimited) -> str:
    return f"Too many tries. Wait {exc.extra.get('retry_after', 60)} seconds and try again."


@router.get("/patient-login")
async def start_page(request: Request, next: str | None = None) -> Response:
    if await optional_principal(request) is not None:
        return RedirectResponse(safe_next(next), 303)
    return render(request, "auth/patient_start.html", {"next": safe_next(next, "")})


@router.post("/patient-login")
async def request_code(request: Request) -> Response:
    form = await read_form(request)
    destination = form.get("destination", "")
    then = safe_next(form.get("next"), "")
    if not destination:
        errors = {"destination": "Enter your mobile number or email address."}
        return render(request, "auth/patient_start.html", {"errors": errors, "next": then}, status=422)
    try:
        kind, _ = otp.normalise_destination(destination)
        async with unit_of_work(db_of(request)) as session:
            await otp.request_login_code(session, limiter_of(request), destination=destination, ip=client_ip_var.get())
    except RateLimited as exc:
        return render(request, START, {"values": keep(form), "errors": {"destination": _wait(exc)}, "next": then}, 429)
    except CarebaseError as exc:
        return render(request, START, {"values": keep(form), "errors": errors_from_service(exc), "next": then}, 422)
    return render(request, "auth/patient_code.html", {"destination": destination, "kind": kind, "next": then})


@router.post("/patient-login/code")
async def verify_code(request: Request) -> Response:
    form = await read_form(request)
    destination = form.get("destination", "")
    code = form.get("code", "").replace(" ", "")
    try:
        kind, _ = otp.normalise_destination(destination)
    except CarebaseError:
        return RedirectResponse("/patient-login", 303)
    then = safe_next(form.get("next"), "")
    context = {"destination": destination, "kind": kind, "next": then}
    if not (len(code) == 6 and code.isdigit()):
        return render(request, CODE, context | {"errors": {"code": "Enter the 6 digits we sent you."}}, 422)
    try:
        async with unit_of_work(db_of(request)) as session:
            outcome = await otp.verify_login_code(
                session, limiter_of(request), destination=destination, code=code, tenant_id=None,
                ip=client_ip_var.get(), user_agent=user_agent_var.get(),
            )  # fmt: skip
    except RateLimited as exc:
        return render(request, "auth/patient_code.html", context | {"errors": {"code": _wait(exc)}}, 429)
    except CarebaseError as exc:
        return render(request, "auth/patient_code.html", context | {"errors": {"code": exc.detail}}, 401)
    return finish(request, outcome, then or "/")
