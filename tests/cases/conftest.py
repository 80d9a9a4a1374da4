"""Case tests run on SQLite and on the real PostgreSQL server (skipped loudly without one)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from store.db import connect
from tests.conftest import pg_schema_url


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "sqlite":
        eng = connect(f"sqlite:///{tmp_path / 'cases.db'}")
        yield eng
        eng.dispose()
        return
    with pg_schema_url("c") as url:
        eng = connect(url)
        try:
            yield eng
        finally:
            eng.dispose()
