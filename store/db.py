"""Database access: URL resolution, engine creation and the hit repository.

SQLite (a file under the user's data directory) is the default; any SQLAlchemy URL works, and
PostgreSQL is the production target. Writes are batched: a scan inserts hits in groups.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Engine, create_engine, event, select
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from detector.base import EvidenceKind, HitClass
from detector.hits import FlowHit
from store.casebuild import CaseBuilder, CaseEvent
from store.models import HitRow
from store.schema import migrate
from store.times import aware

ENV_DB = "MINEWATCH_DB"


def default_url() -> str:
    """`$MINEWATCH_DB`, else a SQLite file in `$XDG_DATA_HOME/minewatch/` (~/.local/share)."""
    if os.environ.get(ENV_DB):
        return os.environ[ENV_DB]
    base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return f"sqlite:///{base / 'minewatch' / 'minewatch.db'}"


def connect(url: str | None = None) -> Engine:
    """Create an engine (and, for SQLite, the file's directory) and migrate the schema to the
    newest revision (`store.schema`)."""
    url = url or default_url()
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    # orjson reads JSON columns (evidence, detail) 3-4x faster than the json module
    args: dict[str, Any] = {}
    if parsed.get_backend_name() == "postgresql" and "options" not in parsed.query:
        # timestamps arrive in UTC, the zone every value is stored and shown in: the driver
        # skips a zone lookup per value (a 100-case page decodes 200 of them)
        args["connect_args"] = {"options": "-c TimeZone=UTC"}
    engine = create_engine(url, json_deserializer=orjson.loads, **args)
    if parsed.get_backend_name() == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    migrate(engine)
    return engine


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


def _dt(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


class HitWriter:
    """Buffers hits and inserts them in batches; use as a context manager or call `flush`.

    Each batch also grows the cases it touches (`store.casebuild`) in the same transaction, so a
    hit is never stored without its case; `on_events` hears of opened and reopened cases after
    the commit."""

    def __init__(
        self,
        engine: Engine,
        batch: int = 500,
        cases: CaseBuilder | None = None,
        on_events: Callable[[list[CaseEvent]], None] | None = None,
    ) -> None:
        self.engine = engine
        self.batch = batch
        self.cases = cases if cases is not None else CaseBuilder()
        self.on_events = on_events
        self.rows: list[dict[str, Any]] = []
        self.written = 0

    def __call__(self, hit: FlowHit) -> None:
        self.rows.append(
            {
                "source": hit.source,
                "first_ts": _dt(hit.first_ts),
                "last_ts": _dt(hit.last_ts),
                "transport": hit.transport,
                "client_ip": hit.client_ip,
                "client_port": hit.client_port,
                "server_ip": hit.server_ip,
                "server_port": hit.server_port,
                "cls": str(hit.cls),
                "evidence": [str(e) for e in hit.evidence],
                "variant": hit.variant,
                "confidence": hit.confidence,
                "detail": hit.detail,
                "packets": hit.packets,
                "bytes": hit.bytes,
                "recorded_at": datetime.now(UTC),
            }
        )
        if len(self.rows) >= self.batch:
            self.flush()

    def flush(self) -> None:
        if not self.rows:
            return
        with Session(self.engine) as session, session.begin():
            session.bulk_insert_mappings(HitRow, self.rows)
            events = self.cases.apply(session, self.rows)
        self.written += len(self.rows)
        self.rows.clear()
        if events and self.on_events is not None:
            self.on_events(events)

    def __enter__(self) -> HitWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.flush()


def iter_hits(
    engine: Engine, since: datetime | None = None, limit: int | None = None
) -> Iterator[FlowHit]:
    """Stored hits, oldest first, as the same `FlowHit` type the scanner prints."""
    stmt = select(HitRow).order_by(HitRow.first_ts, HitRow.id)
    if since is not None:
        stmt = stmt.where(HitRow.last_ts >= since)
    if limit is not None:
        stmt = stmt.limit(limit)
    with Session(engine) as session:
        for row in session.scalars(stmt).yield_per(1000):
            yield FlowHit(
                source=row.source,
                first_ts=aware(row.first_ts).timestamp(),
                last_ts=aware(row.last_ts).timestamp(),
                transport=row.transport,
                client_ip=row.client_ip,
                client_port=row.client_port,
                server_ip=row.server_ip,
                server_port=row.server_port,
                cls=HitClass(row.cls),
                evidence=[EvidenceKind(e) for e in row.evidence],
                variant=row.variant,
                confidence=row.confidence,
                detail=row.detail,
                packets=row.packets,
                bytes=row.bytes,
            )
