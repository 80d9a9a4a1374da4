"""Cases: list, one with its audit trail, and workflow moves (analyst; the actor is the key's
name)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import Response
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool

from api import deps
from api.auth import Principal, Role, require
from api.errors import AUTH_ERRORS, CONFLICT, NOT_FOUND, ApiError
from api.pagination import MAX_CURSOR, PageDep, trim
from api.schemas import IP, fast_json
from api.schemas_cases import AuditOut, CaseDetail, CaseOut, CasePage, CasePatch
from detector.base import HitClass
from pipelines.exporters.events import CASE_STATUS, case_event
from store.cases import case_audit, get_case, list_cases, transition
from store.times import aware_or_none
from store.workflow import MOVES, Status, WorkflowError

router = APIRouter(tags=["cases"])
analyst = require(Role.ANALYST)
CaseId = Annotated[int, Path(ge=1, le=MAX_CURSOR, description="Case id")]
Text = Annotated[str | None, Query(min_length=1, max_length=64)]


@router.get("/cases", response_model=CasePage, responses=AUTH_ERRORS, summary="Cases by id")
async def cases(
    _: Annotated[Principal, Depends(analyst)],
    page: PageDep,
    engine: Annotated[Engine, Depends(deps.engine)],
    status: Annotated[list[Status] | None, Query(description="Repeat for several")] = None,
    sector: Text = None,
    region: Text = None,
    since: Annotated[datetime | None, Query(description="Active at or after (ISO 8601)")] = None,
    min_confidence: Annotated[float | None, Query(ge=0, le=1)] = None,
    subscriber: Annotated[IP | None, Query(description="Subscriber address")] = None,
    cls: Annotated[HitClass | None, Query(alias="class")] = None,
    repeat: Annotated[bool, Query(description="Repeat offenders only")] = False,
) -> Response:
    rows = await run_in_threadpool(
        lambda: list_cases(
            engine, status=[s.value for s in status] if status else None, sector=sector,
            region=region, since=aware_or_none(since), min_confidence=min_confidence,
            subscriber_ip=subscriber,
            cls=cls.value if cls else None, repeat=repeat, after_id=page.after_id,
            limit=page.limit + 1,
        )
    )  # fmt: skip
    views, cursor = trim(rows, page.limit, lambda c: c.id)
    return fast_json({"items": views, "next_cursor": cursor})


def _detail(engine: Engine, case_id: int) -> CaseDetail:
    case = get_case(engine, case_id)
    if case is None:
        raise ApiError(404, f"no case {case_id}")
    return CaseDetail(
        case=CaseOut.model_validate(case),
        audit=[AuditOut.model_validate(a) for a in case_audit(engine, case_id)],
        moves=sorted(s.value for s in MOVES[Status(case.status)]),
    )


@router.get(
    "/cases/{case_id}",
    response_model=CaseDetail,
    responses={**AUTH_ERRORS, **NOT_FOUND},
    summary="One case with its audit trail and allowed moves",
)
async def case(
    _: Annotated[Principal, Depends(analyst)],
    case_id: CaseId,
    engine: Annotated[Engine, Depends(deps.engine)],
) -> CaseDetail:
    return await run_in_threadpool(_detail, engine, case_id)


@router.patch(
    "/cases/{case_id}",
    response_model=CaseDetail,
    responses={**AUTH_ERRORS, **NOT_FOUND, **CONFLICT},
    summary="Move a case through the workflow",
)
async def move(
    request: Request,
    principal: Annotated[Principal, Depends(analyst)],
    case_id: CaseId,
    body: CasePatch,
    engine: Annotated[Engine, Depends(deps.engine)],
) -> CaseDetail:
    def run() -> CaseDetail:
        try:
            view = transition(engine, case_id, body.status.value, actor=principal.name,
                              note=body.note)  # fmt: skip
        except WorkflowError as exc:
            raise ApiError(409, str(exc)) from None
        except LookupError:
            raise ApiError(404, f"no case {case_id}") from None
        detail = _detail(engine, case_id)
        # SIEMs and the notification gateway hear of every move (e.g. `notified` → SMS)
        event = case_event(CASE_STATUS, view, previous=detail.audit[-1].from_status,
                           actor=principal.name, note=body.note)  # fmt: skip
        for target in request.app.state.events:
            target.send([event])
        return detail

    return await run_in_threadpool(run)
