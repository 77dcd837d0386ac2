"""Operations: health, readiness, metrics, request ids, security headers, error bodies without
internals, and the generated permissions document."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

from carebase.identity.rbac import render_markdown
from tests.api.helpers import assert_problem

ROOT = Path(__file__).resolve().parents[2]


async def test_health_ready_and_metrics(client):
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = (await client.get("/readyz")).json()
    assert ready["status"] == "ready" and ready["database"] == "ok" and ready["migrations"]
    assert_problem(await client.get("/api/v1/me"), 401)
    metrics = (await client.get("/metrics")).text
    assert "carebase_http_requests_total" in metrics
    assert re.search(r'carebase_http_requests_total\{method="GET",route="/healthz",status="200"\} \d', metrics)
    # Routes are labelled by template, so ids never blow up the label set.
    assert 'route="/api/v1/me",status="401"' in metrics
    assert "carebase_http_request_duration_seconds_bucket" in metrics


async def test_request_id_is_echoed_or_generated(client):
    r = await client.get("/healthz", headers={"X-Request-ID": "abc-123.X_y"})
    assert r.headers["x-request-id"] == "abc-123.X_y"
    generated = (await client.get("/healthz")).headers["x-request-id"]
    assert re.fullmatch(r"[0-9a-f]{32}", generated)
    for unsafe in ("a" * 65, "has space", "new\\nline", "<script>"):
        r = await client.get("/healthz", headers={"X-Request-ID": unsafe})
        assert r.headers["x-request-id"] != unsafe and re.fullmatch(r"[0-9a-f]{32}", r.headers["x-request-id"])


@pytest.mark.parametrize("url", ["/healthz", "/api/v1/me", "/api/v1/nope", "/openapi.json"])
async def test_security_headers_on_every_response(client, url):
    r = await client.get(url)
    csp = r.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp and "default-src 'self'" in csp and "script-src 'self'" in csp
    assert "unsafe-inline" not in csp
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["referrer-policy"] == "strict-origin-when-cross-origin"
    assert r.headers["x-frame-options"] == "DENY"
    assert "strict-transport-security" not in r.headers  # plain http here; HSTS only behind https


async def test_unknown_routes_and_methods_are_problems(client):
    assert_problem(await client.get("/api/v1/nope"), 404)
    assert_problem(await client.delete("/api/v1/auth/login"), 405)


async def test_an_unexpected_error_shows_no_internals(settings, db):
    from carebase.app import create_app

    app = create_app(settings, db=db)

    @app.get("/api/v1/_boom")
    async def boom() -> None:
        raise RuntimeError("secret internal detail: password=hunter2")

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        r = await c.get("/api/v1/_boom", headers={"X-Request-ID": "boom-1"})
    body = assert_problem(r, 500)
    assert "hunter2" not in r.text and "RuntimeError" not in r.text and "File " not in r.text
    assert body["type"].endswith("internal") and r.headers["x-request-id"] == "boom-1"
    assert r.headers["x-content-type-options"] == "nosniff"


def test_permissions_doc_is_current():
    path = ROOT / "docs" / "permissions.md"
    assert path.read_text() == render_markdown(), "run `carebase permissions-doc` and commit docs/permissions.md"


def test_every_role_has_a_column_and_every_permission_a_row():
    from carebase.identity.rbac import all_permissions
    from carebase.identity.roles import Role

    doc = render_markdown()
    for role in Role:
        assert role.label in doc
    for _, permission, _ in all_permissions():
        assert f"`{permission}`" in doc
