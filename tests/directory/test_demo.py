"""Demo data: each demo tenant publishes four doctors with specialties, languages and services."""

from __future__ import annotations

import uuid

import httpx

from carebase.core.db import set_context
from carebase.demo import TENANTS, seed_demo_directory
from carebase.identity.models import Membership, User
from carebase.tenancy.models import Location, Organization
from tests.directory.conftest import listings, search_all
from tests.factories import Factory


async def test_demo_directory_is_searchable(factory: Factory, client: httpx.AsyncClient):
    spec = {**next(t for t in TENANTS if t["slug"] == "riverside"), "domain": f"{uuid.uuid4().hex[:8]}.example"}
    city = f"Demotown{uuid.uuid4().hex[:6]}"
    async with factory.owner() as s, s.begin():
        org = Organization(name="Demo Riverside", slug=f"d-{uuid.uuid4().hex[:10]}", kind="clinic", country="GB",
                           currency="GBP", timezone="Europe/London", settings={"marketplace": True})  # fmt: skip
        s.add(org)
        await s.flush()
        await set_context(s, tenant_id=org.id)
        s.add(Location(tenant_id=org.id, name="Riverside Clinic", country="GB", timezone="Europe/London", city=city,
                       latitude=51.5055, longitude=-0.0754))  # fmt: skip
        user = User(email=f"doctor@{spec['domain']}", full_name="Dr. James Whitfield")
        s.add(user)
        await s.flush()
        membership = Membership(tenant_id=org.id, user_id=user.id, role="doctor")
        s.add(membership)
        await s.flush()
        logins = await seed_demo_directory(s, org, spec, [(membership, "Dr. James Whitfield")], "x")
    assert len(logins) == 3
    rows = await listings(factory, tenant_id=org.id)
    assert len(rows) == 4
    assert {(r["min_price_minor"], r["max_price_minor"], r["currency"]) for r in rows} == {(3000, 6000, "GBP")}
    found = await search_all(client, city=city, q="Witfield")
    assert [i["name"] for i in found] == ["Dr. James Whitfield"]
    skin = await search_all(client, city=city, q="eczema", mode="video")
    assert [i["name"] for i in skin] == ["Dr. Sarah Collins"]
