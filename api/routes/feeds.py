"""`GET /feeds` (sources and their health), `/feeds/{name}`, `/feeds/versions` and
`/feeds/diff?from=&to=` (analyst). Sources come from the shipped source index (or
`$MINEWATCH_SOURCES`) merged with the health rows of every source the database has seen
(imports, learned and manual entries included)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel, Field
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool

from api import deps
from api.auth import Role, require
from api.errors import AUTH_ERRORS, NOT_FOUND, ApiError
from api.pagination import PageDep, trim
from blacklist.health import FeedHealth, feed_health
from blacklist.history import VersionError, diff, list_versions
from blacklist.sources import SourceError, SourceIndex, load_index
from blacklist.versions import has_schema
from store.listmodels import ListVersionRow

router = APIRouter(tags=["feeds"], dependencies=[Depends(require(Role.ANALYST))])
NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$"


class FeedOut(BaseModel):
    name: str
    in_index: bool = Field(description="Listed in the source index (else import/learned/manual)")
    enabled: bool | None = None
    category: str
    format: str = ""
    location: str = ""
    refresh_seconds: int | None = None
    licence: str = ""
    origin: str = ""
    health: str = Field(examples=["ok", "stale", "never fetched", "FAILING (2x): HTTP 404"])
    last_success: datetime | None = None
    last_attempt: datetime | None = None
    last_change: datetime | None = None
    http_status: int | None = None
    entries: int = 0
    problems: int = 0


class VersionOut(BaseModel):
    id: int
    created: datetime
    parent_id: int | None
    entries: int
    added: int
    removed: int
    note: str
    sources: dict[str, str] = Field(description="source -> content hash")


class VersionPage(BaseModel):
    items: list[VersionOut]
    next_cursor: int | None


class ChangeOut(BaseModel):
    op: str = Field(description="'+' added, '-' removed, '~' category/confidence changed")
    source: str
    kind: str
    value: str
    port: int | None
    proto: int | None
    category: str
    confidence: float


class DiffPage(BaseModel):
    from_version: int
    to_version: int
    total: int
    items: list[ChangeOut]
    next_cursor: int | None = Field(description="offset of the next page")


def _index() -> SourceIndex | None:
    try:
        return load_index(None)
    except SourceError:
        return None


def _feeds(engine: Engine) -> list[FeedOut]:
    # a GET creates nothing: without list tables there is no health to report yet
    health = {h.name: h for h in feed_health(engine)} if has_schema(engine) else {}
    index = _index()
    now = datetime.now(UTC)
    out: list[FeedOut] = []
    for src in index or ():
        h = health.pop(src.name, None)
        out.append(_feed(src.name, str(src.category), h, now, src.refresh, True, src.enabled,
                         src.format, src.location, src.licence))  # fmt: skip
    for h in health.values():
        out.append(_feed(h.name, h.category, h, now, None, False, None, h.format, h.location, ""))
    return out


def _feed(
    name: str, category: str, h: FeedHealth | None, now: datetime, refresh: int | None,
    in_index: bool, enabled: bool | None, fmt: str, location: str, licence: str,
) -> FeedOut:  # fmt: skip
    base = FeedOut(name=name, in_index=in_index, enabled=enabled, category=category, format=fmt,
                   location=location, refresh_seconds=refresh, licence=licence,
                   health="never fetched")  # fmt: skip
    if h is None:
        return base
    return base.model_copy(
        update={
            "origin": h.origin,
            "health": h.health(refresh, now),
            "last_success": h.last_success,
            "last_attempt": h.last_attempt,
            "last_change": h.last_change,
            "http_status": h.http_status,
            "entries": h.entries,
            "problems": h.problems,
        }
    )


@router.get("/feeds", response_model=list[FeedOut], responses=AUTH_ERRORS,
            summary="List sources with their health")  # fmt: skip
async def get_feeds(engine: Annotated[Engine, Depends(deps.engine)]) -> list[FeedOut]:
    return await run_in_threadpool(_feeds, engine)


def _version(r: ListVersionRow) -> VersionOut:
    created = r.created if r.created.tzinfo else r.created.replace(tzinfo=UTC)
    return VersionOut(id=r.id, created=created, parent_id=r.parent_id, entries=r.entries,
                      added=r.added, removed=r.removed, note=r.note,
                      sources={str(k): str(v) for k, v in (r.sources or {}).items()})  # fmt: skip


@router.get("/feeds/versions", response_model=VersionPage, responses=AUTH_ERRORS,
            summary="List versions, newest first")  # fmt: skip
async def get_versions(
    page: PageDep, engine: Annotated[Engine, Depends(deps.engine)]
) -> VersionPage:
    def fetch() -> list[VersionOut]:
        if not has_schema(engine):
            return []
        rows: list[VersionOut] = []
        before = page.after_id
        # list_versions reads newest first; skip to the cursor, one extra row for the next page
        for r in list_versions(engine, None if before is not None else page.limit + 1):
            if before is not None and r.id >= before:
                continue
            rows.append(_version(r))
            if len(rows) > page.limit:
                break
        return rows

    rows, cursor = trim(await run_in_threadpool(fetch), page.limit, lambda v: v.id)
    return VersionPage(items=rows, next_cursor=cursor)


@router.get("/feeds/diff", response_model=DiffPage, responses={**AUTH_ERRORS, **NOT_FOUND},
            summary="Entries added/removed/changed between two list versions")  # fmt: skip
async def get_diff(
    page: PageDep,
    engine: Annotated[Engine, Depends(deps.engine)],
    v_from: Annotated[int, Query(alias="from", ge=1, le=2**62)],
    v_to: Annotated[int, Query(alias="to", ge=1, le=2**62)],
) -> DiffPage:
    def fetch() -> list[ChangeOut]:
        if not has_schema(engine):
            raise VersionError(f"no list version {v_from}")
        return [ChangeOut(op=c.op, source=c.source, kind=c.kind, value=c.value, port=c.port,
                          proto=c.proto, category=c.category, confidence=c.confidence)
                for c in diff(engine, v_from, v_to)]  # fmt: skip

    try:
        changes = await run_in_threadpool(fetch)
    except VersionError as exc:
        raise ApiError(404, str(exc).strip("'\"")) from exc
    start = page.after_id or 0
    items = changes[start : start + page.limit]
    more = start + page.limit < len(changes)
    return DiffPage(from_version=v_from, to_version=v_to, total=len(changes), items=items,
                    next_cursor=start + page.limit if more else None)  # fmt: skip


@router.get("/feeds/{name}", response_model=FeedOut, responses={**AUTH_ERRORS, **NOT_FOUND},
            summary="One source with its health")  # fmt: skip
async def get_feed(
    engine: Annotated[Engine, Depends(deps.engine)],
    name: Annotated[str, Path(pattern=NAME, max_length=128)],
) -> FeedOut:
    for f in await run_in_threadpool(_feeds, engine):
        if f.name == name:
            return f
    raise ApiError(404, f"no source named {name}")
