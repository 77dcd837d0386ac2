"""Tenancy API: tenants (platform admin), the organisation's policy, locations, departments."""

from __future__ import annotations

import uuid
from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from carebase.identity.deps import Ctx, require
from carebase.tenancy import service
from carebase.tenancy.permissions import TenancyPermission as P
from carebase.tenancy.schemas import (
    DepartmentCreate,
    DepartmentRead,
    DepartmentUpdate,
    LocationCreate,
    LocationRead,
    LocationUpdate,
    PolicyRead,
    PolicyUpdate,
    TenantCreate,
    TenantRead,
    TenantUpdate,
)

router = APIRouter(tags=["organisations"])

TenantsAdmin = Annotated[Ctx, Depends(require(P.TENANTS_MANAGE))]
OrgAdmin = Annotated[Ctx, Depends(require(P.ORGANIZATION_MANAGE))]
LocationReader = Annotated[Ctx, Depends(require(P.LOCATIONS_READ))]
LocationManager = Annotated[Ctx, Depends(require(P.LOCATIONS_MANAGE))]
DepartmentReader = Annotated[Ctx, Depends(require(P.DEPARTMENTS_READ))]
DepartmentManager = Annotated[Ctx, Depends(require(P.DEPARTMENTS_MANAGE))]


@router.get("/tenants", response_model=list[TenantRead])
async def list_tenants(ctx: TenantsAdmin, q: Annotated[str | None, Query(max_length=100)] = None) -> list[TenantRead]:
    return [TenantRead.model_validate(t) for t in await service.list_tenants(ctx.session, ctx.principal, q)]


@router.post("/tenants", response_model=TenantRead, status_code=201)
async def create_tenant(body: TenantCreate, ctx: TenantsAdmin) -> TenantRead:
    return TenantRead.model_validate(await service.create_tenant(ctx.session, ctx.principal, body))


@router.patch("/tenants/{tenant_id}", response_model=TenantRead)
async def update_tenant(tenant_id: uuid.UUID, body: TenantUpdate, ctx: TenantsAdmin) -> TenantRead:
    return TenantRead.model_validate(await service.update_tenant(ctx.session, ctx.principal, tenant_id, body))


@router.get("/organization/policy", response_model=PolicyRead)
async def read_policy(ctx: OrgAdmin) -> PolicyRead:
    p = await service.tenant_policy(ctx.session, ctx.principal.tenant_id)
    return PolicyRead(**asdict(p))


@router.patch("/organization/policy", response_model=PolicyRead)
async def update_policy(body: PolicyUpdate, ctx: OrgAdmin) -> PolicyRead:
    p = await service.update_policy(ctx.session, ctx.principal, body)
    return PolicyRead(**asdict(p))


@router.get("/locations", response_model=list[LocationRead])
async def list_locations(ctx: LocationReader) -> list[LocationRead]:
    return [LocationRead.model_validate(x) for x in await service.list_locations(ctx.session, ctx.principal)]


@router.post("/locations", response_model=LocationRead, status_code=201)
async def create_location(body: LocationCreate, ctx: LocationManager) -> LocationRead:
    return LocationRead.model_validate(await service.create_location(ctx.session, ctx.principal, body))


@router.get("/locations/{location_id}", response_model=LocationRead)
async def read_location(location_id: uuid.UUID, ctx: LocationReader) -> LocationRead:
    return LocationRead.model_validate(await service.get_location(ctx.session, location_id))


@router.patch("/locations/{location_id}", response_model=LocationRead)
async def update_location(location_id: uuid.UUID, body: LocationUpdate, ctx: LocationManager) -> LocationRead:
    return LocationRead.model_validate(await service.update_location(ctx.session, ctx.principal, location_id, body))


@router.get("/departments", response_model=list[DepartmentRead])
async def list_departments(ctx: DepartmentReader) -> list[DepartmentRead]:
    return [DepartmentRead.model_validate(x) for x in await service.list_departments(ctx.session, ctx.principal)]


@router.post("/departments", response_model=DepartmentRead, status_code=201)
async def create_department(body: DepartmentCreate, ctx: DepartmentManager) -> DepartmentRead:
    return DepartmentRead.model_validate(await service.create_department(ctx.session, ctx.principal, body))


@router.patch("/departments/{department_id}", response_model=DepartmentRead)
async def update_department(department_id: uuid.UUID, body: DepartmentUpdate, ctx: DepartmentManager) -> DepartmentRead:
    department = await service.update_department(ctx.session, ctx.principal, department_id, body)
    return DepartmentRead.model_validate(department)
