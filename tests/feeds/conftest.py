"""Fixtures for the feed service tests: SQLite and a real PostgreSQL (per-test schema, skipped
loudly when none answers), a loopback feed server, a settable clock, the shared feed files."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

import store.listmodels  # noqa: F401  (list tables in the metadata before connect)
from blacklist.versions import ensure_schema
from store.db import connect

from .support import PG_URL, Clock, Database, FeedServer, feeds_dir


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
    try:
        admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text("select 1"))
    except Exception as exc:
        pytest.skip(f"SKIPPED LOUDLY: no PostgreSQL at {PG_URL} ({type(exc).__name__})")
    schema = f"f_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(text(f'create schema "{schema}"'))
    url = PG_URL + ("&" if "?" in PG_URL else "?") + f"options=-csearch_path%3D{schema}"
    eng = connect(url)
    ensure_schema(eng)
    try:
        yield Database(eng, url, "postgresql")
    finally:
        eng.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'drop schema "{schema}" cascade'))
        admin.dispose()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def server() -> Iterator[FeedServer]:
    srv = FeedServer()
    yield srv
    srv.close()
