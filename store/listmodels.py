"""Block-list tables: versions, entries as validity intervals, feed health, learned/manual entries.

Version strategy (see `blacklist.versions` for the code):

- `list_versions`: one immutable row per change of the live list (id, created, parent, the
  per-source content hashes as JSON, a note, counts).
- `list_entries`: one row per indicator *interval*. A row is valid from version `from_version`
  up to, not including, `to_version` (NULL: still live). Version V holds every row with
  `from_version <= V < coalesce(to_version, ∞)`. A refresh that changes 10 lines of a 1M-entry
  feed closes ≤ 10 rows and inserts ≤ 10 — unchanged entries are never rewritten, and older
  versions stay readable (and unchanged) because rows are only ever closed at the new version.
- `list_head`: the single row writers lock (UPDATE … WHERE id = 1) so version ids and intervals
  are assigned one writer at a time, on SQLite and PostgreSQL alike; readers poll
  `list_head.version_id` to notice a new version cheaply.
- `list_feeds`: feed health per source (last attempt/success/change, HTTP status, counts, error).
- `list_learned`, `list_manual`, `list_manual_audit`: the working sets behind the `learned` and
  `manual` sources (and who changed manual entries, when and why).

Tables only; API schemas and domain types live elsewhere (STYLE 11).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from store.models import Base

_ID = BigInteger().with_variant(Integer, "sqlite")  # SQLite autoincrements INTEGER keys only
HEAD_ID = 1


class ListVersionRow(Base):
    """One immutable version of the live list."""

    __tablename__ = "list_versions"

    id: Mapped[int] = mapped_column(_ID, primary_key=True)
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    parent_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    sources: Mapped[dict[str, Any]] = mapped_column(JSON)  # {source: content hash}
    note: Mapped[str] = mapped_column(String(512), default="")
    entries: Mapped[int] = mapped_column(Integer, default=0)  # rows valid in this version
    added: Mapped[int] = mapped_column(Integer, default=0)
    removed: Mapped[int] = mapped_column(Integer, default=0)


class ListEntryRow(Base):
    """One indicator of one source, valid for versions [from_version, to_version)."""

    __tablename__ = "list_entries"

    id: Mapped[int] = mapped_column(_ID, primary_key=True)
    source: Mapped[str] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(8))
    value: Mapped[str] = mapped_column(String(300))
    port: Mapped[int | None] = mapped_column(Integer, nullable=True)
    proto: Mapped[int | None] = mapped_column(SmallInteger, nullable=True)
    category: Mapped[str] = mapped_column(String(16))
    confidence: Mapped[float] = mapped_column(Float)
    subdomains: Mapped[bool] = mapped_column(Boolean)
    raw: Mapped[str] = mapped_column(Text, default="")
    line: Mapped[int] = mapped_column(Integer, default=0)
    first_seen: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # set when the row opens and when it closes; while open, the source's last success is newer
    last_seen: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    from_version: Mapped[int] = mapped_column(BigInteger)
    to_version: Mapped[int | None] = mapped_column(BigInteger, nullable=True)

    __table_args__ = (
        Index("ix_list_entries_from", "from_version"),
        Index("ix_list_entries_to", "to_version"),
        Index("ix_list_entries_source_open", "source", "to_version"),
        # at most one live row per indicator of a source
        Index(
            "uq_list_entries_live",
            "source",
            "kind",
            "value",
            "subdomains",
            unique=True,
            sqlite_where=to_version.is_(None),
            postgresql_where=to_version.is_(None),
        ),
    )


class ListHeadRow(Base):
    """The latest version id; its row is the writers' lock."""

    __tablename__ = "list_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    updated: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class FeedStateRow(Base):
    """Feed health: what the last attempt did and what the last good version holds."""

    __tablename__ = "list_feeds"

    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    origin: Mapped[str] = mapped_column(String(16))  # index, import, learned, manual
    category: Mapped[str] = mapped_column(String(16))
    location: Mapped[str] = mapped_column(Text, default="")
    format: Mapped[str] = mapped_column(String(32), default="")
    last_attempt: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    last_success: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    last_change: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    http_status: Mapped[int | None] = mapped_column(Integer, nullable=True)
    entries: Mapped[int] = mapped_column(Integer, default=0)  # of the last good version
    attempt_entries: Mapped[int] = mapped_column(Integer, default=0)  # parsed at last attempt
    problems: Mapped[int] = mapped_column(Integer, default=0)  # at last attempt
    content_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)  # consecutive failed attempts


class LearnedRow(Base):
    """A pool endpoint learned at run time (Stratum-confirmed, DNS answer for a pool name)."""

    __tablename__ = "list_learned"

    id: Mapped[int] = mapped_column(_ID, primary_key=True)
    kind: Mapped[str] = mapped_column(String(8))
    value: Mapped[str] = mapped_column(String(300))
    why: Mapped[str] = mapped_column(Text, default="")
    confidence: Mapped[float] = mapped_column(Float)
    first_seen: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_seen: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    times: Mapped[int] = mapped_column(Integer, default=1)

    __table_args__ = (UniqueConstraint("kind", "value", name="uq_list_learned_value"),)


class ManualRow(Base):
    """An analyst's entry (source `manual`)."""

    __tablename__ = "list_manual"

    id: Mapped[int] = mapped_column(_ID, primary_key=True)
    kind: Mapped[str] = mapped_column(String(8))
    value: Mapped[str] = mapped_column(String(300))
    subdomains: Mapped[bool] = mapped_column(Boolean)
    category: Mapped[str] = mapped_column(String(16))
    confidence: Mapped[float] = mapped_column(Float)
    reason: Mapped[str] = mapped_column(Text)
    added_by: Mapped[str] = mapped_column(String(128))
    added_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (UniqueConstraint("kind", "value", name="uq_list_manual_value"),)


class ManualAuditRow(Base):
    """Who added or removed a manual entry, when, why, and which version it produced."""

    __tablename__ = "list_manual_audit"

    id: Mapped[int] = mapped_column(_ID, primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    action: Mapped[str] = mapped_column(String(8))  # add, remove
    value: Mapped[str] = mapped_column(String(300))
    category: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(Text)
    by: Mapped[str] = mapped_column(String(128))
    version_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
