"""Fixtures for the feed service tests: SQLite and a real PostgreSQL (per-test schema, skipped
loudly when none answers), a loopback feed server, a settable clock, the shared feed files."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Database, database

from .support import Clock, FeedServer, feeds_dir


@pytest.fixture
def feeds() -> Path:
    return feeds_dir()


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    with database(request.param, tmp_path, "f") as d:
        yield d


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def server() -> Iterator[FeedServer]:
    srv = FeedServer()
    yield srv
    srv.close()
