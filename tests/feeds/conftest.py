"""Fixtures for the feed service tests: SQLite and a real PostgreSQL (per-test schema, skipped
loudly when none answers), a loopback feed server, a settable clock, the shared feed files."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import store.listmodels  # noqa: F401  (list tables in the metadata before connect)
from blacklist.versions import ensure_schema
from store.db import connect
from tests.conftest import pg_schema_url

from .support import Clock, Database, FeedServer, feeds_dir


@pytest.fixture
def feeds() -> Path:
    return feeds_dir()


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'lists.db'}"
        eng = connect(url)
        ensure_schema(eng)
        yield Database(eng, url, "sqlite")
        eng.dispose()
        return
    with pg_schema_url("f") as url:
        eng = connect(url)
        ensure_schema(eng)
        try:
            yield Database(eng, url, "postgresql")
        finally:
            eng.dispose()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def server() -> Iterator[FeedServer]:
    srv = FeedServer()
    yield srv
    srv.close()
