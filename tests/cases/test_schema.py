"""Migrations: a new database reaches head and matches the models exactly; a database made by
`create_all` before migrations existed is adopted (stamped at the baseline) and upgraded."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import MetaData, create_engine, inspect, text
from sqlalchemy.engine import Engine

from store import schema
from store.db import connect


def test_head_matches_models(engine: Engine) -> None:
    assert schema.current(engine) == schema.head()
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        diffs = compare_metadata(ctx, schema.metadata())
    assert diffs == []


def test_legacy_database_is_adopted(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    old = create_engine(url)
    baseline = MetaData()
    for t in schema.metadata().sorted_tables:
        if t.name == "hits" or t.name.startswith("list_"):
            t.to_metadata(baseline)
    baseline.create_all(old)  # what minewatch 0.1 made, without alembic_version
    with old.begin() as conn:
        conn.execute(text("insert into list_head (id) values (1)"))
    old.dispose()
    eng = connect(url)
    assert schema.current(eng) == schema.head()
    names = set(inspect(eng).get_table_names())
    assert {"hits", "list_head", "cases", "case_audit", "alembic_version"} <= names
    with eng.connect() as conn:
        assert conn.execute(text("select count(*) from list_head")).scalar() == 1
    eng.dispose()
