"""`GET /subscribers/{ip}`: who holds the address, their cases and recent hits (analyst)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path
from sqlalchemy import Engine, or_, select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from api import deps
from api.auth import Role, require
from api.errors import AUTH_ERRORS, NOT_FOUND, ApiError
from api.schemas import IP, HitOut
from api.schemas_cases import CaseOut, SubscriberOut
from store.cases import subscriber_summary
from store.models import HitRow

router = APIRouter(tags=["subscribers"], dependencies=[Depends(require(Role.ANALYST))])
RECENT_HITS = 20


@router.get(
    "/subscribers/{ip}",
    response_model=SubscriberOut,
    responses={**AUTH_ERRORS, **NOT_FOUND},
    summary="A subscriber address: attribution, cases (repeat offences) and recent hits",
)
async def subscriber(
    ip: Annotated[IP, Path(description="IPv4 or IPv6 address")],
    engine: Annotated[Engine, Depends(deps.engine)],
) -> SubscriberOut:
    return await run_in_threadpool(_summary, engine, ip)


def _summary(engine: Engine, ip: str) -> SubscriberOut:
    summary = subscriber_summary(engine, ip)
    stmt = (
        select(HitRow)
        .where(or_(HitRow.client_ip == ip, HitRow.server_ip == ip))
        .order_by(HitRow.id.desc())
        .limit(RECENT_HITS)
    )
    with Session(engine) as session:
        hits = [HitOut.model_validate(r) for r in session.scalars(stmt)]
    if summary is None and not hits:
        raise ApiError(404, f"no cases or hits for {ip}")
    if summary is None:
        return SubscriberOut(ip=ip, account="", name="", sector="", region="", offences=0,
                             repeat_offender=False, cases=[], recent_hits=hits)  # fmt: skip
    return SubscriberOut(
        ip=summary.ip, account=summary.account, name=summary.name, sector=summary.sector,
        region=summary.region, offences=summary.offences,
        repeat_offender=summary.offences > len(summary.cases),
        cases=[CaseOut.model_validate(c) for c in summary.cases], recent_hits=hits,
    )  # fmt: skip
