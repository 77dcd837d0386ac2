"""Staff of a tenant: list, invite, change role, deactivate (hospital admin)."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from carebase.audit import service as audit
from carebase.core.clock import utcnow
from carebase.core.crypto import keyed_hash, random_token
from carebase.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from carebase.core.outbox import emit
from carebase.core.pagination import PageRequest, finish, paginate
from carebase.identity import messages
from carebase.identity.models import Membership, OneTimeCode, User
from carebase.identity.principal import Principal
from carebase.identity.schemas import StaffInvite, StaffRead, StaffUpdate
from carebase.identity.sessions import revoke_all_for_user
from carebase.notifications import outbound
from carebase.tenancy.models import Department, Organization

INVITE_LINK_HOURS = 72
SORTS = {"created_at": Membership.created_at, "role": Membership.role}


def _read(m: Membership, u: User) -> StaffRead:
    return StaffRead(
        membership_id=m.id, user_id=u.id, full_name=u.full_name, email=u.email, role=m.role,
        status=m.status, title=m.title, department_id=m.department_id,
        mfa_enabled=u.mfa_enabled_at is not None, created_at=m.created_at,
    )  # fmt: skip


async def list_staff(
    session: AsyncSession,
    principal: Principal,
    page: PageRequest,
    *,
    q: str | None = None,
    role: str | None = None,
    status: str | None = None,
) -> tuple[list[StaffRead], str | None]:
    # Explicit tenant filter: RLS also shows users their own memberships in other tenants.
    query = (
        select(Membership, User)
        .join(User, User.id == Membership.user_id)
        .where(Membership.tenant_id == principal.tenant_id, Membership.role != "patient")
    )
    if role:
        query = query.where(Membership.role == role)
    if status:
        query = query.where(Membership.status == status)
    if q:
        like = f"%{q.strip()}%"
        query = query.where(or_(User.full_name.ilike(like), User.email.ilike(like)))
    query = paginate(query, page, sorts=SORTS, default_sort="-created_at", id_column=Membership.id)
    rows = (await session.execute(query)).all()
    kept, cursor = finish([r[0] for r in rows], page, "-created_at")
    users = {r[0].id: r[1] for r in rows}
    return [_read(m, users[m.id]) for m in kept], cursor


async def invite_member(
    session: AsyncSession,
    principal: Principal,
    tenant_id: uuid.UUID,
    *,
    email: str,
    full_name: str,
    role: str,
    title: str | None = None,
    department_id: uuid.UUID | None = None,
) -> tuple[Membership, User]:
    """Add a staff member: an existing account gets a membership; a new one also gets a link to
    choose a password. The session must be in ``tenant_id``'s context."""
    user = (await session.execute(select(User).where(func.lower(User.email) == email.lower()))).scalar_one_or_none()
    if user is None:
        user = User(email=email, full_name=full_name)
        session.add(user)
        await session.flush()
    existing = (
        await session.execute(
            select(Membership).where(Membership.tenant_id == tenant_id, Membership.user_id == user.id)
        )
    ).scalar_one_or_none()
    if existing is not None:
        raise Conflict("This person already has a role here.", errors=[{"loc": ["email"], "msg": "Already a member."}])
    membership = Membership(
        tenant_id=tenant_id, user_id=user.id, role=role, title=title, department_id=department_id,
        status="active" if user.password_hash else "invited",
    )  # fmt: skip
    session.add(membership)
    await session.flush()
    org = await session.get(Organization, tenant_id)
    token = random_token(32)
    session.add(
        OneTimeCode(
            purpose="password_reset", destination_hash=keyed_hash("reset", token), user_id=user.id,
            code_hash=keyed_hash("reset", token), expires_at=utcnow() + timedelta(hours=INVITE_LINK_HOURS),
        )
    )  # fmt: skip
    if user.password_hash is None:
        outbound.queue(
            session, messages.password_link(email, token, INVITE_LINK_HOURS * 60, invitation_to=org.name if org else "")
        )
    await audit.record(
        session, tenant_id, "identity.staff.invited", actor=audit.Actor(principal.user_id, principal.role),
        target_type="membership", target_id=membership.id, details={"role": role},
    )  # fmt: skip
    await emit(session, tenant_id, "membership.invited", {"membership_id": str(membership.id), "role": role})
    return membership, user


async def invite(session: AsyncSession, principal: Principal, data: StaffInvite) -> StaffRead:
    if data.department_id and await session.get(Department, data.department_id) is None:
        raise ValidationFailed.field("department_id", "No such department in this organisation.")
    membership, user = await invite_member(
        session, principal, principal.tenant_id, email=str(data.email), full_name=data.full_name,
        role=data.role, title=data.title, department_id=data.department_id,
    )  # fmt: skip
    return _read(membership, user)


async def update(session: AsyncSession, principal: Principal, membership_id: uuid.UUID, data: StaffUpdate) -> StaffRead:
    membership = await session.get(Membership, membership_id)
    if membership is None or membership.tenant_id != principal.tenant_id or membership.role == "patient":
        raise NotFound("No such staff member.")
    if membership.role == "platform_admin" and principal.role != "platform_admin":
        raise NotFound("No such staff member.")
    changes = data.model_dump(exclude_unset=True)
    if membership.user_id == principal.user_id and ("role" in changes or changes.get("status") == "deactivated"):
        raise PermissionDenied("You cannot change your own role or deactivate yourself.")
    if "department_id" in changes and changes["department_id"]:
        if await session.get(Department, changes["department_id"]) is None:
            raise ValidationFailed.field("department_id", "No such department in this organisation.")
    for key, value in changes.items():
        if value is None and key in ("role", "status"):
            raise ValidationFailed.field(key, "This field cannot be empty.")
        setattr(membership, key, value)
    if "status" in changes or "role" in changes:
        await emit(
            session, principal.tenant_id, "membership.updated",
            {"membership_id": str(membership.id), "role": membership.role, "status": membership.status},
        )  # fmt: skip
    if changes.get("status") == "deactivated" or "role" in changes:
        await revoke_all_for_user(session, membership.user_id, "membership_changed", tenant_id=membership.tenant_id)
    user = await session.get(User, membership.user_id)
    assert user is not None
    await audit.record(
        session, principal.tenant_id, "identity.staff.updated", actor=audit.Actor(principal.user_id, principal.role),
        target_type="membership", target_id=membership.id,
        details={k: v for k, v in changes.items() if k in ("role", "status")} | {"fields": sorted(changes)},
    )  # fmt: skip
    await session.flush()
    return _read(membership, user)
