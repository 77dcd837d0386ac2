"""Structured logs: one JSON line per request with request id, route, status and latency, and no
passwords, codes or tokens anywhere in the log output."""

import logging

import orjson

from carebase.core.logging import JsonFormatter
from tests.factories import Factory


class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []
        self.setFormatter(JsonFormatter())

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


async def test_request_log_is_json_and_free_of_secrets(client, factory: Factory, mailbox):
    handler = _Capture()
    root = logging.getLogger()
    root.addHandler(handler)
    old_level = root.level
    root.setLevel(logging.INFO)
    try:
        tenant = await factory.tenant()
        doctor = await factory.user(tenant, "doctor")
        tokens = await factory.login(doctor)
        await client.post("/api/v1/auth/login", json={"email": doctor.email, "password": "wrong-password-123"})
        patient_user = await factory.user(tenant, "patient", password=None)
        await factory.patient(tenant, user=patient_user)
        seen = len(mailbox.to(patient_user.email))
        await client.post("/api/v1/auth/otp/request", json={"destination": patient_user.email})
        code = mailbox.code(await mailbox.wait_for(patient_user.email, after=seen))
        r = await client.get("/api/v1/me", headers={"Authorization": f"Bearer {tokens['access_token']}",
                                                    "X-Request-ID": "trace-me-123"})
        assert r.headers["x-request-id"] == "trace-me-123"
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)

    records = [orjson.loads(line) for line in handler.lines]
    requests = [r for r in records if r.get("msg") == "request"]
    me = next(r for r in requests if r.get("request_id") == "trace-me-123")
    assert me["route"] == "/api/v1/me" and me["status"] == 200 and me["latency_ms"] >= 0
    assert me["tenant"] == str(tenant.id) and me["actor"] == str(doctor.id)
    blob = "\n".join(handler.lines)
    for secret in (doctor.password, "wrong-password-123", code, tokens["access_token"], tokens["refresh_token"]):
        assert secret not in blob
