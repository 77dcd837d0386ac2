"""First checks that the platform stands up: health, readiness, a staff sign-in and /me."""

from tests.factories import Factory


async def test_health_and_ready(client):
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["status"] == "ready"


async def test_doctor_signs_in_and_reads_me(client, factory: Factory):
    tenant = await factory.tenant()
    doctor = await factory.user(tenant, "doctor")
    me = await client.get("/api/v1/me", headers=await factory.headers(doctor))
    assert me.status_code == 200
    body = me.json()
    assert body["role"] == "doctor" and body["tenant_id"] == str(tenant.id)
    assert "patients.register.read" in body["permissions"]
