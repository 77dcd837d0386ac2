"""The public read model: ``directory_listings`` rows, rebuilt in the transaction of every change.

One row per (published practitioner, location): the locations where the practitioner has active
schedule templates or, with none, the tenant's first active location. A practitioner is listed only
while they, their membership and their tenant are active and the tenant publishes to the marketplace
(``organizations.settings["marketplace"]``).

Rebuilding is one statement: an upsert of the rows that should exist, and a delete of that
practitioner's rows that should not. ``next_free_at`` belongs to the scheduling context (it updates
it after bookings and schedule changes), so an upsert never overwrites it; a row for a new location
starts with the practitioner's earliest known value.

Runs in the tenant's context: row-level security limits the source tables to that tenant.
"""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
from sqlalchemy import bindparam, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.types import Uuid

from carebase.core.worker import handler
from carebase.directory.cache import invalidate_after_commit

_REBUILD = text(
    """
WITH wanted AS (
    SELECT p.id AS practitioner_id, l.id AS location_id, o.id AS tenant_id, o.name AS tenant_name,
           p.display_name, p.qualifications, p.photo_url, sp.codes, sp.names, sp.words, p.languages,
           sv.modes, sv.min_price, sv.max_price, o.currency,
           l.name AS location_name, l.city, l.timezone, l.latitude, l.longitude
    FROM practitioners p
    JOIN organizations o ON o.id = p.tenant_id
    JOIN memberships m ON m.id = p.membership_id
    CROSS JOIN LATERAL (
        SELECT coalesce(array_agg(s.code ORDER BY s.name), '{}') AS codes,
               coalesce(array_agg(s.name ORDER BY s.name), '{}') AS names,
               coalesce(string_agg(s.name || ' ' || s.keywords, ' '), '') AS words
        FROM practitioner_specialties ps JOIN specialties s ON s.id = ps.specialty_id
        WHERE ps.practitioner_id = p.id
    ) sp
    CROSS JOIN LATERAL (
        SELECT coalesce(array_agg(DISTINCT s.mode), '{}') AS modes,
               min(s.price_minor) AS min_price, max(s.price_minor) AS max_price
        FROM practitioner_services x JOIN services s ON s.id = x.service_id
        WHERE x.practitioner_id = p.id AND s.is_active AND s.currency = o.currency
    ) sv
    CROSS JOIN LATERAL (
        WITH scheduled AS (
            SELECT DISTINCT l.id FROM schedule_templates t JOIN locations l ON l.id = t.location_id
            WHERE t.practitioner_id = p.id AND t.is_active AND l.is_active
              AND (t.valid_until IS NULL OR t.valid_until >= current_date)
        )
        SELECT l.* FROM locations l
        WHERE l.is_active AND l.tenant_id = p.tenant_id AND (
            l.id IN (SELECT id FROM scheduled)
            OR (NOT EXISTS (SELECT 1 FROM scheduled) AND l.id = (
                SELECT f.id FROM locations f WHERE f.is_active AND f.tenant_id = p.tenant_id
                ORDER BY f.created_at, f.id LIMIT 1)))
    ) l
    WHERE p.id = ANY(:ids) AND p.is_active AND p.is_published AND m.status = 'active' AND m.role = 'doctor'
      AND o.status = 'active' AND coalesce((o.settings ->> 'marketplace')::boolean, false)
),
fresh AS (
    INSERT INTO directory_listings AS d (
        practitioner_id, location_id, tenant_id, tenant_name, practitioner_name, qualifications, photo_url,
        specialty_codes, specialty_names, languages, modes, min_price_minor, max_price_minor, currency,
        location_name, city, timezone, latitude, longitude, next_free_at, updated_at, search)
    SELECT w.practitioner_id, w.location_id, w.tenant_id, w.tenant_name, w.display_name, w.qualifications,
           w.photo_url, w.codes, w.names, w.languages, w.modes, w.min_price, w.max_price, w.currency,
           w.location_name, w.city, w.timezone, w.latitude, w.longitude,
           (SELECT min(k.next_free_at) FROM directory_listings k WHERE k.practitioner_id = w.practitioner_id),
           now(),
           setweight(to_tsvector('simple', w.display_name), 'A')
           || setweight(to_tsvector('simple', w.words), 'B')
           || to_tsvector('simple', w.city || ' ' || w.tenant_name || ' ' || w.qualifications)
    FROM wanted w
    ON CONFLICT (practitioner_id, location_id) DO UPDATE SET
        tenant_id = excluded.tenant_id, tenant_name = excluded.tenant_name,
        practitioner_name = excluded.practitioner_name, qualifications = excluded.qualifications,
        photo_url = excluded.photo_url, specialty_codes = excluded.specialty_codes,
        specialty_names = excluded.specialty_names, languages = excluded.languages, modes = excluded.modes,
        min_price_minor = excluded.min_price_minor, max_price_minor = excluded.max_price_minor,
        currency = excluded.currency, location_name = excluded.location_name, city = excluded.city,
        timezone = excluded.timezone, latitude = excluded.latitude, longitude = excluded.longitude,
        updated_at = excluded.updated_at, search = excluded.search
    RETURNING d.practitioner_id, d.location_id
),
gone AS (
    DELETE FROM directory_listings d
    WHERE d.practitioner_id = ANY(:ids)
      AND NOT EXISTS (SELECT 1 FROM fresh f WHERE f.practitioner_id = d.practitioner_id
                                              AND f.location_id = d.location_id)
    RETURNING 1
)
SELECT (SELECT count(*) FROM fresh) AS listed, (SELECT count(*) FROM gone) AS removed
"""
).bindparams(bindparam("ids", type_=ARRAY(Uuid())))

