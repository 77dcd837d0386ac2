"""Family members, mobile first: the people a patient books for (children, parents, a spouse).

The page is the web face of ``/api/v1/my/dependents``: the same permission (``scheduling.dependents.own``,
denials audited), the same schema (``DependentCreate``) and the same service calls, so registration
(MRNs, audit, events), the cap on links and who may unlink what stay in ``scheduling.dependents``.
Removing unlinks only: the registration stays with the clinic."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from starlette.responses import RedirectResponse, Response

from carebase.core.errors import CarebaseError
from carebase.scheduling import dependents
from carebase.scheduling.permissions import SchedulingPermission
from carebase.scheduling.schemas_dependents import DependentCreate
from carebase.web.auth import WebCtx, WebRoute, clear_cookie, cookie_name, parse_uuid, set_short_cookie, web_require
from carebase.web.forms import errors_from_service, keep, read_form, validate
from carebase.web.templating import render

router = APIRouter(route_class=WebRoute)

Guardian = Annotated[WebCtx, Depends(web_require(SchedulingPermission.DEPENDENTS_OWN))]

PATH = "/my/family"
FIELDS = ("given_name", "family_name", "birth_date", "sex", "relationship", "consent_note")
RELATIONSHIPS = [("child", "My child"), ("parent", "My parent"), ("spouse", "My spouse or partner"),
                 ("other", "Someone else I care for")]  # fmt: skip
RELATIONSHIP_LABELS = {"child": "Child", "parent": "Parent", "spouse": "Spouse or partner", "other": "Other"}
# The schema's limits, so a browser stops typing there.
MAX_LENGTHS = {"given_name": {"maxlength": "100"}, "family_name": {"maxlength": "100"},
               "consent_note": {"maxlength": "2000"}}  # fmt: skip
SEXES = [("female", "Female"), ("male", "Male"), ("other", "Other"), ("unknown", "Prefer not to say")]

# This page's confirmations (keys only, like ``templating.FLASHES``: a forged cookie can only pick one).
_NOTE_COOKIE = "cb_family_note"
NOTES = {
    "added": ("success", "Your family member is added. You can now book visits for them."),
    "removed": ("success", "They are removed from your account. Their record stays with the clinic."),
}


def _take_note(request: Request) -> tuple[str, str] | None:
    key = request.cookies.get(cookie_name(_NOTE_COOKIE))
    if not key:
        return None
    clear_cookie(request, _NOTE_COOKIE)
    return NOTES.get(key)


def _done(request: Request, key: str) -> Response:
    set_short_cookie(request, _NOTE_COOKIE, key, 60)
    return RedirectResponse(PATH, 303)


async def _page(request: Request, ctx: WebCtx, *, values: dict[str, str] | None = None,
                errors: dict[str, str] | None = None, status: int = 200) -> Response:  # fmt: skip
    async with ctx.uow() as session:
        family = await dependents.list_dependents(session, ctx.principal)
    # The first field in error takes the focus, so a patient with a long list lands on it, not at the top.
    first = next((name for name in FIELDS if name in (errors or {})), None)
    attrs = {name: dict(MAX_LENGTHS.get(name, {})) | ({"autofocus": "autofocus"} if name == first else {})
             for name in FIELDS}  # fmt: skip
    context: dict[str, Any] = {
        "family": family, "values": values or {}, "errors": errors or {}, "attrs": attrs,
        "relationships": RELATIONSHIPS, "relationship_labels": RELATIONSHIP_LABELS, "sexes": SEXES,
        "sex_labels": dict(SEXES), "max_family": dependents.MAX_DEPENDENTS,
    }  # fmt: skip
    note = _take_note(request)
    if note is not None:
        context["flash"] = note
    return render(request, "family/index.html", context, status)


@router.get(PATH)
async def family_page(request: Request, ctx: Guardian) -> Response:
    return await _page(request, ctx)


@router.post(PATH)
async def add_family_member(request: Request, ctx: Guardian) -> Response:
    form = await read_form(request)
    values = keep({k: form.get(k, "") for k in FIELDS})
    # A blank optional field is a missing one (the date of birth may be unknown); required ones are reported.
    body, errors = validate(DependentCreate, {k: v for k, v in values.items() if v})
    status = 422
    if body is not None:
        try:
            async with ctx.uow() as session:
                await dependents.add_dependent(session, ctx.principal, body)
        except CarebaseError as exc:  # e.g. the cap on family members (409); nothing was written
            errors, status = errors_from_service(exc), exc.status
        else:
            return _done(request, "added")
    return await _page(request, ctx, values=values, errors=errors, status=status)


@router.post(PATH + "/{patient_id}/remove")
async def remove_family_member(request: Request, patient_id: str, ctx: Guardian) -> Response:
    pid = parse_uuid(patient_id)
    async with ctx.uow() as session:
        await dependents.remove_dependent(session, ctx.principal, pid)  # someone else's: NotFound, the 404 page
    return _done(request, "removed")
