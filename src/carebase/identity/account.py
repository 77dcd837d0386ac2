"""The signed-in user's own account: profile with memberships (one query, it is on every page)."""

from __future__ import annotations

import orjson
from sqlalchemy.ext.asyncio import AsyncSession

from carebase.core.db import driver_connection
from carebase.identity.principal import Principal
from carebase.identity.schemas import MembershipRead, MeRead

_ME_SQL = """
    SELECT u.full_name, u.email, u.phone, u.mfa_enabled_at IS NOT NULL AS mfa_enabled,
           coalesce((SELECT json_agg(json_build_object(
                        'id', m.id, 'tenant_id', m.tenant_id, 'tenant_name', o.name,
                        'role', m.role, 'status', m.status) ORDER BY o.name)
                     FROM memberships m JOIN organizations o ON o.id = m.tenant_id
                     WHERE m.user_id = u.id AND m.status = 'active' AND o.status = 'active'), '[]') AS memberships
    FROM users u WHERE u.id = $1
"""


async def me(session: AsyncSession, principal: Principal) -> MeRead:
    row = await (await driver_connection(session)).fetchrow(_ME_SQL, principal.user_id)
    assert row is not None
    raw = row["memberships"]
    if isinstance(raw, str):  # the pool's connections decode json already; a bare asyncpg one does not
        raw = orjson.loads(raw)
    memberships = [MembershipRead(**m) for m in raw]
    tenant_name = next((m.tenant_name for m in memberships if m.tenant_id == principal.tenant_id), "")
    return MeRead(
        id=principal.user_id, full_name=row["full_name"], email=row["email"], phone=row["phone"],
        role=principal.role, tenant_id=principal.tenant_id, tenant_name=tenant_name,
        membership_id=principal.membership_id, mfa_enabled=row["mfa_enabled"],
        mfa_enrolment_required=principal.mfa_pending, permissions=sorted(principal.permissions),
        memberships=memberships,
    )  # fmt: skip
