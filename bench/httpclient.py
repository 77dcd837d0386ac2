"""A lean HTTP/1.1 keep-alive client for the closed-loop benches (hold + confirm, contention).

httpx costs ~5 ms of client CPU per booking: on a 2-core machine the load generator then takes a third
of the machine from the server and PostgreSQL it is measuring. This client does only what the benches
need: one connection, requests written as prebuilt bytes, responses parsed by httptools (C), bodies
decoded by orjson. It is a load generator, not a general client (no redirects, no chunked requests,
no TLS)."""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import urlencode

import httptools
import orjson


class Response:
    __slots__ = ("status_code", "content")

    def __init__(self, status_code: int, content: bytes) -> None:
        self.status_code = status_code
        self.content = content

    def json(self) -> Any:
        return orjson.loads(self.content)

    def raise_for_status(self) -> None:
        if self.status_code >= 400:
            raise RuntimeError(f"HTTP {self.status_code}: {self.content[:200]!r}")


class _Parsed:
    def __init__(self) -> None:
        self.body: list[bytes] = []
        self.done = False

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        self.done = True


class LeanClient:
    """Same surface as the parts of ``httpx.AsyncClient`` the benches use: ``get``, ``post``, ``aclose``."""

    def __init__(self, host: str, port: int, headers: dict[str, str]) -> None:
        self.host, self.port = host, port
        fixed = {"Host": f"{host}:{port}", "Connection": "keep-alive", **headers}
        self._headers = "".join(f"{k}: {v}\r\n" for k, v in fixed.items()).encode()
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def _request(self, method: str, target: str, body: bytes | None) -> Response:
        if self._writer is None:
            self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
        assert self._reader is not None
        head = f"{method} {target} HTTP/1.1\r\n".encode() + self._headers
        if body is not None:
            head += b"Content-Type: application/json\r\nContent-Length: " + str(len(body)).encode() + b"\r\n"
        self._writer.write(head + b"\r\n" + (body or b""))
        parsed = _Parsed()
        parser = httptools.HttpResponseParser(parsed)
        while not parsed.done:
            chunk = await self._reader.read(65536)
            if not chunk:
                raise ConnectionError("the server closed the connection")
            parser.feed_data(chunk)
        return Response(parser.get_status_code(), b"".join(parsed.body))

    async def get(self, path: str, params: dict[str, Any] | None = None) -> Response:
        return await self._request("GET", f"{path}?{urlencode(params)}" if params else path, None)

    async def post(self, path: str, json: Any = None) -> Response:
        return await self._request("POST", path, orjson.dumps(json) if json is not None else b"")

    async def aclose(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
