"""Directory across tenants: tenant A's staff cannot read or change B's profiles and services, cannot
attach B's doctors or services to A's profiles, and lists never show B's rows (checked as the owner)."""

from __future__ import annotations

import httpx

from tests.api.helpers import assert_problem, field_errors, scalar
from tests.directory.conftest import Market, make_market
from tests.factories import Factory

SECRET = "Zebediah"


async def _pair(factory: Factory) -> tuple[Market, Market, str, str, str]:
    a, b = await make_market(factory), await make_market(factory)
    a_pid = str(await a.doctor("Dr. Alpha"))
    b_service = str(await b.service(f"{SECRET} consult", 1000))
    b_pid = str(await b.doctor(f"Dr. {SECRET}", services=[b_service]))
    return a, b, a_pid, b_pid, b_service


async def test_other_tenants_profiles_and_services_are_404(factory: Factory, client: httpx.AsyncClient):
    a, b, _, b_pid, b_service = await _pair(factory)
    for r in (
        await client.get(f"/api/v1/practitioners/{b_pid}", headers=a.headers),
        await client.patch(f"/api/v1/practitioners/{b_pid}", json={"bio": "x"}, headers=a.headers),
        await client.put(f"/api/v1/practitioners/{b_pid}/specialties", json={"codes": ["ent"]}, headers=a.headers),
        await client.put(f"/api/v1/practitioners/{b_pid}/services", json={"service_ids": []}, headers=a.headers),
        await client.patch(f"/api/v1/services/{b_service}", json={"price_minor": 1}, headers=a.headers),
    ):
        assert_problem(r, 404)
        assert SECRET not in r.text
    assert await scalar(factory.owner, "SELECT bio FROM practitioners WHERE id = :p", p=b_pid) == ""
    assert await scalar(factory.owner, "SELECT price_minor FROM services WHERE id = :s", s=b_service) == 1000
    assert await scalar(factory.owner, "SELECT count(*) FROM practitioner_services WHERE practitioner_id = :p",
                        p=b_pid) == 1  # fmt: skip


async def test_lists_show_only_own_rows(factory: Factory, client: httpx.AsyncClient):
    a, *_ = await _pair(factory)
    for path in ("/api/v1/practitioners", "/api/v1/services"):
        r = await client.get(path, headers=a.headers)
        assert r.status_code == 200 and SECRET not in r.text


async def test_cannot_attach_another_tenants_doctor_or_service(factory: Factory, client: httpx.AsyncClient):
    a, b, a_pid, _, b_service = await _pair(factory)
    b_doctor = await factory.user(b.tenant, "doctor")
    r = await client.post(
        "/api/v1/practitioners", json={"membership_id": str(b_doctor.membership_id), "display_name": "Dr. Stolen"},
        headers=a.headers,
    )  # fmt: skip
    assert "membership_id" in field_errors(assert_problem(r, 422))
    r = await client.put(f"/api/v1/practitioners/{a_pid}/services", json={"service_ids": [b_service]},
                         headers=a.headers)  # fmt: skip
    assert "service_ids" in field_errors(assert_problem(r, 422))
    assert await scalar(factory.owner, "SELECT count(*) FROM practitioners WHERE membership_id = :m",
                        m=b_doctor.membership_id) == 0  # fmt: skip


async def test_public_profile_shows_only_published_data(factory: Factory, client: httpx.AsyncClient):
    _, b, _, b_pid, _ = await _pair(factory)
    r = await client.get(f"/api/v1/directory/practitioners/{b_pid}")
    assert r.status_code == 200 and r.json()["tenant_id"] == str(b.tenant.id)
    assert "calendar_token" not in r.text and "membership_id" not in r.text
    await client.patch(f"/api/v1/practitioners/{b_pid}", json={"is_published": False}, headers=b.headers)
    assert_problem(await client.get(f"/api/v1/directory/practitioners/{b_pid}"), 404)
