"""Form handling for the web: read a posted form, validate it with the API's own schemas, and put
every error (ours or pydantic's) next to the field it belongs to."""

from __future__ import annotations

from typing import Any, TypeVar

from fastapi import Request
from pydantic import BaseModel, ValidationError

from carebase.core.errors import CarebaseError

M = TypeVar("M", bound=BaseModel)

# Fields whose typed value is never echoed back into the page.
SECRET_FIELDS = {"password", "current_password", "new_password", "confirm_password", "code", "csrf_token"}

_FRIENDLY = {
    "missing": "This field is required.",
    "string_too_short": "This is too short.",
    "string_too_long": "This is too long.",
    "literal_error": "Choose one of the options.",
    "uuid_parsing": "Choose one of the options.",
    "date_from_datetime_parsing": "Enter a date like 1990-04-23.",
    "date_parsing": "Enter a date like 1990-04-23.",
    "float_parsing": "Enter a number.",
    "int_parsing": "Enter a whole number.",
    "bool_parsing": "Choose yes or no.",
    "extra_forbidden": "This field is not expected.",
}


def _message(err: dict[str, Any]) -> str:
    kind = err.get("type", "")
    msg = str(err.get("msg", ""))
    if kind == "string_too_short":
        least = (err.get("ctx") or {}).get("min_length", 1)
        return "This field is required." if least <= 1 else f"Use at least {least} characters."
    if kind == "string_pattern_mismatch":
        return "This is not in the expected format."
    if kind in ("value_error", "assertion_error"):
        msg = msg.removeprefix("Value error, ").removeprefix("Assertion failed, ")
        if "email address" in msg:
            return "Enter a valid email address."
        return msg[:1].upper() + msg[1:] + ("" if msg.endswith(".") else ".")
    if kind in ("greater_than_equal", "less_than_equal", "greater_than", "less_than"):
        return msg[:1].upper() + msg[1:] + "."
    return _FRIENDLY.get(kind, msg[:1].upper() + msg[1:] if msg else "This value is not valid.")


def field_of(loc: Any) -> str:
    parts = [str(p) for p in (loc or []) if str(p) not in ("body", "query")]
    return parts[0] if parts else "__all__"


def errors_from_validation(exc: ValidationError) -> dict[str, str]:
    found: dict[str, str] = {}
    for err in exc.errors():
        found.setdefault(field_of(err.get("loc")), _message(dict(err)))
    return found


def errors_from_service(exc: CarebaseError) -> dict[str, str]:
    """A service error as {field: message}; errors that name no field go under ``__all__``."""
    found: dict[str, str] = {}
    for err in exc.errors or []:
        found.setdefault(field_of(err.get("loc")), str(err.get("msg", exc.detail)))
    if not found:
        found["__all__"] = exc.detail
    return found


async def read_form(request: Request) -> dict[str, str]:
    form = await request.form()
    return {k: v.strip() if isinstance(v, str) else "" for k, v in form.items() if k != "csrf_token"}


def keep(values: dict[str, str]) -> dict[str, str]:
    """What the page may show again after an error: everything typed except secrets."""
    return {k: v for k, v in values.items() if k not in SECRET_FIELDS}


def blank_to_none(values: dict[str, str], *names: str) -> dict[str, Any]:
    data: dict[str, Any] = dict(values)
    for name in names:
        if data.get(name, "") == "":
            data[name] = None
    return data


def validate(model: type[M], data: dict[str, Any]) -> tuple[M | None, dict[str, str]]:
    try:
        return model.model_validate(data), {}
    except ValidationError as exc:
        return None, errors_from_validation(exc)
    except CarebaseError as exc:  # a validator that raised our own error (e.g. phone numbers)
        return None, errors_from_service(exc)
