"""Patient register API."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Response

from carebase.core.api import PageParams
from carebase.core.idempotency import request_fingerprint, run_once
from carebase.core.schemas import Page
from carebase.identity.deps import Ctx, require
from carebase.patients import service
from carebase.patients.permissions import PatientPermission as P
from carebase.patients.schemas import PatientCreate, PatientRead, PatientUpdate

router = APIRouter(tags=["patients"])

Reader = Annotated[Ctx, Depends(require(P.READ))]
Registrar = Annotated[Ctx, Depends(require(P.REGISTER))]
Self = Annotated[Ctx, Depends(require(P.READ_OWN))]


@router.get("/patients", response_model=Page[PatientRead])
async def search_patients(
    ctx: Reader, page: PageParams, q: Annotated[str | None, Query(max_length=100)] = None
) -> Page[PatientRead]:
    items, cursor = await service.search(ctx.session, ctx.principal, page, q=q)
    return Page(items=[PatientRead.model_validate(p) for p in items], next_cursor=cursor)


@router.post("/patients", response_model=PatientRead, status_code=201)
async def register_patient(
    body: PatientCreate,
    ctx: Registrar,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> Response:
    """Register a patient. Send an ``Idempotency-Key`` so a retried request registers only once."""

    async def run() -> object:
        patient = await service.register(ctx.session, ctx.principal, body)
        return PatientRead.model_validate(patient).model_dump(mode="json")

    return await run_once(
        ctx.session, tenant_id=ctx.principal.tenant_id, user_id=ctx.principal.user_id, key=idempotency_key,
        fingerprint=lambda: request_fingerprint("POST", "/patients", body.model_dump(mode="json")), status_code=201,
        run=run,
    )  # fmt: skip


@router.get("/patients/{patient_id}", response_model=PatientRead)
async def read_patient(patient_id: uuid.UUID, ctx: Reader) -> PatientRead:
    return PatientRead.model_validate(await service.get(ctx.session, ctx.principal, patient_id))


@router.patch("/patients/{patient_id}", response_model=PatientRead)
async def update_patient(patient_id: uuid.UUID, body: PatientUpdate, ctx: Registrar) -> PatientRead:
    return PatientRead.model_validate(await service.update(ctx.session, ctx.principal, patient_id, body))


@router.get("/my/patient-records", response_model=list[PatientRead])
async def my_records(ctx: Self) -> list[PatientRead]:
    return [PatientRead.model_validate(p) for p in await service.own_records(ctx.session, ctx.principal)]
