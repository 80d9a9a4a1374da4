"""`GET /hits`: raw hits, newest first, filtered and paginated (analyst)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from api import deps
from api.auth import Role, require
from api.errors import AUTH_ERRORS
from api.pagination import PageDep, trim
from api.schemas import IP, HitOut, HitPage
from detector.base import HitClass
from store.models import HitRow
from store.times import aware_or_none

router = APIRouter(tags=["hits"], dependencies=[Depends(require(Role.ANALYST))])


@router.get(
    "/hits", response_model=HitPage, responses=AUTH_ERRORS, summary="Raw hits, newest first"
)
async def list_hits(
    page: PageDep,
    engine: Annotated[Engine, Depends(deps.engine)],
    since: Annotated[
        datetime | None, Query(description="Hits active at or after (ISO 8601)")
    ] = None,
    until: Annotated[
        datetime | None, Query(description="Hits that started before (ISO 8601)")
    ] = None,
    client: Annotated[IP | None, Query(description="Client (subscriber side) address")] = None,
    server: Annotated[IP | None, Query(description="Server (pool side) address")] = None,
    cls: Annotated[HitClass | None, Query(alias="class", description="mining or coin-p2p")] = None,
) -> HitPage:
    t = HitRow
    stmt = select(t).order_by(t.id.desc()).limit(page.limit + 1)
    if since is not None:
        stmt = stmt.where(t.last_ts >= aware_or_none(since))
    if until is not None:
        stmt = stmt.where(t.first_ts < aware_or_none(until))
    if client is not None:
        stmt = stmt.where(t.client_ip == client)
    if server is not None:
        stmt = stmt.where(t.server_ip == server)
    if cls is not None:
        stmt = stmt.where(t.cls == cls.value)
    if page.after_id is not None:
        stmt = stmt.where(t.id < page.after_id)

    def fetch() -> list[HitOut]:
        with Session(engine) as session:
            return [HitOut.model_validate(r) for r in session.scalars(stmt)]

    rows, cursor = trim(await run_in_threadpool(fetch), page.limit, lambda h: h.id)
    return HitPage(items=rows, next_cursor=cursor)
