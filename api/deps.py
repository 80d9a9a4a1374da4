"""Request-scoped access to what `create_app` put on `app.state` (no module globals)."""

from __future__ import annotations

from fastapi import Request
from sqlalchemy import Engine

from api.config import Settings


def engine(request: Request) -> Engine:
    value: Engine = request.app.state.engine
    return value


def settings(request: Request) -> Settings:
    value: Settings = request.app.state.settings
    return value
