"""`GET /blocklist` (full list or `since=` diff) and `GET /blocklist/checksum` (export role;
Bearer or HTTP Basic with the key as password, for routers that can only do Basic).

Bodies come from `blacklist.render.cache.RenderCache` (one per app, created on first use):
rendered once per list version, format and type, streamed from memory or a file, with a strong
ETag (sha256 of the body). A poll whose `If-None-Match` names the current ETag gets a 304 after
one dictionary lookup — the head version is re-read at most once a second.
"""

from __future__ import annotations

import threading
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import PlainTextResponse, StreamingResponse
from starlette.concurrency import run_in_threadpool

from api.auth import Principal, Role, require
from api.errors import AUTH_ERRORS, ApiError, Responses, _doc
from blacklist.render import RenderError
from blacklist.render.cache import Body, RenderCache
from blacklist.render.snapshot import SinceError, SnapshotStore

FormatName = Literal[
    "txt", "csv", "json", "edl", "ipset", "nft", "cisco", "juniper", "mikrotik", "rpz",
    "suricata-iprep",
]  # fmt: skip
TypeName = Literal["ip", "endpoint", "domain"]
CACHE_CONTROL = "private, max-age=0, must-revalidate"
VERSION_HEADER = "X-Minewatch-List-Version"
POLL_SECONDS = 1.0

router = APIRouter(tags=["blocklist"])
_export = require(Role.EXPORT, basic=True)
_init_lock = threading.Lock()

ERRORS: Responses = {
    **AUTH_ERRORS,
    400: _doc("Format cannot express the type, has no diff form, or unknown `since` version"),
}


def renderer(request: Request) -> RenderCache:
    """The app's render cache (made on first use from `app.state.engine`)."""
    state = request.app.state
    cache: RenderCache | None = getattr(state, "blocklists", None)
    if cache is None:
        with _init_lock:
            cache = getattr(state, "blocklists", None)
            if cache is None:
                cache = RenderCache(SnapshotStore(state.engine, poll=POLL_SECONDS))
                state.blocklists = cache
    return cache


def etag_matches(header: str | None, etag: str) -> bool:
    """RFC 9110 If-None-Match: `*` or any listed tag equal under weak comparison."""
    if not header:
        return False
    if header.strip() == "*":
        return True
    opaque = etag.removeprefix("W/")
    return any(t.strip().removeprefix("W/") == opaque for t in header.split(","))


def _headers(body: Body) -> dict[str, str]:
    return {"ETag": body.etag, "Cache-Control": CACHE_CONTROL, VERSION_HEADER: body.version}


async def _body(cache: RenderCache, fmt: str, ltype: str, since: str | None) -> Body:
    found = cache.cached(fmt, ltype) if since is None else None
    if found is not None:
        return found
    try:
        return await run_in_threadpool(cache.body, fmt, ltype, since)
    except (RenderError, SinceError) as exc:
        raise ApiError(400, str(exc).strip("'\"")) from exc


@router.get(
    "/blocklist",
    summary="The block list in a router/firewall format (streamed; ETag, If-None-Match → 304)",
    response_class=Response,
    responses={
        **ERRORS,
        200: {"content": {"text/plain": {}}, "description": "The list (or a diff)"},
        304: {"description": "Unchanged since the ETag in If-None-Match"},
    },
)
async def get_blocklist(
    request: Request,
    _: Annotated[Principal, Depends(_export)],
    fmt: Annotated[FormatName, Query(alias="format", description="Output format")] = "txt",
    ltype: Annotated[TypeName, Query(alias="type", description="Indicator type")] = "ip",
    since: Annotated[
        str | None,
        Query(max_length=80, description="A list version (X-Minewatch-List-Version) to diff from"),
    ] = None,
) -> Response:
    body = await _body(renderer(request), fmt, ltype, since)
    headers = _headers(body)
    if etag_matches(request.headers.get("if-none-match"), body.etag):
        return Response(status_code=304, headers=headers)
    headers["Content-Length"] = str(body.size)
    return StreamingResponse(body.chunks(), media_type=body.media_type, headers=headers)


@router.get(
    "/blocklist/checksum",
    summary="Checksum of the current list body (Cisco FTD/FMC checksum URL)",
    response_class=PlainTextResponse,
    responses={**ERRORS, 200: {"content": {"text/plain": {}}, "description": "hex digest"}},
)
async def get_checksum(
    request: Request,
    _: Annotated[Principal, Depends(_export)],
    fmt: Annotated[FormatName, Query(alias="format")] = "txt",
    ltype: Annotated[TypeName, Query(alias="type")] = "ip",
    algorithm: Annotated[Literal["sha256", "md5"], Query()] = "sha256",
) -> PlainTextResponse:
    body = await _body(renderer(request), fmt, ltype, None)
    digest = body.sha256 if algorithm == "sha256" else body.md5
    return PlainTextResponse(digest + "\n", headers=_headers(body))
