"""Provider status callbacks: public, signature-checked (403 on a bad signature), idempotent.

- ``POST /webhooks/sms/status``: Twilio form callback, ``X-Twilio-Signature`` = base64(HMAC-SHA1(auth token,
  URL + each POST parameter name and value, sorted by name)).
- ``GET/POST /webhooks/whatsapp``: Cloud API subscription handshake and status webhooks, ``X-Hub-Signature-256``
  = ``sha256=`` hex(HMAC-SHA256(app secret, raw body)).

The record is found through ``app_notification_by_provider()`` (the callback carries no tenant), then updated
inside its tenant's context."""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse, Response
from sqlalchemy import text

from carebase.core.clock import utcnow
from carebase.core.db import Database
from carebase.core.uow import unit_of_work
from carebase.notifications.service import record_provider_status
from carebase.settings import get_settings

router = APIRouter(include_in_schema=False)


def twilio_signature(token: str, url: str, params: dict[str, str]) -> str:
    data = url + "".join(f"{k}{params[k]}" for k in sorted(params))
    return base64.b64encode(hmac.new(token.encode(), data.encode(), hashlib.sha1).digest()).decode()


def whatsapp_signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


async def _apply(db: Database, channel: str, provider_id: str, status: str, error: str | None) -> None:
    async with unit_of_work(db) as session:
        found = (
            await session.execute(text("SELECT tenant_id, id FROM app_notification_by_provider(:c, :p)"),
                                  {"c": channel, "p": provider_id})
        ).first()  # fmt: skip
        if found is None:
            return
        tenant_id, notification_id = found
        await session.execute(text("SELECT set_config('app.tenant_id', :t, true)"), {"t": str(tenant_id)})
        await record_provider_status(session, uuid.UUID(str(notification_id)), status, error, utcnow())


@router.post("/webhooks/sms/status")
async def sms_status(request: Request) -> Response:
    cfg = get_settings().sms
    form = {k: str(v) for k, v in (await request.form()).items()}
    url = f"{get_settings().public_base_url.rstrip('/')}/webhooks/sms/status"
    given = request.headers.get("X-Twilio-Signature", "")
    if not cfg.auth_token or not hmac.compare_digest(given, twilio_signature(cfg.auth_token.get_secret_value(), url,
                                                                              form)):  # fmt: skip
        return PlainTextResponse("bad signature", status_code=403)
    if form.get("MessageSid") and form.get("MessageStatus"):
        await _apply(request.app.state.db, "sms", form["MessageSid"], form["MessageStatus"], form.get("ErrorCode"))
    return Response(status_code=204)


@router.get("/webhooks/whatsapp")
async def whatsapp_verify(request: Request) -> Response:
    cfg = get_settings().whatsapp
    q = request.query_params
    if (
        cfg.verify_token and q.get("hub.mode") == "subscribe"
        and hmac.compare_digest(q.get("hub.verify_token", ""), cfg.verify_token.get_secret_value())
    ):  # fmt: skip
        return PlainTextResponse(q.get("hub.challenge", ""))
    return PlainTextResponse("forbidden", status_code=403)


@router.post("/webhooks/whatsapp")
async def whatsapp_status(request: Request) -> Response:
    cfg = get_settings().whatsapp
    body = await request.body()
    given = request.headers.get("X-Hub-Signature-256", "")
    if not cfg.app_secret or not hmac.compare_digest(given, whatsapp_signature(cfg.app_secret.get_secret_value(),
                                                                                body)):  # fmt: skip
        return PlainTextResponse("bad signature", status_code=403)
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return PlainTextResponse("bad body", status_code=400)
    for entry in data.get("entry") or []:
        for change in entry.get("changes") or []:
            for status in (change.get("value") or {}).get("statuses") or []:
                errors = status.get("errors") or [{}]
                error = str(errors[0].get("title") or errors[0].get("code") or "") or None
                if status.get("id") and status.get("status"):
                    await _apply(request.app.state.db, "whatsapp", str(status["id"]), str(status["status"]), error)
    return Response(status_code=200)
