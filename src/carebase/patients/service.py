"""Patient register: search, open (audited read), register, correct."""

from __future__ import annotations

import uuid

from sqlalchemy import Integer, func, or_, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from carebase.audit import service as audit
from carebase.core.errors import NotFound, ValidationFailed
from carebase.core.outbox import emit
from carebase.core.pagination import PageRequest, finish, paginate
from carebase.identity.principal import Principal
from carebase.patients.models import Patient
from carebase.patients.schemas import PatientCreate, PatientUpdate

SORTS = {"created_at": Patient.created_at, "family_name": Patient.family_name}


def _actor(principal: Principal) -> audit.Actor:
    return audit.Actor(principal.user_id, principal.role)


async def search(
    session: AsyncSession, principal: Principal, page: PageRequest, *, q: str | None = None
) -> tuple[list[Patient], str | None]:
    query = select(Patient)
    if q:
        term = q.strip()
        query = query.where(
            or_(
                Patient.search.op("@@")(func.plainto_tsquery("simple", term)),
                Patient.mrn == term.upper(),
                Patient.phone == term,
                func.lower(Patient.email) == term.lower(),
            )
        )
    query = paginate(query, page, sorts=SORTS, default_sort="-created_at", id_column=Patient.id)
    rows = list((await session.execute(query)).scalars())
    kept, cursor = finish(rows, page, "-created_at")
    await audit.record(
        session, principal.tenant_id, "patients.register.searched", actor=_actor(principal),
        # Which registrations were shown: a list of patients is a read of each of them.
        details={"results": len(kept), "filtered": bool(q), "patient_ids": [str(p.id) for p in kept]},
    )  # fmt: skip
    return kept, cursor


async def get(session: AsyncSession, principal: Principal, patient_id: uuid.UUID) -> Patient:
    patient = await session.get(Patient, patient_id)
    if patient is None or (principal.role == "patient" and patient.user_id != principal.user_id):
        raise NotFound("No such patient.")
    await audit.record(
        session, principal.tenant_id, "patients.record.read", actor=_actor(principal),
        target_type="patient", target_id=patient.id, patient_id=patient.id,
    )  # fmt: skip
    return patient


async def own_records(session: AsyncSession, principal: Principal) -> list[Patient]:
    """The patient's own registration(s) in this tenant (self and dependents come later)."""
    rows = list((await session.execute(select(Patient).where(Patient.user_id == principal.user_id))).scalars())
    for patient in rows:
        await audit.record(
            session, principal.tenant_id, "patients.record.read", actor=_actor(principal),
            target_type="patient", target_id=patient.id, patient_id=patient.id,
        )  # fmt: skip
    return rows


async def _next_mrn(session: AsyncSession, tenant_id: uuid.UUID) -> str:
    """Medical record numbers run P000001, P000002, ... per tenant; a transaction lock keeps
    two registrations from taking the same one."""
    await session.execute(text("SELECT pg_advisory_xact_lock(hashtext('mrn:' || :t))"), {"t": str(tenant_id)})
    # Only numbers of our own form count: imported records may carry other MRNs.
    ours = select(func.max(func.substr(Patient.mrn, 2).cast(Integer))).where(Patient.mrn.regexp_match("^P[0-9]+$"))
    last = (await session.execute(ours)).scalar_one()
    return f"P{(last or 0) + 1:06d}"


async def register(session: AsyncSession, principal: Principal, data: PatientCreate) -> Patient:
    patient = Patient(
        tenant_id=principal.tenant_id,
        mrn=await _next_mrn(session, principal.tenant_id),
        **data.model_dump(mode="python", exclude_none=True),
    )
    session.add(patient)
    await session.flush()
    await session.refresh(patient)
    await audit.record(
        session, principal.tenant_id, "patients.record.created", actor=_actor(principal),
        target_type="patient", target_id=patient.id, patient_id=patient.id,
    )  # fmt: skip
    await emit(session, principal.tenant_id, "patient.registered", {"patient_id": str(patient.id)})
    return patient


async def update(session: AsyncSession, principal: Principal, patient_id: uuid.UUID, data: PatientUpdate) -> Patient:
    patient = await session.get(Patient, patient_id)
    if patient is None:
        raise NotFound("No such patient.")
    changes = data.model_dump(exclude_unset=True)
    for key, value in changes.items():
        if value is None and key in ("given_name", "family_name", "sex"):
            raise ValidationFailed.field(key, "This field cannot be empty.")
        setattr(patient, key, value)
    await session.flush()
    await session.refresh(patient)
    await audit.record(
        session, principal.tenant_id, "patients.record.updated", actor=_actor(principal),
        target_type="patient", target_id=patient.id, patient_id=patient.id, details={"fields": sorted(changes)},
    )  # fmt: skip
    return patient
