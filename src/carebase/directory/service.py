"""Directory commands and queries for a tenant's staff: practitioner profiles and services.

Every command audits, emits an outbox event and rebuilds the affected public listings in the same
transaction (``listings.rebuild_listings``); the cache switches generation after commit."""

from __future__ import annotations

import uuid
from collections import defaultdict
from typing import Any

from sqlalchemy import delete, func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from carebase.audit import service as audit
from carebase.core.crypto import random_token
from carebase.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from carebase.core.outbox import emit
from carebase.core.pagination import PageRequest, finish, paginate
from carebase.directory import schemas
from carebase.directory.listings import rebuild_listings
from carebase.directory.models import Practitioner, PractitionerService, PractitionerSpecialty, Service, Specialty
from carebase.directory.permissions import DirectoryPermission as P
from carebase.identity.models import Membership
from carebase.identity.principal import Principal
from carebase.tenancy.models import Organization

PRACTITIONER_SORTS = {"display_name": Practitioner.display_name, "created_at": Practitioner.created_at}
SERVICE_SORTS = {"name": Service.name, "created_at": Service.created_at}
# Fields only a profile manager (hospital admin) may change; doctors edit the rest of their own.
MANAGER_ONLY = {"is_active"}


def _actor(principal: Principal) -> audit.Actor:
    return audit.Actor(principal.user_id, principal.role)


# --- specialties ----------------------------------------------------------------------------------


async def list_specialties(session: AsyncSession) -> list[Specialty]:
    return list((await session.execute(select(Specialty).order_by(Specialty.name))).scalars())


async def _specialties_by_code(session: AsyncSession, codes: list[str], field: str) -> list[Specialty]:
    wanted = list(dict.fromkeys(codes))
    if not wanted:
        return []
    found = {s.code: s for s in (await session.execute(select(Specialty).where(Specialty.code.in_(wanted)))).scalars()}
    unknown = [c for c in wanted if c not in found]
    if unknown:
        raise ValidationFailed.field(field, "Unknown specialty: " + ", ".join(sorted(unknown)) + ".")
    return [found[c] for c in wanted]


# --- practitioner profiles ------------------------------------------------------------------------


async def _read_models(session: AsyncSession, rows: list[Practitioner]) -> list[schemas.PractitionerRead]:
    """Profiles with their specialties and service ids: two queries for any number of profiles."""
    ids = [p.id for p in rows]
    specialties: dict[uuid.UUID, list[schemas.SpecialtyRead]] = defaultdict(list)
    services: dict[uuid.UUID, list[uuid.UUID]] = defaultdict(list)
    if ids:
        spec_rows = await session.execute(
            select(PractitionerSpecialty.practitioner_id, Specialty.code, Specialty.name)
            .join(Specialty, Specialty.id == PractitionerSpecialty.specialty_id)
            .where(PractitionerSpecialty.practitioner_id.in_(ids))
            .order_by(Specialty.name)
        )
        for pid, code, name in spec_rows:
            specialties[pid].append(schemas.SpecialtyRead(code=code, name=name))
        svc_rows = await session.execute(
            select(PractitionerService.practitioner_id, PractitionerService.service_id)
            .where(PractitionerService.practitioner_id.in_(ids))
            .order_by(PractitionerService.service_id)
        )
        for pid, sid in svc_rows:
            services[pid].append(sid)
    return [
        schemas.PractitionerRead(
            id=p.id, membership_id=p.membership_id, display_name=p.display_name, qualifications=p.qualifications,
            bio=p.bio, languages=list(p.languages), photo_url=p.photo_url, approves_bookings=p.approves_bookings,
            is_published=p.is_published, is_active=p.is_active, specialties=specialties[p.id],
            service_ids=services[p.id], created_at=p.created_at, updated_at=p.updated_at,
        )  # fmt: skip
        for p in rows
    ]


async def list_practitioners(
    session: AsyncSession, principal: Principal, page: PageRequest
) -> tuple[list[schemas.PractitionerRead], str | None]:
    query = paginate(
        select(Practitioner), page, sorts=PRACTITIONER_SORTS, default_sort="display_name", id_column=Practitioner.id
    )
    rows = list((await session.execute(query)).scalars())
    kept, cursor = finish(rows, page, "display_name")
    return await _read_models(session, kept), cursor


async def _practitioner(session: AsyncSession, practitioner_id: uuid.UUID) -> Practitioner:
    practitioner = await session.get(Practitioner, practitioner_id)
    if practitioner is None:
        raise NotFound("No such practitioner.")
    return practitioner


async def get_practitioner(
    session: AsyncSession, principal: Principal, practitioner_id: uuid.UUID
) -> schemas.PractitionerRead:
    return (await _read_models(session, [await _practitioner(session, practitioner_id)]))[0]


