"""Alembic environment: always run programmatically by `store.schema.migrate` with a live
connection in `config.attributes["connection"]` (no alembic.ini, no URL of its own)."""

from __future__ import annotations

from alembic import context

from store.schema import metadata

config = context.config
connection = config.attributes.get("connection")
if connection is None:  # pragma: no cover - only reachable through the alembic CLI
    raise RuntimeError("run migrations through store.schema.migrate (minewatch db upgrade)")

context.configure(
    connection=connection,
    target_metadata=metadata(),
    render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters by table rebuild
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
