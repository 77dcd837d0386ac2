"""Belonging to several clinics: a signed-in patient joins another clinic of the marketplace; someone new
registers with a clinic by a one-time code. Thin routes over ``patients.marketplace``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from carebase.core.context import client_ip_var, user_agent_var
from carebase.identity.api_auth import token_response
from carebase.identity.deps import Ctx, DbSession, Limiter, require
from carebase.patients import marketplace
from carebase.patients.permissions import PatientPermission as P
from carebase.patients.schemas import PatientRead
from carebase.patients.schemas_marketplace import (
    ClinicJoined,
    JoinClinic,
    NewPatientRegistration,
    RegistrationCodeRequest,
)

router = APIRouter(tags=["patients"])

Joiner = Annotated[Ctx, Depends(require(P.JOIN_CLINIC))]


def _joined(joined: marketplace.Joined) -> ClinicJoined:
    return ClinicJoined(
        organization_id=joined.clinic.id, organization_name=joined.clinic.name, membership_id=joined.membership.id,
        patient=PatientRead.model_validate(joined.patient), created=joined.created,
        tokens=token_response(joined.tokens),
    )  # fmt: skip


@router.post("/my/clinics", response_model=ClinicJoined)
async def join_clinic(body: JoinClinic, ctx: Joiner) -> ClinicJoined:
    """Register yourself with another clinic of the marketplace, with your details as you confirm them (or
    copied from your registration here), and continue there: the answer carries a new session in that
    clinic and this one ends. Asking again changes nothing and answers with the same registration."""
    return _joined(await marketplace.join_clinic(ctx.session, ctx.principal, body.organization_id, body.details))


@router.post("/marketplace/registrations/code", status_code=202)
async def request_registration_code(
    body: RegistrationCodeRequest, session: DbSession, limiter: Limiter
) -> dict[str, str]:
    """Send a 6-digit code to the phone or email a new patient registers with (sign-in's limits apply)."""
    await marketplace.request_registration_code(
        session, limiter, organization_id=body.organization_id, destination=body.destination, ip=client_ip_var.get()
    )
    return {"detail": "A code is on its way. It works for 10 minutes."}


@router.post("/marketplace/registrations", response_model=ClinicJoined, status_code=201)
async def register_new_patient(body: NewPatientRegistration, session: DbSession, limiter: Limiter) -> ClinicJoined:
    """Become a patient of the clinic with the code that was sent, and sign in there."""
    joined = await marketplace.register_new_patient(
        session, limiter, body, ip=client_ip_var.get(), user_agent=user_agent_var.get()
    )
    return _joined(joined)