_TENANT_PRACTITIONERS = text("SELECT id FROM practitioners WHERE tenant_id = :t")
_DROP_TENANT = text("DELETE FROM directory_listings WHERE tenant_id = :t")


async def _rebuild(session: AsyncSession, ids: list[uuid.UUID]) -> tuple[int, int]:
    if not ids:
        return 0, 0
    await session.flush()
    row = (await session.execute(_REBUILD, {"ids": ids})).one()
    return int(row.listed), int(row.removed)


async def rebuild_listings(session: AsyncSession, practitioner_id: uuid.UUID, tenant_id: uuid.UUID) -> int:
    """Rebuild one practitioner's listing rows (in the caller's transaction); returns rows listed."""
    listed, _ = await _rebuild(session, [practitioner_id])
    invalidate_after_commit(session, tenant_id)
    return listed


async def rebuild_tenant_listings(session: AsyncSession, tenant_id: uuid.UUID) -> int:
    """Rebuild every listing of a tenant (its name, status, marketplace flag or a location changed).

    The session must be in that tenant's context."""
    ids = list((await session.execute(_TENANT_PRACTITIONERS, {"t": tenant_id})).scalars())
    if not ids:
        await session.execute(_DROP_TENANT, {"t": tenant_id})
    listed, _ = await _rebuild(session, ids)
    invalidate_after_commit(session, tenant_id)
    return listed


_REBUILD_SQL = str(_REBUILD).replace(":ids", "$1::uuid[]")


async def rebuild_for_membership(conn: asyncpg.Connection, membership_id: uuid.UUID) -> None:
    """Worker side: rebuild the listings of the practitioner tied to a membership whose role or
    status changed (a deactivated doctor leaves the marketplace). Cached answers age out (TTL)."""
    ids = [r["id"] for r in await conn.fetch("SELECT id FROM practitioners WHERE membership_id = $1", membership_id)]
    if ids:
        await conn.execute(_REBUILD_SQL, ids)


@handler("membership.updated")
async def _on_membership_updated(conn: asyncpg.Connection, event: dict[str, Any]) -> None:
    await rebuild_for_membership(conn, uuid.UUID(event["payload"]["membership_id"]))
