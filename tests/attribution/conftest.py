"""Fixtures: a database on SQLite and on the real PostgreSQL (fresh schema per test, skipped
loudly when none answers), and a helper writing CSV files."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import Engine

import store.subscribermodels  # noqa: F401  (tables in the metadata before connect)
from store.db import connect
from tests.conftest import pg_schema_url


@dataclass
class Database:
    engine: Engine
    url: str
    kind: str


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'subs.db'}"
        eng = connect(url)
        yield Database(eng, url, "sqlite")
        eng.dispose()
        return
    with pg_schema_url("a") as url:
        eng = connect(url)
        try:
            yield Database(eng, url, "postgresql")
        finally:
            eng.dispose()


@pytest.fixture
def write(tmp_path: Path) -> Callable[..., Path]:
    """write(name, text, bom=False) → path of a UTF-8 file in tmp_path."""

    def _write(name: str, text: str, bom: bool = False) -> Path:
        p = tmp_path / name
        p.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode())
        return p

    return _write