def _check_editor(principal: Principal, membership_id: uuid.UUID) -> None:
    if principal.can(P.PROFILES_MANAGE):
        return
    if principal.can(P.PROFILE_OWN) and membership_id == principal.membership_id:
        return
    raise PermissionDenied("You may change only your own profile.")


async def _editable(session: AsyncSession, principal: Principal, practitioner_id: uuid.UUID) -> Practitioner:
    practitioner = await _practitioner(session, practitioner_id)
    _check_editor(principal, practitioner.membership_id)
    return practitioner


async def _changed(
    session: AsyncSession, principal: Principal, practitioner: Practitioner, action: str, details: dict[str, Any]
) -> schemas.PractitionerRead:
    """The common tail of every profile command: listing, audit (last: it locks the chain head), event."""
    await session.flush()
    await session.refresh(practitioner)
    listed = await rebuild_listings(session, practitioner.id, principal.tenant_id)
    topic = "practitioner.created" if action.endswith("created") else "practitioner.updated"
    await emit(session, principal.tenant_id, topic, {"practitioner_id": str(practitioner.id), "listed": listed})
    await audit.record(
        session, principal.tenant_id, action, actor=_actor(principal),
        target_type="practitioner", target_id=practitioner.id, details=details,
    )  # fmt: skip
    return (await _read_models(session, [practitioner]))[0]


async def create_practitioner(
    session: AsyncSession, principal: Principal, data: schemas.PractitionerCreate
) -> schemas.PractitionerRead:
    """A practitioner profile for an active doctor of this organisation (one per membership)."""
    _check_editor(principal, data.membership_id)
    membership = await session.get(Membership, data.membership_id)
    if membership is None or membership.tenant_id != principal.tenant_id:
        raise ValidationFailed.field("membership_id", "No such staff member in this organisation.")
    if membership.role != "doctor" or membership.status != "active":
        raise ValidationFailed.field("membership_id", "Only an active doctor can have a practitioner profile.")
    specialties = await _specialties_by_code(session, data.specialties, "specialties")
    practitioner = Practitioner(
        tenant_id=principal.tenant_id, calendar_token=random_token(24),
        **data.model_dump(exclude={"specialties"}),
    )  # fmt: skip
    session.add(practitioner)
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError as exc:
        raise Conflict(
            "This doctor already has a profile.", errors=[{"loc": ["membership_id"], "msg": "Already has a profile."}]
        ) from exc
    await _add_specialties(session, principal.tenant_id, practitioner.id, specialties)
    return await _changed(
        session, principal, practitioner, "directory.practitioner.created",
        {"specialties": [s.code for s in specialties]},
    )  # fmt: skip


async def _add_specialties(
    session: AsyncSession, tenant_id: uuid.UUID, practitioner_id: uuid.UUID, specialties: list[Specialty]
) -> None:
    if specialties:
        await session.execute(
            insert(PractitionerSpecialty),
            [{"tenant_id": tenant_id, "practitioner_id": practitioner_id, "specialty_id": s.id} for s in specialties],
        )


async def update_practitioner(
    session: AsyncSession, principal: Principal, practitioner_id: uuid.UUID, data: schemas.PractitionerUpdate
) -> schemas.PractitionerRead:
    practitioner = await _editable(session, principal, practitioner_id)
    changes = data.model_dump(exclude_unset=True)
    for key, value in changes.items():
        if value is None and key not in ("photo_url",):
            raise ValidationFailed.field(key, "This field cannot be empty.")
        if key in MANAGER_ONLY and not principal.can(P.PROFILES_MANAGE):
            raise PermissionDenied(
                "Only an administrator can change this.", errors=[{"loc": [key], "msg": "Admin only."}]
            )
        setattr(practitioner, key, value)
    return await _changed(
        session, principal, practitioner, "directory.practitioner.updated", {"fields": sorted(changes)}
    )


async def set_specialties(
    session: AsyncSession, principal: Principal, practitioner_id: uuid.UUID, data: schemas.SpecialtiesSet
) -> schemas.PractitionerRead:
    practitioner = await _editable(session, principal, practitioner_id)
    specialties = await _specialties_by_code(session, data.codes, "codes")
    await session.execute(delete(PractitionerSpecialty).where(PractitionerSpecialty.practitioner_id == practitioner.id))
    await _add_specialties(session, principal.tenant_id, practitioner.id, specialties)
    practitioner.updated_at = func.now()
    return await _changed(
        session, principal, practitioner, "directory.practitioner.specialties_set",
        {"specialties": [s.code for s in specialties]},
    )  # fmt: skip


