"""Keyset (cursor) pagination with a capped page size and allowlisted sort fields."""

from __future__ import annotations

import base64
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import Select, tuple_
from sqlalchemy.orm import InstrumentedAttribute

from carebase.core.errors import ValidationFailed

MAX_PAGE_SIZE = 100
DEFAULT_PAGE_SIZE = 25


@dataclass(frozen=True, slots=True)
class PageRequest:
    limit: int = DEFAULT_PAGE_SIZE
    cursor: str | None = None
    sort: str | None = None


def _encode(values: list[Any]) -> str:
    # orjson writes datetimes and UUIDs natively as plain strings; tag datetimes so that they
    # read back as datetimes (a string would not compare with a timestamptz column).
    tagged = [
        {"t": v.isoformat()} if isinstance(v, datetime) else str(v) if isinstance(v, uuid.UUID) else v
        for v in values
    ]
    return base64.urlsafe_b64encode(orjson.dumps(tagged)).decode().rstrip("=")


def _decode(cursor: str, value_type: type) -> tuple[Any, uuid.UUID]:
    """The (sort value, id) a cursor holds; a field error unless the value has the sort column's type."""
    try:
        raw = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if not isinstance(raw, list) or len(raw) != 2:
            raise ValueError
        value, last_id = raw
        if isinstance(value, dict):
            value = datetime.fromisoformat(value["t"])
            if value.tzinfo is None:
                raise ValueError
        if not isinstance(value, value_type) or isinstance(value, bool):
            raise ValueError
        return value, uuid.UUID(str(last_id))
    except (ValueError, TypeError, KeyError) as exc:
        raise ValidationFailed.field("cursor", "The cursor is not valid. Start from the first page.") from exc


def paginate(
    query: Select[Any],
    page: PageRequest,
    *,
    sorts: dict[str, InstrumentedAttribute[Any]],
    default_sort: str,
    id_column: InstrumentedAttribute[Any],
) -> Select[Any]:
    """Apply sort, cursor and limit (+1 to know whether a next page exists).

    ``sort`` is a name from ``sorts``, with a leading ``-`` for descending."""
    if page.limit < 1 or page.limit > MAX_PAGE_SIZE:
        raise ValidationFailed.field("limit", f"Ask for between 1 and {MAX_PAGE_SIZE} items.")
    sort = page.sort or default_sort
    descending = sort.startswith("-")
    name = sort.lstrip("-")
    if name not in sorts:
        raise ValidationFailed.field("sort", "Sort by one of: " + ", ".join(sorted(sorts)) + ".")
    column = sorts[name]
    if page.cursor:
        value, last_id = _decode(page.cursor, column.type.python_type)
        key = tuple_(column, id_column)
        query = query.where(key < (value, last_id) if descending else key > (value, last_id))
    order = (column.desc(), id_column.desc()) if descending else (column.asc(), id_column.asc())
    return query.order_by(*order).limit(page.limit + 1)


def finish(rows: list[Any], page: PageRequest, default_sort: str) -> tuple[list[Any], str | None]:
    """Trim the extra row and build the next cursor from the last row kept (an ORM object with
    the sort attribute and ``id``)."""
    if len(rows) <= page.limit:
        return rows, None
    kept = rows[: page.limit]
    name = (page.sort or default_sort).lstrip("-")
    return kept, _encode([getattr(kept[-1], name), kept[-1].id])
