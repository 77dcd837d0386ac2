"""Admin API for a tenant's people: staff and the devices they sign in from."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query

from carebase.core.api import PageParams
from carebase.core.schemas import Page
from carebase.identity import devices, staff
from carebase.identity.api_account import device_read
from carebase.identity.deps import Ctx, require
from carebase.identity.permissions import IdentityPermission as P
from carebase.identity.schemas import DeviceRead, StaffInvite, StaffRead, StaffRole, StaffUpdate

router = APIRouter(tags=["staff and devices"])

StaffReader = Annotated[Ctx, Depends(require(P.STAFF_READ))]
StaffManager = Annotated[Ctx, Depends(require(P.STAFF_MANAGE))]
DeviceManager = Annotated[Ctx, Depends(require(P.DEVICES_MANAGE))]


@router.get("/staff", response_model=Page[StaffRead])
async def list_staff(
    ctx: StaffReader,
    page: PageParams,
    q: Annotated[str | None, Query(max_length=100)] = None,
    role: StaffRole | None = None,
    status: Literal["active", "invited", "deactivated"] | None = None,
) -> Page[StaffRead]:
    items, cursor = await staff.list_staff(ctx.session, ctx.principal, page, q=q, role=role, status=status)
    return Page(items=items, next_cursor=cursor)


@router.post("/staff", response_model=StaffRead, status_code=201)
async def invite_staff(body: StaffInvite, ctx: StaffManager) -> StaffRead:
    return await staff.invite(ctx.session, ctx.principal, body)


@router.patch("/staff/{membership_id}", response_model=StaffRead)
async def update_staff(membership_id: uuid.UUID, body: StaffUpdate, ctx: StaffManager) -> StaffRead:
    return await staff.update(ctx.session, ctx.principal, membership_id, body)


@router.get("/devices", response_model=list[DeviceRead])
async def list_devices(
    ctx: DeviceManager, status: Literal["pending", "approved", "revoked"] | None = None
) -> list[DeviceRead]:
    return [device_read(d, u) for d, u in await devices.list_devices(ctx.session, ctx.principal, status=status)]


@router.post("/devices/{device_id}/approve", response_model=DeviceRead)
async def approve_device(device_id: uuid.UUID, ctx: DeviceManager) -> DeviceRead:
    device = await devices.decide(ctx.session, ctx.principal, device_id, "approve")
    return await _read_one(ctx, device.id)


@router.post("/devices/{device_id}/revoke", response_model=DeviceRead)
async def revoke_device(device_id: uuid.UUID, ctx: DeviceManager) -> DeviceRead:
    device = await devices.decide(ctx.session, ctx.principal, device_id, "revoke")
    return await _read_one(ctx, device.id)


async def _read_one(ctx: Ctx, device_id: uuid.UUID) -> DeviceRead:
    return device_read(*await devices.get_device(ctx.session, ctx.principal, device_id))
