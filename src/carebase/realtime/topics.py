"""Live topics and who may hear them. Every topic names one object of one tenant; the subscriber's
tenant comes from their token, and lookups run under row-level security in that tenant, so another
tenant's location or practitioner simply does not exist.

- ``board:<location_id>``: a location's front-desk board; staff with APPOINTMENTS_READ.
- ``doctor:<practitioner_id>``: a practitioner's day; that practitioner, or staff with APPOINTMENTS_READ.
- ``user:<user_id>``: one user's notifications; only that user."""

from __future__ import annotations

import uuid

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from carebase.identity.principal import Principal
from carebase.scheduling.permissions import SchedulingPermission as P

KINDS = ("board", "doctor", "user")
MAX_TOPIC_LENGTH = 120


def parse(topic: object) -> tuple[str, uuid.UUID] | None:
    if not isinstance(topic, str) or len(topic) > MAX_TOPIC_LENGTH or ":" not in topic:
        return None
    kind, _, ident = topic.partition(":")
    if kind not in KINDS:
        return None
    try:
        value = uuid.UUID(ident)
    except ValueError:
        return None
    if str(value) != ident.lower():
        return None
    return kind, value


def canonical(kind: str, ident: uuid.UUID | str) -> str:
    return f"{kind}:{uuid.UUID(str(ident))}"


async def allowed(session: AsyncSession, principal: Principal, kind: str, ident: uuid.UUID) -> bool:
    """May ``principal`` hear this topic? ``session`` is in the principal's tenant (RLS applies)."""
    if kind == "user":
        return ident == principal.user_id
    if kind == "board":
        if not principal.can(P.APPOINTMENTS_READ):
            return False
        found = await session.execute(text("SELECT 1 FROM locations WHERE id = :id"), {"id": ident})
        return found.first() is not None
    if kind == "doctor":
        row = (await session.execute(
            text("SELECT membership_id FROM practitioners WHERE id = :id"), {"id": ident}
        )).first()  # fmt: skip
        if row is None:
            return False
        return row[0] == principal.membership_id or principal.can(P.APPOINTMENTS_READ)
    return False
