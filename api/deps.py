"""Request-scoped access to what `create_app` put on `app.state` (no module globals).

`async def` on purpose: FastAPI runs a plain `def` dependency in the thread pool, a round trip
per request for what is one attribute read."""

from __future__ import annotations

from fastapi import Request
from sqlalchemy import Engine

from api.config import Settings


async def engine(request: Request) -> Engine:
    value: Engine = request.app.state.engine
    return value


async def settings(request: Request) -> Settings:
    value: Settings = request.app.state.settings
    return value
