"""Shared assertions and small helpers for the API and security suites."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

PROBLEM_JSON = "application/problem+json"


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    """The response is an RFC 9457 problem document with this status (and no stack trace)."""
    assert response.status_code == status, f"{response.status_code} != {status}: {response.text}"
    assert response.headers["content-type"].startswith(PROBLEM_JSON), response.headers["content-type"]
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["title"]
    assert "Traceback" not in response.text
    return body


def field_errors(body: dict[str, Any]) -> dict[str, str]:
    """``{"field": "message"}`` from a problem's ``errors`` (the last part of each ``loc``)."""
    return {e["loc"][-1]: e["msg"] for e in body.get("errors", [])}


def bearer(tokens: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens['access_token']}"}


async def scalar(owner: async_sessionmaker[AsyncSession], sql: str, **params: Any) -> Any:
    """One value read as the database owner (sees every tenant)."""
    async with owner() as s:
        return (await s.execute(text(sql), params)).scalar()


async def audit_actions(
    owner: async_sessionmaker[AsyncSession], tenant_id: uuid.UUID, **filters: Any
) -> list[dict[str, Any]]:
    """The tenant's audit events (oldest first), optionally filtered by exact column values."""
    where = "".join(f" AND {column} = :{column}" for column in filters)
    async with owner() as s:
        rows = await s.execute(
            text(f"SELECT * FROM audit_events WHERE tenant_id = :tenant_id{where} ORDER BY seq"),  # noqa: S608
            {"tenant_id": tenant_id, **filters},
        )
        return [dict(r._mapping) for r in rows]
