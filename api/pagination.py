"""Keyset pagination: `limit` + an opaque `cursor` (the last id of the previous page).

Keyset rather than offset so page N of a million hits costs the same as page 1. A `limit`
above the configured `max_page_size` is refused with a 422 that says the maximum — it is not
silently clamped, so a client never mistakes a short page for the end of the data.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, TypeVar

from fastapi import Depends, Query, Request

from api.errors import ApiError

MAX_CURSOR = 2**63 - 1
T = TypeVar("T")


@dataclass(frozen=True)
class Page:
    limit: int
    after_id: int | None


async def page(  # async: FastAPI runs a plain `def` dependency in the thread pool
    request: Request,
    limit: Annotated[
        int | None,
        Query(ge=1, description="Items per page (default and maximum: settings)"),
    ] = None,
    cursor: Annotated[
        int | None,
        Query(ge=0, le=MAX_CURSOR, description="`next_cursor` of the previous page"),
    ] = None,
) -> Page:
    settings = request.app.state.settings
    if limit is None:
        limit = min(settings.default_page_size, settings.max_page_size)
    elif limit > settings.max_page_size:
        raise ApiError(
            422,
            f"query.limit: {limit} is above the maximum page size {settings.max_page_size}; "
            "page with `cursor` instead",
        )
    return Page(limit=limit, after_id=cursor)


PageDep = Annotated[Page, Depends(page)]


def trim(rows: list[T], limit: int, key: Callable[[T], int]) -> tuple[list[T], int | None]:
    """Rows were fetched with `limit + 1`: cut to `limit` and return the next page's cursor (None
    when this page is the last)."""
    if len(rows) <= limit:
        return rows, None
    rows = rows[:limit]
    return rows, key(rows[-1])
