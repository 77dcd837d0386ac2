"""Typed domain errors and their one rendering: RFC 9457 ``application/problem+json``.

Services raise these; they never raise HTTPException. The handlers in ``install_handlers``
turn every error (ours, validation, HTTP, unexpected) into a problem document without
stack traces.
"""

from __future__ import annotations

import logging
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

log = logging.getLogger("carebase.errors")

PROBLEM_TYPE_BASE = "https://carebase.dev/problems/"


class CarebaseError(Exception):
    status = 400
    code = "bad-request"
    title = "Bad request"

    def __init__(
        self,
        detail: str | None = None,
        *,
        errors: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
        keep_changes: bool = False,
        **extra: Any,
    ) -> None:
        super().__init__(detail or self.title)
        # True when the failure itself is a fact to keep (a failed sign-in, a used-up code
        # attempt, a revoked token family): the unit of work commits instead of rolling back.
        self.keep_changes = keep_changes
        self.detail = detail or self.title
        self.errors = errors
        self.headers = headers or {}
        self.extra = extra


class ValidationFailed(CarebaseError):
    status = 422
    code = "validation-failed"
    title = "The request has invalid fields"

    @classmethod
    def field(cls, loc: str, msg: str, detail: str | None = None) -> ValidationFailed:
        return cls(detail or msg, errors=[{"loc": loc.split("."), "msg": msg, "type": "value_error"}])


class NotAuthenticated(CarebaseError):
    status = 401
    code = "not-authenticated"
    title = "Authentication required"

    def __init__(self, detail: str | None = None, **kw: Any) -> None:
        kw.setdefault("headers", {"WWW-Authenticate": 'Bearer realm="carebase"'})
        super().__init__(detail, **kw)


class PermissionDenied(CarebaseError):
    status = 403
    code = "permission-denied"
    title = "You are not allowed to do this"


class NotFound(CarebaseError):
    status = 404
    code = "not-found"
    title = "Not found"


class Conflict(CarebaseError):
    status = 409
    code = "conflict"
    title = "Conflict with the current state"


class Gone(CarebaseError):
    status = 410
    code = "gone"
    title = "No longer available"


class PayloadTooLarge(CarebaseError):
    status = 413
    code = "payload-too-large"
    title = "The request body is too large"


class RateLimited(CarebaseError):
    status = 429
    code = "rate-limited"
    title = "Too many requests"

    def __init__(self, retry_after: int, detail: str | None = None) -> None:
        super().__init__(detail, headers={"Retry-After": str(max(1, retry_after))}, retry_after=retry_after)


def problem_response(
    status: int,
    title: str,
    detail: str | None = None,
    *,
    code: str | None = None,
    errors: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
    instance: str | None = None,
    **extra: Any,
) -> Response:
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE_BASE + (code or "about-blank"),
        "title": title,
        "status": status,
    }
    if detail:
        body["detail"] = detail
    if instance:
        body["instance"] = instance
    if errors:
        body["errors"] = errors
    body.update(extra)
    return Response(
        orjson.dumps(body), status_code=status, media_type="application/problem+json", headers=headers
    )


def _clean_validation_errors(errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    # Never echo the submitted value back: it may be a password or a code.
    return [
        {"loc": [str(p) for p in e.get("loc", ())], "msg": e.get("msg", ""), "type": e.get("type", "")}
        for e in errors
    ]


def install_handlers(app: FastAPI) -> None:
    @app.exception_handler(CarebaseError)
    async def _carebase(request: Request, exc: CarebaseError) -> Response:
        return problem_response(
            exc.status,
            exc.title,
            exc.detail,
            code=exc.code,
            errors=exc.errors,
            headers=exc.headers,
            instance=request.url.path,
            **exc.extra,
        )

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        errors = _clean_validation_errors(list(exc.errors()))
        malformed = any(e["type"] == "json_invalid" for e in errors)
        return problem_response(
            400 if malformed else 422,
            "Malformed JSON body" if malformed else ValidationFailed.title,
            "The body is not valid JSON." if malformed else "Some fields are missing or invalid.",
            code="malformed-body" if malformed else ValidationFailed.code,
            errors=errors,
            instance=request.url.path,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        titles = {404: "Not found", 405: "Method not allowed", 401: "Authentication required"}
        return problem_response(
            exc.status_code,
            titles.get(exc.status_code, "Request failed"),
            exc.detail if isinstance(exc.detail, str) else None,
            code=str(exc.status_code),
            headers=getattr(exc, "headers", None),
            instance=request.url.path,
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error", extra={"route": request.url.path})
        return problem_response(
            500,
            "Internal server error",
            "Something went wrong on our side. The request id helps support find it.",
            code="internal",
            instance=request.url.path,
        )
