"""Patient sign-in with a one-time code sent to a phone or email. Mobile-first.

The phone number or email is carried from the first step to the second in the form itself
(a POST), never in a URL, so it does not end up in logs.

Someone new who picked a time with a listed doctor registers with that doctor's clinic here
(``/patient-register``): a code to their phone or email, then the code with their name, date of birth
and sex; they are signed in there and go on to the booking review."""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import parse_qs, urlsplit

from fastapi import APIRouter, Request
from starlette.responses import RedirectResponse, Response

from carebase.core.context import client_ip_var, user_agent_var
from carebase.core.errors import CarebaseError, NotAuthenticated, NotFound, RateLimited
from carebase.core.uow import unit_of_work
from carebase.identity import otp
from carebase.identity.login import LoginOutcome
from carebase.patients import marketplace
from carebase.patients.schemas_marketplace import NewPatientRegistration
from carebase.web.auth import WebRoute, db_of, limiter_of, optional_principal, safe_next
from carebase.web.find import load_profile
from carebase.web.forms import errors_from_service, keep, read_form, validate
from carebase.web.login import finish
from carebase.web.templating import render

router = APIRouter(route_class=WebRoute)
START = "auth/patient_start.html"
CODE = "auth/patient_code.html"
REGISTER = "auth/patient_register.html"
REGISTER_DETAILS = "auth/patient_register_details.html"


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


# --- new patients: register with the clinic of the doctor they picked -------------------------------------------


async def _doctor_of(request: Request, then: str) -> dict[str, Any] | None:
    """The listed doctor a booking address (``/book?practitioner_id=...``) points at: their clinic is the one
    to register with. None for any other address."""
    if not then.startswith("/book?"):
        return None
    try:
        practitioner_id = uuid.UUID(parse_qs(urlsplit(then).query).get("practitioner_id", [""])[0])
        return await load_profile(request, practitioner_id)
    except (ValueError, NotFound):
        return None


@router.get("/patient-register")
async def register_page(request: Request, next: str | None = None) -> Response:
    then = safe_next(next, "")
    if await optional_principal(request) is not None:
        return RedirectResponse(then or "/", 303)
    doctor = await _doctor_of(request, then)
    if doctor is None:
        return RedirectResponse("/find", 303)  # registration starts from a doctor's time
    return render(request, REGISTER, {"next": then, "d": doctor})


@router.post("/patient-register")
async def register_code(request: Request) -> Response:
    form = await read_form(request)
    then = safe_next(form.get("next"), "")
    doctor = await _doctor_of(request, then)
    if doctor is None:
        return RedirectResponse("/find", 303)
    destination = form.get("destination", "")
    context = {"next": then, "d": doctor, "values": keep(form)}
    if not destination:
        return render(
            request, REGISTER, context | {"errors": {"destination": "Enter your mobile number or email."}}, 422
        )
    try:
        kind, _ = otp.normalise_destination(destination)
        async with unit_of_work(db_of(request)) as session:
            await marketplace.request_registration_code(
                session, limiter_of(request), organization_id=uuid.UUID(doctor["tenant_id"]),
                destination=destination, ip=client_ip_var.get(),
            )  # fmt: skip
    except RateLimited as exc:
        return render(request, REGISTER, context | {"errors": {"destination": _wait(exc)}}, 429)
    except CarebaseError as exc:
        return render(request, REGISTER, context | {"errors": errors_from_service(exc)}, exc.status)
    return render(request, REGISTER_DETAILS, {"next": then, "d": doctor, "destination": destination, "kind": kind})


@router.post("/patient-register/complete")
async def register_complete(request: Request) -> Response:
    form = await read_form(request)
    then = safe_next(form.get("next"), "")
    doctor = await _doctor_of(request, then)
    destination = form.get("destination", "")
    try:
        kind, _ = otp.normalise_destination(destination)
    except CarebaseError:
        doctor = None
    if doctor is None:
        return RedirectResponse("/find", 303)
    context = {"next": then, "d": doctor, "destination": destination, "kind": kind, "values": keep(form)}
    fields = ("code", "given_name", "family_name", "birth_date", "sex")
    data = {k: form.get(k, "").replace(" ", "") if k == "code" else form.get(k, "") for k in fields}
    # A blank field is a missing one ("This field is required."), not a badly written one.
    body, errors = validate(NewPatientRegistration, {k: v for k, v in data.items() if v} | {
        "organization_id": doctor["tenant_id"], "destination": destination})  # fmt: skip
    if "code" in errors:
        errors["code"] = "Enter the 6 digits we sent you."
    if body is None:
        return render(request, REGISTER_DETAILS, context | {"errors": errors}, 422)
    try:
        async with unit_of_work(db_of(request)) as session:
            joined = await marketplace.register_new_patient(
                session, limiter_of(request), body, ip=client_ip_var.get(), user_agent=user_agent_var.get()
            )
    except RateLimited as exc:
        return render(request, REGISTER_DETAILS, context | {"errors": {"code": _wait(exc)}}, 429)
    except NotAuthenticated as exc:
        return render(request, REGISTER_DETAILS, context | {"errors": {"code": exc.detail}}, 401)
    except CarebaseError as exc:
        return render(request, REGISTER_DETAILS, context | {"errors": {"__all__": exc.detail}}, exc.status)
    return finish(request, LoginOutcome("ok", tokens=joined.tokens), then)
