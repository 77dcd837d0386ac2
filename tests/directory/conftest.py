"""Directory test helpers: organisations that publish to the marketplace, practitioners and services
created through the API like a real client, and listings read back as the database owner."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from carebase.tenancy.models import Location, Organization
from tests.factories import Factory, TenantInfo, UserInfo


@dataclass
class Market:
    """One organisation in the marketplace, its admin signed in."""

    factory: Factory
    tenant: TenantInfo
    admin: UserInfo
    headers: dict[str, str]
    currency: str
    services: dict[str, uuid.UUID] = field(default_factory=dict)

    @property
    def client(self) -> httpx.AsyncClient:
        return self.factory.client

    async def service(self, name: str, price: int, *, mode: str = "in_person", minutes: int = 15) -> uuid.UUID:
        r = await self.client.post(
            "/api/v1/services",
            json={"name": name, "duration_minutes": minutes, "price_minor": price, "currency": self.currency,
                  "mode": mode},
            headers=self.headers,
        )  # fmt: skip
        assert r.status_code == 201, r.text
        self.services[name] = uuid.UUID(r.json()["id"])
        return self.services[name]

    async def doctor(
        self,
        name: str,
        *,
        specialties: list[str] | None = None,
        languages: list[str] | None = None,
        services: list[uuid.UUID] | None = None,
        qualifications: str = "MBBS",
    ) -> uuid.UUID:
        """A doctor membership and its practitioner profile (created by the admin); returns the profile id."""
        user = await self.factory.user(self.tenant, "doctor")
        body: dict[str, Any] = {
            "membership_id": str(user.membership_id), "display_name": name, "qualifications": qualifications,
            "languages": languages or ["en"], "specialties": specialties or [],
        }  # fmt: skip
        r = await self.client.post("/api/v1/practitioners", json=body, headers=self.headers)
        assert r.status_code == 201, r.text
        pid = uuid.UUID(r.json()["id"])
        if services:
            r = await self.client.put(
                f"/api/v1/practitioners/{pid}/services",
                json={"service_ids": [str(s) for s in services]},
                headers=self.headers,
            )
            assert r.status_code == 200, r.text
        return pid

    async def next_free(self, practitioner_id: uuid.UUID, at: datetime | None) -> None:
        """What the scheduling context does after bookings and schedule changes."""
        async with self.factory.owner() as s, s.begin():
            await s.execute(
                text("UPDATE directory_listings SET next_free_at = :at WHERE practitioner_id = :p"),
                {"at": at, "p": practitioner_id},
            )


async def make_market(
    factory: Factory,
    *,
    city: str | None = None,
    lat: float | None = 12.9716,
    lon: float | None = 77.5946,
    currency: str = "INR",
    country: str = "IN",
    tz: str = "Asia/Kolkata",
    marketplace: bool = True,
    name: str | None = None,
) -> Market:
    slug = f"m-{uuid.uuid4().hex[:10]}"
    city = city or f"City{uuid.uuid4().hex[:8]}"
    async with factory.owner() as s, s.begin():
        org = Organization(
            name=name or f"Clinic {slug}", slug=slug, kind="clinic", country=country, currency=currency, timezone=tz,
            settings={"device_approval_required": False, "cancellation_cutoff_hours": 2, "marketplace": marketplace},
        )  # fmt: skip
        s.add(org)
        await s.flush()
        location = Location(
            tenant_id=org.id, name=f"{city} Centre", country=country, timezone=tz, city=city, latitude=lat,
            longitude=lon,
        )  # fmt: skip
        s.add(location)
        await s.flush()
        tenant = TenantInfo(org.id, slug, org.name, location.id)
    admin = await factory.user(tenant, "hospital_admin")
    headers = await factory.headers(admin)
    return Market(factory, tenant, admin, headers, currency)


async def listings(factory: Factory, **where: Any) -> list[dict[str, Any]]:
    clause = " AND ".join(f"{k} = :{k}" for k in where) or "true"
    async with factory.owner() as s:
        rows = await s.execute(text(f"SELECT * FROM directory_listings WHERE {clause}"), where)  # noqa: S608
        return [dict(r._mapping) for r in rows]


async def search(client: httpx.AsyncClient, **params: Any) -> dict[str, Any]:
    r = await client.get("/api/v1/directory/search", params={k: v for k, v in params.items() if v is not None})
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def search_all(client: httpx.AsyncClient, **params: Any) -> list[dict[str, Any]]:
    """Every page of a search, following the cursor."""
    items: list[dict[str, Any]] = []
    cursor = None
    for _ in range(50):
        page = await search(client, cursor=cursor, **params)
        items += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return items
    raise AssertionError("too many pages")


@pytest.fixture
async def market(factory: Factory) -> Market:
    return await make_market(factory)
