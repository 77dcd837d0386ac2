"""Creating the first platform admin (CLI)."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from carebase.audit import service as audit
from carebase.core.db import set_context
from carebase.core.errors import Conflict
from carebase.identity.models import Membership, User
from carebase.identity.passwords import check_new_password, hash_password
from carebase.tenancy.models import PLATFORM_TENANT_ID


async def create_platform_admin(session: AsyncSession, email: str, name: str, password: str) -> User:
    check_new_password(password, email=email)
    existing = (await session.execute(select(User).where(func.lower(User.email) == email.lower()))).scalar_one_or_none()
    user = existing or User(email=email, full_name=name)
    user.password_hash = hash_password(password)
    session.add(user)
    await session.flush()
    await set_context(session, tenant_id=PLATFORM_TENANT_ID, user_id=user.id, platform_admin=True)
    membership = (
        await session.execute(
            select(Membership).where(Membership.tenant_id == PLATFORM_TENANT_ID, Membership.user_id == user.id)
        )
    ).scalar_one_or_none()
    if membership is not None:
        raise Conflict("That user is already a platform admin.")
    session.add(Membership(tenant_id=PLATFORM_TENANT_ID, user_id=user.id, role="platform_admin"))
    await audit.record(
        session, PLATFORM_TENANT_ID, "identity.platform_admin.created", target_type="user", target_id=user.id
    )
    return user
