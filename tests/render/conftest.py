"""Fixtures: a list database on SQLite and on the real PostgreSQL (fresh schema, skipped loudly
without a server), and a real uvicorn server on loopback with an export and an analyst key."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import Engine

import store.listmodels  # noqa: F401  (list tables in the metadata before connect)
from blacklist.versions import ensure_schema
from store.db import connect
from tests.conftest import pg_schema_url

from .support import Server


@dataclass
class Db:
    engine: Engine
    url: str
    backend: str


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Db]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'lists.db'}"
        eng = connect(url)
        ensure_schema(eng)
        yield Db(eng, url, "sqlite")
        eng.dispose()
        return
    with pg_schema_url("r") as url:
        eng = connect(url)
        ensure_schema(eng)
        try:
            yield Db(eng, url, "postgresql")
        finally:
            eng.dispose()


@dataclass
class Api:
    server: Server
    export_key: str
    analyst_key: str
    db: Db


@pytest.fixture
def api(db: Db) -> Iterator[Api]:
    from store.apikeys import ApiKeyRow, create_key

    ApiKeyRow.metadata.create_all(db.engine)  # what `open_engine` does for `serve`
    server = Server(db.engine, db.url)
    _, export_key = create_key(db.engine, "export", "router")
    _, analyst_key = create_key(db.engine, "analyst", "analyst")
    try:
        yield Api(server, export_key, analyst_key, db)
    finally:
        server.close()
