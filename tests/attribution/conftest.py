"""Fixtures: a database on SQLite and on the real PostgreSQL (fresh schema per test, skipped
loudly when none answers), and a helper writing CSV files."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import Database, database


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    with database(request.param, tmp_path, "a") as d:
        yield d


@pytest.fixture
def write(tmp_path: Path) -> Callable[..., Path]:
    """write(name, text, bom=False) → path of a UTF-8 file in tmp_path."""

    def _write(name: str, text: str, bom: bool = False) -> Path:
        p = tmp_path / name
        p.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode())
        return p

    return _write
