"""Fixtures: a list database on SQLite and on the real PostgreSQL (fresh schema, skipped loudly
without a server), and a real uvicorn server on loopback with an export and an analyst key."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import Database, database

from .support import Server


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    with database(request.param, tmp_path, "r") as d:
        yield d


@dataclass
class Api:
    server: Server
    export_key: str
    analyst_key: str
    db: Database


@pytest.fixture
def api(db: Database) -> Iterator[Api]:
    from store.apikeys import ApiKeyRow, create_key

    ApiKeyRow.metadata.create_all(db.engine)  # what `open_engine` does for `serve`
    server = Server(db.engine, db.url)
    _, export_key = create_key(db.engine, "export", "router")
    _, analyst_key = create_key(db.engine, "analyst", "analyst")
    try:
        yield Api(server, export_key, analyst_key, db)
    finally:
        server.close()
