"""Liveness and readiness, unauthenticated (load balancers and orchestrators probe these)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import Engine, inspect, text
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool

from api.schemas import Health, Ready

router = APIRouter(tags=["health"])
# tables the service cannot work without; readiness fails until they exist
REQUIRED_TABLES = ("hits", "cases", "api_keys")


@router.get("/healthz", response_model=Health, summary="Liveness (no database access)")
async def healthz() -> Health:
    return Health()


@router.get(
    "/readyz",
    response_model=Ready,
    summary="Readiness: the database answers and the schema is present",
    responses={503: {"model": Ready, "description": "Database unreachable or schema missing"}},
)
async def readyz(request: Request) -> JSONResponse:
    ready = await run_in_threadpool(_check, request.app.state.engine)
    return JSONResponse(ready.model_dump(), status_code=200 if ready.status == "ready" else 503)


def _check(engine: Engine) -> Ready:
    try:
        with engine.connect() as conn:
            conn.execute(text("select 1"))
            missing = [t for t in REQUIRED_TABLES if not inspect(conn).has_table(t)]
            version = None
            if inspect(conn).has_table("alembic_version"):
                version = conn.execute(text("select version_num from alembic_version")).scalar()
    except SQLAlchemyError as exc:
        return Ready(
            status="not-ready", database=f"unreachable ({type(exc).__name__})", schema_version=None
        )
    if missing:
        return Ready(
            status="not-ready",
            database=f"schema missing: {', '.join(missing)}",
            schema_version=version,
        )
    return Ready(status="ready", database="ok", schema_version=version)