async def set_services(
    session: AsyncSession, principal: Principal, practitioner_id: uuid.UUID, data: schemas.ServicesSet
) -> schemas.PractitionerRead:
    """Which of the organisation's active services this practitioner offers (replaces the set)."""
    practitioner = await _editable(session, principal, practitioner_id)
    wanted = list(dict.fromkeys(data.service_ids))
    if wanted:
        found = set(
            (await session.execute(select(Service.id).where(Service.id.in_(wanted), Service.is_active))).scalars()
        )
        missing = [str(s) for s in wanted if s not in found]
        if missing:
            raise ValidationFailed.field(
                "service_ids", "No such active service in this organisation: " + ", ".join(missing)
            )
    await session.execute(delete(PractitionerService).where(PractitionerService.practitioner_id == practitioner.id))
    practitioner.updated_at = func.now()
    if wanted:
        await session.execute(
            insert(PractitionerService),
            [{"tenant_id": principal.tenant_id, "practitioner_id": practitioner.id, "service_id": s} for s in wanted],
        )
    return await _changed(
        session, principal, practitioner, "directory.practitioner.services_set",
        {"service_ids": [str(s) for s in wanted]},
    )  # fmt: skip


# --- services -------------------------------------------------------------------------------------


def _service_read(service: Service, codes: dict[uuid.UUID, str]) -> schemas.ServiceRead:
    return schemas.ServiceRead(
        id=service.id, name=service.name, specialty=codes.get(service.specialty_id) if service.specialty_id else None,
        duration_minutes=service.duration_minutes, price_minor=service.price_minor, currency=service.currency,
        mode=service.mode, payment=service.payment, is_active=service.is_active,
    )  # fmt: skip


async def _specialty_codes(session: AsyncSession) -> dict[uuid.UUID, str]:
    return {s.id: s.code for s in await list_specialties(session)}


async def list_services(
    session: AsyncSession, principal: Principal, page: PageRequest
) -> tuple[list[schemas.ServiceRead], str | None]:
    query = paginate(select(Service), page, sorts=SERVICE_SORTS, default_sort="name", id_column=Service.id)
    rows = list((await session.execute(query)).scalars())
    kept, cursor = finish(rows, page, "name")
    codes = await _specialty_codes(session)
    return [_service_read(s, codes) for s in kept], cursor


async def _check_currency(session: AsyncSession, principal: Principal, currency: str) -> None:
    org = await session.get(Organization, principal.tenant_id)
    assert org is not None
    if currency != org.currency:
        raise ValidationFailed.field("currency", f"Prices in this organisation are in {org.currency}.")


async def _service_changed(
    session: AsyncSession, principal: Principal, service: Service, action: str, details: dict[str, Any]
) -> schemas.ServiceRead:
    await session.flush()
    await session.refresh(service)
    offering = list(
        (
            await session.execute(
                select(PractitionerService.practitioner_id).where(PractitionerService.service_id == service.id)
            )
        ).scalars()
    )
    for practitioner_id in offering:
        await rebuild_listings(session, practitioner_id, principal.tenant_id)
    topic = "service.created" if action.endswith("created") else "service.updated"
    await emit(session, principal.tenant_id, topic, {"service_id": str(service.id)})
    await audit.record(
        session, principal.tenant_id, action, actor=_actor(principal),
        target_type="service", target_id=service.id, details=details,
    )  # fmt: skip
    return _service_read(service, await _specialty_codes(session))


async def create_service(
    session: AsyncSession, principal: Principal, data: schemas.ServiceCreate
) -> schemas.ServiceRead:
    await _check_currency(session, principal, data.currency)
    specialty = (await _specialties_by_code(session, [data.specialty], "specialty"))[0] if data.specialty else None
    service = Service(
        tenant_id=principal.tenant_id, specialty_id=specialty.id if specialty else None,
        **data.model_dump(exclude={"specialty"}),
    )  # fmt: skip
    session.add(service)
    return await _service_changed(session, principal, service, "directory.service.created", {})


async def update_service(
    session: AsyncSession, principal: Principal, service_id: uuid.UUID, data: schemas.ServiceUpdate
) -> schemas.ServiceRead:
    service = await session.get(Service, service_id)
    if service is None:
        raise NotFound("No such service.")
    changes = data.model_dump(exclude_unset=True)
    for key, value in changes.items():
        if value is None and key != "specialty":
            raise ValidationFailed.field(key, "This field cannot be empty.")
    if "currency" in changes:
        await _check_currency(session, principal, changes["currency"])
    if "specialty" in changes:
        code = changes.pop("specialty")
        service.specialty_id = (await _specialties_by_code(session, [code], "specialty"))[0].id if code else None
    for key, value in changes.items():
        setattr(service, key, value)
    return await _service_changed(
        session, principal, service, "directory.service.updated", {"fields": sorted(data.model_fields_set)}
    )
