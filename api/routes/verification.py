"""The verification list (flagged subscribers with evidence, JSON or CSV) and the regulator's
check: a pushed list of IPs in, a verdict per IP out (analyst)."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from pydantic import ValidationError
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool

from api import deps
from api.auth import Role, require
from api.config import Settings
from api.errors import AUTH_ERRORS, BAD_MEDIA, TOO_LARGE, ApiError, ErrorBody, FieldError
from api.pagination import PageDep, trim
from api.schemas import fast_json
from api.schemas_cases import CaseOut, CasePage, CheckRequest, CheckResponse, VerdictOut
from store.cases import check_ips, list_cases
from store.times import aware_or_none
from store.workflow import FLAGGED, Status

router = APIRouter(tags=["verification"], dependencies=[Depends(require(Role.ANALYST))])
CSV_TYPE = "text/csv; charset=utf-8"
COLUMNS = (
    "id", "subscriber_ip", "account", "name", "sector", "region", "pool_ip", "pool_port",
    "transport", "pool_domain", "pool_country", "pool_asn", "cls", "variant", "status",
    "first_seen", "last_seen", "hits", "flows", "packets", "bytes", "confidence", "evidence",
    "offences",
)  # fmt: skip
Text = Annotated[str | None, Query(min_length=1, max_length=64)]
DEFAULT_STATUSES = [s.value for s in sorted(FLAGGED)]


@router.get(
    "/verification-list",
    response_model=CasePage,
    responses={**AUTH_ERRORS, 200: {"content": {"text/csv": {"schema": {"type": "string"}}}}},
    summary="Flagged subscribers with evidence (JSON, or CSV with format=csv / Accept: text/csv)",
)
async def verification_list(
    request: Request,
    page: PageDep,
    engine: Annotated[Engine, Depends(deps.engine)],
    since: Annotated[datetime | None, Query(description="Active at or after (ISO 8601)")] = None,
    status: Annotated[
        list[Status] | None, Query(description="Default: every flagged (open) status")
    ] = None,
    sector: Text = None,
    region: Text = None,
    min_confidence: Annotated[float | None, Query(ge=0, le=1)] = None,
    format: Annotated[Literal["json", "csv"] | None, Query(description="Default: Accept")] = None,
) -> Any:
    statuses = [s.value for s in status] if status else DEFAULT_STATUSES
    rows = await run_in_threadpool(
        lambda: list_cases(
            engine, status=statuses, sector=sector, region=region, since=aware_or_none(since),
            min_confidence=min_confidence, after_id=page.after_id, limit=page.limit + 1,
        )
    )  # fmt: skip
    views, cursor = trim(rows, page.limit, lambda c: c.id)
    if (format or _negotiate(request.headers.get("accept", ""))) == "csv":
        headers = {} if cursor is None else {"X-Next-Cursor": str(cursor)}
        items = [CaseOut.model_validate(r) for r in views]
        return Response(_csv(items), media_type=CSV_TYPE, headers=headers)
    return fast_json({"items": views, "next_cursor": cursor})


def _negotiate(accept: str) -> str:
    """CSV only when asked for and preferred to JSON (`*/*` and no header mean JSON)."""
    types = [part.split(";")[0].strip().lower() for part in accept.split(",")]
    if "text/csv" in types and (
        "application/json" not in types or types.index("text/csv") < types.index("application/json")
    ):
        return "csv"
    return "json"


def _cell(value: Any) -> str:
    """Text cells that a spreadsheet would run as a formula get a leading quote."""
    text = "" if value is None else str(value)
    return (
        "'" + text
        if isinstance(value, str) and text[:1] in ("=", "+", "-", "@", "\t", "\r")
        else text
    )


def _csv(items: list[CaseOut]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for c in items:
        row = c.model_dump()
        row["evidence"] = ";".join(f"{k}={v}" for k, v in sorted(c.evidence.items()))
        row["first_seen"], row["last_seen"] = c.first_seen.isoformat(), c.last_seen.isoformat()
        writer.writerow(_cell(row[k]) if k != "evidence" else row[k] for k in COLUMNS)
    return out.getvalue()


CHECK_BODY = {
    "required": True,
    "content": {
        "application/json": {"schema": CheckRequest.model_json_schema()},
        "text/plain": {
            "schema": {"type": "string"},
            "example": "10.20.30.40\n198.51.100.9\n",
        },
    },
}


@router.post(
    "/verification-list/check",
    response_model=CheckResponse,
    responses={
        **AUTH_ERRORS,
        **TOO_LARGE,
        **BAD_MEDIA,
        400: {"model": ErrorBody, "description": "Body not UTF-8 or not JSON"},
    },
    openapi_extra={"requestBody": CHECK_BODY},
    summary="Verdict per IP for a regulator-pushed list (JSON {ips: [...]} or one IP per line)",
)
async def check(
    request: Request, settings: Annotated[Settings, Depends(deps.settings)]
) -> CheckResponse:
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind not in ("application/json", "text/plain"):
        raise ApiError(415, 'send application/json {"ips": [...]} or text/plain, one IP a line')
    body = await _read_limited(request, settings.max_upload_bytes)
    ips = _parse(body, kind)
    if len(ips) > settings.max_check_ips:
        raise ApiError(413, f"{len(ips)} IPs; at most {settings.max_check_ips} per request")
    verdicts = await run_in_threadpool(check_ips, request.app.state.engine, ips)
    results = [VerdictOut.model_validate(v) for v in verdicts]
    counts = {k: 0 for k in ("flagged", "known", "clear", "invalid")}
    for r in results:
        counts[r.verdict] += 1
    return CheckResponse(counts=counts, results=results)


async def _read_limited(request: Request, limit: int) -> bytes:
    """The body, refusing (413) as soon as it grows past `limit` — chunked uploads included."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise ApiError(413, f"body of {declared} bytes; the limit is {limit} (max_upload_bytes)")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ApiError(413, f"body larger than the limit of {limit} bytes (max_upload_bytes)")
        chunks.append(chunk)
    return b"".join(chunks)


def _parse(body: bytes, kind: str) -> list[str]:
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ApiError(400, "body is not UTF-8 text") from None
    if kind == "text/plain":
        lines = (line.split("#", 1)[0].strip() for line in text.splitlines())
        return [line for line in lines if line]
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, RecursionError):
        raise ApiError(400, "body is not valid JSON") from None
    try:
        return CheckRequest.model_validate(data).ips
    except ValidationError as exc:
        fields = [
            FieldError(field=".".join(map(str, e["loc"])), message=e["msg"]) for e in exc.errors()
        ]
        raise ApiError(422, "; ".join(f"body.{f.field}: {f.message}" for f in fields[:5])) from None
