"""The CLI against the test database: demo seeding (once), migrate current, create-admin."""

import pytest
from typer.testing import CliRunner

from carebase.cli import app as cli
from carebase.demo import DEMO_PASSWORD


@pytest.fixture
def runner(settings):
    # The CLI reads CAREBASE_DATABASE_URL, which the session fixtures point at the test database.
    return CliRunner()


async def test_seed_demo_once_then_demo_staff_can_sign_in(runner, client):
    import asyncio

    first = await asyncio.to_thread(runner.invoke, cli, ["seed-demo"])
    assert first.exit_code == 0, first.output
    assert "doctor@riverside.example" in first.output
    second = await asyncio.to_thread(runner.invoke, cli, ["seed-demo"])
    assert second.exit_code == 0 and "already there" in second.output
    r = await client.post("/api/v1/auth/login", json={"email": "doctor@riverside.example", "password": DEMO_PASSWORD})
    assert r.status_code == 200, r.text
    patients = await client.get("/api/v1/patients", headers={"Authorization": f"Bearer {r.json()['access_token']}"})
    assert patients.status_code == 200 and len(patients.json()["items"]) == 8
    # Sunrise requires device approval: a doctor's first sign-in waits for the admin.
    r = await client.post("/api/v1/auth/login", json={"email": "doctor@sunrise.example", "password": DEMO_PASSWORD})
    assert r.status_code == 202 and r.json()["status"] == "device_pending"


async def test_migrate_current_reports_head(runner):
    import asyncio

    result = await asyncio.to_thread(runner.invoke, cli, ["migrate", "current"])
    assert result.exit_code == 0, result.output
    assert "(current)" in result.output


async def test_create_admin_checks_the_password_and_creates_a_platform_admin(runner, client):
    import asyncio

    weak = await asyncio.to_thread(
        runner.invoke, cli, ["create-admin", "--email", "root@example.org", "--name", "Root", "--password", "password"]
    )
    assert weak.exit_code == 2 and "too common" in weak.output
    ok = await asyncio.to_thread(
        runner.invoke, cli,
        ["create-admin", "--email", "root@example.org", "--name", "Root", "--password", "a-long-unusual-phrase"],
    )
    assert ok.exit_code == 0, ok.output
    r = await client.post("/api/v1/auth/login", json={"email": "root@example.org", "password": "a-long-unusual-phrase"})
    assert r.status_code == 200 and r.json()["role"] == "platform_admin"
    assert r.json()["mfa_enrolment_required"] is True
