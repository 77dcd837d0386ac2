"""Small shared pieces for routers: page parameters."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query

from carebase.core.pagination import MAX_PAGE_SIZE, PageRequest


def _page(
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE, description="Items per page")] = 25,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
    sort: Annotated[str | None, Query(max_length=40, description="A sort field; prefix '-' for descending")] = None,
) -> PageRequest:
    return PageRequest(limit=limit, cursor=cursor, sort=sort)


PageParams = Annotated[PageRequest, Depends(_page)]
