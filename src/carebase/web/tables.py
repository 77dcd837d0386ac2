"""Query-string state for data tables: allowlisted sort links and the cursor "Next page" link."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

from fastapi import Request


@dataclass(frozen=True, slots=True)
class TableState:
    path: str
    params: dict[str, str]  # the filters in force (without sort and cursor)
    sort: str
    cursor: str | None
    next_cursor: str | None

    def _url(self, **extra: str | None) -> str:
        query = {k: v for k, v in (self.params | extra).items() if v}
        return self.path + ("?" + urlencode(query) if query else "")

    def sort_link(self, key: str) -> str:
        """Ascending first; a second click on the current ascending column sorts descending."""
        return self._url(sort=f"-{key}" if self.sort == key else key)

    def sort_state(self, key: str | None) -> str | None:
        if not key or self.sort.lstrip("-") != key:
            return None
        return "descending" if self.sort.startswith("-") else "ascending"

    @property
    def next_link(self) -> str | None:
        return self._url(sort=self.sort, cursor=self.next_cursor) if self.next_cursor else None

    @property
    def first_link(self) -> str:
        return self._url(sort=self.sort)


def clean_sort(value: str | None, allowed: set[str], default: str) -> str:
    if value and value.lstrip("-") in allowed:
        return value
    return default


def table_state(request: Request, filters: dict[str, str | None], sort: str, cursor: str | None,
                next_cursor: str | None) -> TableState:  # fmt: skip
    params = {k: v for k, v in filters.items() if v}
    return TableState(request.url.path, params, sort, cursor, next_cursor)
