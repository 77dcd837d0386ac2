"""The organisation settings page (/admin/settings): the whole tenant policy on one form for those who may change it
(the API's permission), validated by the API's schema with inline errors, saved through ``update_policy`` (audited,
only the fields that changed) with a one-time message; others get an audited 403, and a forged form is refused."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest
from sqlalchemy import update

from carebase.tenancy.models import Organization
from tests.api.helpers import scalar
from tests.factories import Factory, TenantInfo, UserInfo
from tests.web.helpers import field_error, web_login

FORM = {"cancellation_cutoff_hours": "2", "booking_horizon_days": "180", "quiet_hours_start": "21:00",
        "quiet_hours_end": "08:00"}  # fmt: skip


async def _settings(owner_sessionmaker, tenant: TenantInfo) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    return await scalar(owner_sessionmaker, "SELECT settings FROM organizations WHERE id = :t", t=tenant.id)  # type: ignore[no-any-return]


async def _policy_events(owner_sessionmaker, tenant: TenantInfo) -> list[Any]:  # type: ignore[no-untyped-def]
    return await scalar(  # type: ignore[no-any-return]
        owner_sessionmaker,
        "SELECT coalesce(json_agg(json_build_object('fields', details->'fields', 'actor', actor_user_id) ORDER BY seq),"
        " '[]') FROM audit_events WHERE tenant_id = :t AND action = 'tenancy.policy.updated'", t=tenant.id,
    )  # fmt: skip


def _checked(html: str, name: str) -> bool:
    tag = re.search(rf'<input type="checkbox" id="f-{name}" name="{name}"[^>]*>', html)
    assert tag, name
    return " checked" in tag.group(0)


async def _admin(client, factory: Factory) -> tuple[TenantInfo, UserInfo]:  # type: ignore[no-untyped-def]
    tenant = await factory.tenant()
    admin = await factory.user(tenant, "hospital_admin")
    await web_login(client, admin)
    return tenant, admin


async def test_the_page_shows_the_current_policy(client, factory: Factory):
    tenant, _ = await _admin(client, factory)
    async with factory.owner() as s, s.begin():
        await s.execute(update(Organization).where(Organization.id == tenant.id).values(settings={
            "device_approval_required": True, "cancellation_cutoff_hours": 6, "booking_horizon_days": 90,
            "marketplace": True, "quiet_hours_enabled": True, "quiet_hours_start": "22:00",
            "quiet_hours_end": "06:30"}))  # fmt: skip
    page = await client.get("/admin/settings")
    assert page.status_code == 200
    html = page.text
    assert '<a href="/admin/settings" aria-current="page">Settings</a>' in html
    assert html.index('href="/admin/settings"') < html.index('href="/account"')  # before "Account" in the nav
    for name, value in (("cancellation_cutoff_hours", "6"), ("booking_horizon_days", "90"),
                        ("quiet_hours_start", "22:00"), ("quiet_hours_end", "06:30")):  # fmt: skip
        assert re.search(rf'id="f-{name}" name="{name}" type="(number|time)" value="{value}"', html), name
    for name in ("device_approval_required", "marketplace", "quiet_hours_enabled"):
        assert _checked(html, name), name
    for section in ("Booking rules", "Sign-in", "Marketplace", "Notifications quiet hours"):
        assert f">{section}</h2>" in html
    # Each field has its plain hint; the numbers' ranges come from the API's schema.
    assert "0 to 168 hours." in html and "1 to 730 days." in html and 'min="1" max="730"' in html
    assert 'id="f-device_approval_required-help"' in html and "Times in Asia/Kolkata." in html
    # The booking card left the locations page.
    assert "booking_horizon_days" not in (await client.get("/admin/locations")).text


async def test_saving_changes_the_policy_audits_the_fields_and_says_so_once(client, factory: Factory,
                                                                          owner_sessionmaker):  # fmt: skip
    tenant, admin = await _admin(client, factory)
    token = client.cookies["cb_csrf"]
    form = {**FORM, "csrf_token": token, "cancellation_cutoff_hours": "12", "booking_horizon_days": "60"}
    r = await client.post("/admin/settings", data=form)
    assert r.status_code == 303 and r.headers["location"] == "/admin/settings"
    settings = await _settings(owner_sessionmaker, tenant)
    assert settings["cancellation_cutoff_hours"] == 12 and settings["booking_horizon_days"] == 60
    assert settings["device_approval_required"] is False and not settings.get("quiet_hours_enabled")
    events = await _policy_events(owner_sessionmaker, tenant)
    assert events == [{"fields": ["booking_horizon_days", "cancellation_cutoff_hours"], "actor": str(admin.id)}]
    page = await client.get("/admin/settings")
    assert "The settings are saved." in page.text and 'value="60"' in page.text and 'value="12"' in page.text
    assert "The settings are saved." not in (await client.get("/admin/settings")).text  # one time only
    # Saving the same values again writes nothing; switching one on writes only that field.
    assert (await client.post("/admin/settings", data=form)).status_code == 303
    assert len(await _policy_events(owner_sessionmaker, tenant)) == 1
    r = await client.post("/admin/settings", data={**form, "quiet_hours_enabled": "on", "quiet_hours_start": "22:30"})
    assert r.status_code == 303
    settings = await _settings(owner_sessionmaker, tenant)
    assert settings["quiet_hours_enabled"] is True and settings["quiet_hours_start"].startswith("22:30")
    assert (await _policy_events(owner_sessionmaker, tenant))[-1]["fields"] == ["quiet_hours_enabled",
                                                                                 "quiet_hours_start"]  # fmt: skip


@pytest.mark.parametrize(
    ("name", "bad", "message"),
    [
        ("booking_horizon_days", "0", "Enter a whole number of days from 1 to 730."),
        ("booking_horizon_days", "731", "Enter a whole number of days from 1 to 730."),
        ("booking_horizon_days", "", "Enter a whole number of days from 1 to 730."),
        ("cancellation_cutoff_hours", "-1", "Enter a whole number of hours from 0 to 168."),
        ("cancellation_cutoff_hours", "200", "Enter a whole number of hours from 0 to 168."),
        ("cancellation_cutoff_hours", "2.5", "Enter a whole number of hours from 0 to 168."),
        ("quiet_hours_start", "soon", "Enter a time like 21:30."),
        ("quiet_hours_start", "25:00", "Enter a time like 21:30."),
        ("quiet_hours_end", "", "Enter a time like 21:30."),
    ],
)
async def test_bad_values_come_back_inline_and_change_nothing(client, factory: Factory, owner_sessionmaker,
                                                              name: str, bad: str, message: str):  # fmt: skip
    tenant, _ = await _admin(client, factory)
    before = await _settings(owner_sessionmaker, tenant)
    form = {**FORM, "csrf_token": client.cookies["cb_csrf"], "cancellation_cutoff_hours": "9",
            "marketplace": "on", name: bad}  # fmt: skip
    r = await client.post("/admin/settings", data=form)
    assert r.status_code == 422
    assert field_error(r.text, name) == message
    assert "Nothing was saved." in r.text and 'aria-invalid="true"' in r.text
    # What was typed is kept, the good fields and the switches too.
    assert f'name="{name}" type=' in r.text and re.search(rf'name="{name}" type="\w+" value="{re.escape(bad)}"', r.text)
    if name != "cancellation_cutoff_hours":
        assert 'name="cancellation_cutoff_hours" type="number" value="9"' in r.text
    assert _checked(r.text, "marketplace") and not _checked(r.text, "device_approval_required")
    assert [n for n in FORM if field_error(r.text, n)] == [name]
    assert await _settings(owner_sessionmaker, tenant) == before
    assert await _policy_events(owner_sessionmaker, tenant) == []


@pytest.mark.parametrize("role", ["receptionist", "doctor"])
async def test_staff_without_the_permission_get_403_and_it_is_audited(client, factory: Factory, owner_sessionmaker,
                                                                       role: str):  # fmt: skip
    tenant = await factory.tenant()
    user = await factory.user(tenant, role)
    await web_login(client, user)
    assert 'href="/admin/settings"' not in (await client.get("/")).text
    assert (await client.get("/admin/settings")).status_code == 403
    r = await client.post("/admin/settings", data={**FORM, "booking_horizon_days": "5",
                                                   "csrf_token": client.cookies["cb_csrf"]})  # fmt: skip
    assert r.status_code == 403
    assert "booking_horizon_days" not in await _settings(owner_sessionmaker, tenant)
    denials = await scalar(
        owner_sessionmaker,
        "SELECT count(*) FROM audit_events WHERE tenant_id = :t AND action = 'access.denied' AND outcome = 'denied'"
        " AND actor_user_id = :u AND details->>'path' = '/admin/settings'"
        " AND details->>'permission' = 'tenancy.organization.manage'", t=tenant.id, u=user.id,
    )  # fmt: skip
    assert denials == 2


async def test_a_forged_form_is_refused(client, factory: Factory, owner_sessionmaker):
    tenant, _ = await _admin(client, factory)
    before = await _settings(owner_sessionmaker, tenant)
    for token in ({"csrf_token": "forged-" + uuid.uuid4().hex}, {}):
        r = await client.post("/admin/settings", data={**FORM, "booking_horizon_days": "7", **token})
        assert r.status_code == 403 and "This form has expired" in r.text
    assert await _settings(owner_sessionmaker, tenant) == before
    assert await _policy_events(owner_sessionmaker, tenant) == []
