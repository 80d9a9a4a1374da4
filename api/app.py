"""`create_app`: the FastAPI service. Construction is inert apart from connecting the engine
(and so migrating the schema); no global state — everything hangs off `app.state`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import ExitStack, asynccontextmanager

from fastapi import FastAPI
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from api import errors
from api.auth import KeyCache
from api.config import Settings, load_settings
from api.routes import ROUTERS
from api.routes.blocklist import BlocklistFastPath
from api.routes.metrics import ApiMetrics, RequestMetrics
from minewatch import __version__

PREFIX = "/v1"
DESCRIPTION = """Block lists, verification lists, hits, cases and subscribers of minewatch.

Send `Authorization: Bearer KEY` (block-list endpoints also take HTTP Basic with the key as the
password). Roles: `export` reads block lists; `analyst` also reads subscriber data and moves
cases; `admin` may do everything. Errors are `{"error": code, "detail": message}`."""


def open_engine(settings: Settings) -> Engine:
    """The store's engine, its schema migrated to the newest revision (`store.schema`)."""
    from store.db import connect

    return connect(settings.database_url())


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Open the settings' event targets (webhooks, syslog) for case moves; close them on exit."""
    from pipelines.exporters.base import open_targets

    settings: Settings = app.state.settings
    with ExitStack() as stack:
        app.state.events = open_targets(settings.event_targets, settings.webhook_secret or None,
                                        stack)  # fmt: skip
        app.state.metrics.watch(app.state.events)
        warm_pool(app.state.engine)
        yield


def warm_pool(engine: Engine) -> None:
    """Open the pool's connections before the first request: a new PostgreSQL connection (a
    backend fork, authentication, session settings) costs tens of milliseconds, and opening
    them one by one as a burst of requests arrives put that in the first minute's p99. SQLite
    and other pools without a size are left alone; a database that is down now is reported by
    /readyz, not here."""
    size = getattr(engine.pool, "size", None)
    if engine.dialect.name != "postgresql" or not callable(size):
        return
    opened = []
    try:
        for _ in range(int(size())):
            opened.append(engine.connect())
    except SQLAlchemyError:  # a database that is down must not stop the service starting
        pass
    finally:
        for conn in opened:
            conn.close()


def create_app(settings: Settings | None = None, engine: Engine | None = None) -> FastAPI:
    """The app; with no arguments (uvicorn `--factory`, `serve --workers N`) it reads the
    settings from `$MINEWATCH_CONFIG` and `MINEWATCH_*` variables."""
    settings = settings or load_settings()
    engine = engine or open_engine(settings)
    app = FastAPI(
        title="minewatch",
        version=__version__,
        description=DESCRIPTION,
        openapi_url=f"{PREFIX}/openapi.json",
        docs_url=f"{PREFIX}/docs",
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.events = []  # event targets, opened by the lifespan
    app.state.keys = KeyCache(engine, settings.key_cache_seconds, settings.key_touch_seconds)
    app.state.metrics = ApiMetrics(engine)
    errors.install(app)
    for router in ROUTERS:
        app.include_router(router, prefix=PREFIX)
    app.add_middleware(RequestMetrics, metrics=app.state.metrics)
    # outermost: an unchanged block-list poll (If-None-Match) is answered before routing
    app.add_middleware(BlocklistFastPath)
    return app
