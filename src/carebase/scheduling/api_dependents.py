"""Dependents API: a patient's family members (``/my/dependents``)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Response

from carebase.core.idempotency import request_fingerprint, run_once
from carebase.identity.deps import Ctx, require
from carebase.scheduling import dependents as service
from carebase.scheduling.permissions import SchedulingPermission as P
from carebase.scheduling.schemas_dependents import DependentCreate, DependentRead

router = APIRouter(tags=["scheduling"])

Guardian = Annotated[Ctx, Depends(require(P.DEPENDENTS_OWN))]


@router.get("/my/dependents", response_model=list[DependentRead])
async def list_dependents(ctx: Guardian) -> list[DependentRead]:
    return await service.list_dependents(ctx.session, ctx.principal)


@router.post("/my/dependents", response_model=DependentRead, status_code=201)
async def add_dependent(
    body: DependentCreate,
    ctx: Guardian,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> Response:
    """Register a family member in this organisation and link them to your account. Send an
    ``Idempotency-Key`` so a retried request adds them only once."""

    async def run() -> object:
        return (await service.add_dependent(ctx.session, ctx.principal, body)).model_dump(mode="json")

    return await run_once(
        ctx.session, tenant_id=ctx.principal.tenant_id, user_id=ctx.principal.user_id, key=idempotency_key,
        fingerprint=lambda: request_fingerprint("POST", "/my/dependents", body.model_dump(mode="json")),
        status_code=201, run=run,
    )  # fmt: skip


@router.delete("/my/dependents/{patient_id}", status_code=204)
async def remove_dependent(patient_id: uuid.UUID, ctx: Guardian) -> Response:
    await service.remove_dependent(ctx.session, ctx.principal, patient_id)
    return Response(status_code=204)
