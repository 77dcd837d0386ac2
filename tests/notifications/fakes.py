"""HTTP fakes that speak the providers' protocols, served by uvicorn on 127.0.0.1 in the test process:
Twilio's Messages API (form, basic auth), the WhatsApp Cloud API (JSON, bearer token) and a web push service
(VAPID header, aes128gcm body decrypted with the subscription's private key)."""

from __future__ import annotations

import asyncio
import base64
import socket
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from cryptography.hazmat.primitives.asymmetric import ec
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from carebase.notifications import webpush

SID, TOKEN, SENDER = "AC" + "1" * 32, "twilio-test-token", "+15005550006"
PHONE_ID, WA_TOKEN = "1234567890", "wa-test-token"


@dataclass
class Provider:
    received: list[dict[str, Any]] = field(default_factory=list)
    fail_with: int | None = None  # answer this status instead
    push_key: ec.EllipticCurvePrivateKey = field(default_factory=lambda: ec.generate_private_key(ec.SECP256R1()))
    push_auth: bytes = b"0123456789abcdef"

    async def twilio(self, request: Request) -> Response:
        assert request.path_params["sid"] == SID
        expected = "Basic " + base64.b64encode(f"{SID}:{TOKEN}".encode()).decode()
        if request.headers.get("authorization") != expected:
            return JSONResponse({"code": 20003, "message": "Authenticate"}, status_code=401)
        assert request.headers["content-type"].startswith("application/x-www-form-urlencoded")
        form = dict(await request.form())
        assert set(form) >= {"To", "From", "Body"} and form["From"] == SENDER and form["To"].startswith("+")
        if self.fail_with:
            return JSONResponse({"code": 21211, "message": "Invalid 'To' Phone Number"}, status_code=self.fail_with)
        sid = f"SM{len(self.received):032d}"
        self.received.append({"provider": "sms", "sid": sid, **form})
        return JSONResponse({"sid": sid, "status": "queued"}, status_code=201)

    async def whatsapp(self, request: Request) -> Response:
        assert request.path_params["version"] == "v21.0" and request.path_params["phone_id"] == PHONE_ID
        if request.headers.get("authorization") != f"Bearer {WA_TOKEN}":
            return JSONResponse({"error": {"message": "Invalid OAuth access token", "code": 190}}, status_code=401)
        body = await request.json()
        assert body["messaging_product"] == "whatsapp" and body["type"] == "text" and body["to"].isdigit()
        if self.fail_with:
            return JSONResponse({"error": {"message": "(#131030) Recipient not in allowed list"}},
                                status_code=self.fail_with)  # fmt: skip
        wamid = f"wamid.{len(self.received)}"
        self.received.append({"provider": "whatsapp", "id": wamid, **body})
        return JSONResponse({"messaging_product": "whatsapp", "messages": [{"id": wamid}]})

    async def push(self, request: Request) -> Response:
        assert request.headers["content-encoding"] == "aes128gcm"
        if self.fail_with:
            return Response(status_code=self.fail_with)  # e.g. 410: the subscription is gone
        auth = request.headers["authorization"]
        assert auth.startswith("vapid t=") and ", k=" in auth
        plaintext = webpush.decrypt(await request.body(), self.push_key, self.push_auth)
        self.received.append({"provider": "push", "payload": plaintext.decode(), "authorization": auth})
        return Response(status_code=201, headers={"Location": f"/push/msg/{len(self.received)}"})

    def subscription_keys(self) -> tuple[str, str]:
        from cryptography.hazmat.primitives import serialization

        raw = self.push_key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        return webpush.b64u(raw), webpush.b64u(self.push_auth)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def serve(provider: Provider) -> tuple[str, uvicorn.Server, asyncio.Task[None]]:
    app = Starlette(routes=[
        Route("/2010-04-01/Accounts/{sid}/Messages.json", provider.twilio, methods=["POST"]),
        Route("/{version}/{phone_id}/messages", provider.whatsapp, methods=["POST"]),
        Route("/push/{sub}", provider.push, methods=["POST"]),
    ])  # fmt: skip
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    task = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110  (uvicorn exposes a flag, not an event)
        await asyncio.sleep(0.01)
    return f"http://127.0.0.1:{port}", server, task
