"""The dead-letter screen: a hospital admin sees its organisation's, the platform admin every one's; Retry and
Discard swap the row with htmx (CSRF checked); others get 403 and no link in the navigation."""

from __future__ import annotations

import re

import asyncpg
import pytest

from carebase.core.bootstrap import asyncpg_dsn
from carebase.core.ids import new_id
from tests.factories import Factory
from tests.web.helpers import web_login


@pytest.fixture
async def dead(database_url):  # type: ignore[no-untyped-def]
    """Insert dead outbox events: ``await dead(tenant_id, topic)`` returns the id; removed afterwards."""
    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    made: list = []

    async def add(tenant_id, topic: str = "test.dead", error: str = "smtp: ConnectionRefusedError"):  # type: ignore[no-untyped-def]
        event_id = new_id()
        await conn.execute(
            "INSERT INTO outbox (id, tenant_id, topic, payload, status, attempts, last_error)"
            " VALUES ($1, $2, $3, '{}', 'dead', 8, $4)", event_id, tenant_id, topic, error,
        )  # fmt: skip
        made.append(event_id)
        return event_id

    yield add
    await conn.execute("DELETE FROM outbox WHERE id = ANY($1::uuid[])", made)
    await conn.close()


def _hx(client) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {"HX-Request": "true", "X-CSRF-Token": client.cookies["cb_csrf"]}


async def test_admin_lists_retries_and_discards_own_tenant_only(client, factory: Factory, dead):
    tenant = await factory.tenant()
    other = await factory.tenant()
    admin = await factory.user(tenant, "hospital_admin")
    mine = await dead(tenant.id, "notification.email", "smtp: <script>alert(1)</script>")
    second = await dead(tenant.id, "job.requested")
    theirs = await dead(other.id, "test.elsewhere")
    await web_login(client, admin)
    home = await client.get("/")
    assert 'href="/admin/dead-letters"' in home.text
    page = await client.get("/admin/dead-letters")
    assert page.status_code == 200
    assert f'id="dead-{mine}"' in page.text and f'id="dead-{second}"' in page.text
    assert f'id="dead-{theirs}"' not in page.text and "test.elsewhere" not in page.text
    assert "&lt;script&gt;" in page.text and "<script>alert" not in page.text  # the error text is escaped
    assert tenant.name in page.text
    assert 'hx-confirm="Discard this event?' in page.text
    # Retry (htmx): the row comes back queued, without buttons.
    r = await client.post(f"/admin/dead-letters/{mine}/retry", headers=_hx(client))
    assert r.status_code == 200 and r.text.strip().startswith(f'<tr id="dead-{mine}"')
    assert "Queued again" in r.text and "/retry" not in r.text
    # Discard without htmx: a redirect back; then it is gone from the list.
    r = await client.post(f"/admin/dead-letters/{second}/discard", data={"csrf_token": client.cookies["cb_csrf"]})
    assert r.status_code == 303
    page = await client.get("/admin/dead-letters")
    assert f'id="dead-{mine}"' not in page.text and f'id="dead-{second}"' not in page.text
    # Again: a note in the row, not an error page.
    r = await client.post(f"/admin/dead-letters/{second}/retry", headers=_hx(client))
    assert r.status_code == 200 and "not dead" in r.text
    # Another organisation's event: not found.
    r = await client.post(f"/admin/dead-letters/{theirs}/discard", headers=_hx(client))
    assert r.status_code == 404


async def test_empty_state_and_csrf(client, factory: Factory, dead):
    tenant = await factory.tenant()
    admin = await factory.user(tenant, "hospital_admin")
    await web_login(client, admin)
    page = await client.get("/admin/dead-letters")
    assert "No dead letters" in page.text
    event = await dead(tenant.id)
    r = await client.post(f"/admin/dead-letters/{event}/discard", data={"csrf_token": "forged-" + "y" * 40})
    assert r.status_code == 403 and "This form has expired" in r.text
    r = await client.post(f"/admin/dead-letters/{event}/discard", headers={"HX-Request": "true"})
    assert r.status_code == 403
    page = await client.get("/admin/dead-letters")
    assert f'id="dead-{event}"' in page.text


async def test_platform_admin_sees_every_tenant(client, factory: Factory, dead):
    a, b = await factory.tenant(), await factory.tenant()
    ea, eb = await dead(a.id), await dead(b.id)
    platform = await factory.user(None, "platform_admin")
    await web_login(client, platform)
    page = await client.get("/admin/dead-letters")
    assert page.status_code == 200
    assert f'id="dead-{ea}"' in page.text and f'id="dead-{eb}"' in page.text
    assert a.name in page.text and b.name in page.text
    r = await client.post(f"/admin/dead-letters/{eb}/retry", headers=_hx(client))
    assert r.status_code == 200 and "Queued again" in r.text


@pytest.mark.parametrize("role", ["doctor", "receptionist", "patient"])
async def test_others_are_refused_and_see_no_link(client, factory: Factory, role):
    tenant = await factory.tenant()
    user = await factory.user(tenant, role)
    await web_login(client, user)
    home = await client.get("/", follow_redirects=True)
    assert not re.search(r'href="/admin/dead-letters"', home.text)
    assert (await client.get("/admin/dead-letters")).status_code == 403
