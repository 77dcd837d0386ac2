"""Dependents: family members (children, parents, a spouse) whose care a patient user manages.

Adding one registers them as a patient of the current tenant (through the patient register, so
MRNs, audit and events are the same as at the front desk) and links the registration to the
guardian's user with the relationship and the consent given. Removing a link keeps the
registration: it is the tenant's medical record, not the guardian's."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from carebase.audit import service as audit
from carebase.core.errors import Conflict, NotFound
from carebase.core.outbox import emit
from carebase.identity.principal import Principal
from carebase.patients import service as patients
from carebase.patients.models import Patient
from carebase.patients.schemas import PatientCreate
from carebase.scheduling.models import Dependent
from carebase.scheduling.schemas_dependents import DependentCreate, DependentRead

MAX_DEPENDENTS = 20


def _actor(principal: Principal) -> audit.Actor:
    return audit.Actor(principal.user_id, principal.role)


def can_book_for_sql(patient: str, user: str) -> str:
    """SQL: the patient is the user's own registration in this tenant or one of their dependents
    (``app_can_book_for``, migration 0015, which the planner inlines). ``patient`` and ``user`` are SQL
    expressions (parameters or columns), never values."""
    return f"app_can_book_for({patient}, {user})"


_CAN_BOOK_FOR = text(f"SELECT {can_book_for_sql(':patient', ':user')}")  # noqa: S608 (expressions)


async def can_book_for(session: AsyncSession, principal: Principal, patient_id: uuid.UUID) -> bool:
    """True when ``patient_id`` is the principal's own registration in this tenant, or one of
    their dependents. One query; row-level security keeps it inside the tenant."""
    params = {"patient": patient_id, "user": principal.user_id}
    return bool((await session.execute(_CAN_BOOK_FOR, params)).scalar_one())


def _read(link: Dependent, patient: Patient) -> DependentRead:
    return DependentRead(
        patient_id=patient.id, mrn=patient.mrn, given_name=patient.given_name, family_name=patient.family_name,
        birth_date=patient.birth_date, sex=patient.sex, relationship=link.relationship,
        consent_note=link.consent_note, linked_at=link.created_at,
    )  # fmt: skip


async def list_dependents(session: AsyncSession, principal: Principal) -> list[DependentRead]:
    rows = await session.execute(
        select(Dependent, Patient)
        .join(Patient, Patient.id == Dependent.patient_id)
        .where(Dependent.guardian_user_id == principal.user_id)
        .order_by(Dependent.created_at, Dependent.id)
    )
    result = []
    for link, patient in rows:
        await audit.record(
            session, principal.tenant_id, "patients.record.read", actor=_actor(principal),
            target_type="patient", target_id=patient.id, patient_id=patient.id, details={"via": "dependents"},
        )  # fmt: skip
        result.append(_read(link, patient))
    return result


async def add_dependent(session: AsyncSession, principal: Principal, data: DependentCreate) -> DependentRead:
    count = (
        await session.execute(
            select(func.count()).select_from(Dependent).where(Dependent.guardian_user_id == principal.user_id)
        )
    ).scalar_one()
    if count >= MAX_DEPENDENTS:
        raise Conflict(f"You can link at most {MAX_DEPENDENTS} family members to your account.")
    registration = PatientCreate(**data.model_dump(include=set(PatientCreate.model_fields), exclude_none=True))
    patient = await patients.register(session, principal, registration)
    link = Dependent(
        tenant_id=principal.tenant_id, guardian_user_id=principal.user_id, patient_id=patient.id,
        relationship=data.relationship, consent_note=data.consent_note,
    )  # fmt: skip
    session.add(link)
    await session.flush()
    await session.refresh(link)
    await emit(
        session, principal.tenant_id, "dependent.linked",
        {"patient_id": str(patient.id), "guardian_user_id": str(principal.user_id)},
    )  # fmt: skip
    await audit.record(
        session, principal.tenant_id, "scheduling.dependent.linked", actor=_actor(principal),
        target_type="patient", target_id=patient.id, patient_id=patient.id,
        details={"relationship": data.relationship},
    )  # fmt: skip
    return _read(link, patient)


async def remove_dependent(session: AsyncSession, principal: Principal, patient_id: uuid.UUID) -> None:
    link = (
        await session.execute(
            select(Dependent).where(Dependent.guardian_user_id == principal.user_id, Dependent.patient_id == patient_id)
        )
    ).scalar_one_or_none()
    if link is None:
        raise NotFound("No such family member on your account.")
    await session.delete(link)
    await session.flush()
    await emit(
        session, principal.tenant_id, "dependent.unlinked",
        {"patient_id": str(patient_id), "guardian_user_id": str(principal.user_id)},
    )  # fmt: skip
    await audit.record(
        session, principal.tenant_id, "scheduling.dependent.unlinked", actor=_actor(principal),
        target_type="patient", target_id=patient_id, patient_id=patient_id,
    )  # fmt: skip
