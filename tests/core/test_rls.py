"""Row-level security: the app's role sees one tenant's rows only, even with no WHERE clause,
and nothing at all when no tenant is set."""

import pytest
from sqlalchemy import text

from carebase.core.db import set_context
from carebase.core.uow import unit_of_work

TENANT_TABLES = ["patients", "memberships", "locations", "departments", "devices", "audit_events", "outbox",
                 "idempotency_keys", "audit_heads"]


async def test_unfiltered_select_sees_only_current_tenant(db, factory):
    a, b = await factory.tenant(), await factory.tenant()
    pa = await factory.patient(a, given="Alpha")
    pb = await factory.patient(b, given="Beta")
    async with unit_of_work(db, tenant_id=a.id) as s:
        rows = (await s.execute(text("SELECT id, tenant_id FROM patients"))).all()
        assert {r.tenant_id for r in rows} == {a.id}
        assert pa in {r.id for r in rows} and pb not in {r.id for r in rows}


@pytest.mark.parametrize("table", TENANT_TABLES)
async def test_no_tenant_set_means_no_rows(db, factory, table):
    tenant = await factory.tenant()
    await factory.patient(tenant)  # ensures rows exist in patients, audit_events, audit_heads
    async with unit_of_work(db) as s:
        count = (await s.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one()  # noqa: S608
        assert count == 0


async def test_cannot_write_into_another_tenant(db, factory):
    a, b = await factory.tenant(), await factory.tenant()
    async with unit_of_work(db, tenant_id=a.id) as s:
        with pytest.raises(Exception, match="row-level security"):
            await s.execute(
                text("INSERT INTO locations (id, tenant_id, name, country, timezone) "
                     "VALUES (gen_random_uuid(), :b, 'Sneaky', 'IN', 'Asia/Kolkata')"),
                {"b": b.id},
            )


async def test_cannot_update_or_delete_other_tenants_rows(db, factory):
    a, b = await factory.tenant(), await factory.tenant()
    pb = await factory.patient(b, given="Untouched")
    async with unit_of_work(db, tenant_id=a.id) as s:
        updated = await s.execute(text("UPDATE patients SET given_name = 'Changed' WHERE id = :id"), {"id": pb})
        deleted = await s.execute(text("DELETE FROM patients WHERE id = :id"), {"id": pb})
        assert updated.rowcount == 0 and deleted.rowcount == 0
    async with unit_of_work(db, tenant_id=b.id) as s:
        name = (await s.execute(text("SELECT given_name FROM patients WHERE id = :id"), {"id": pb})).scalar_one()
        assert name == "Untouched"


async def test_app_role_cannot_bypass_rls_or_own_tables(db):
    async with unit_of_work(db) as s:
        role = (await s.execute(text(
            "SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user"))).one()
        assert role == (False, False)
        owned = (await s.execute(text(
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tableowner = current_user"))).scalar_one()
        assert owned == 0
        with pytest.raises(Exception, match="permission denied|must be owner"):
            await s.execute(text("ALTER TABLE patients DISABLE ROW LEVEL SECURITY"))


async def test_tenant_context_is_transaction_local(db, factory):
    a = await factory.tenant()
    await factory.patient(a)
    async with unit_of_work(db, tenant_id=a.id) as s:
        assert (await s.execute(text("SELECT count(*) FROM patients"))).scalar_one() >= 1
    # A new transaction on a pooled connection starts with no tenant.
    async with unit_of_work(db) as s:
        assert (await s.execute(text("SELECT count(*) FROM patients"))).scalar_one() == 0
        await set_context(s, tenant_id=a.id)
        assert (await s.execute(text("SELECT count(*) FROM patients"))).scalar_one() >= 1
