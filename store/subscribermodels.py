"""Subscriber attribution tables: the registry of subscriber prefixes and the RADIUS sessions.

- `subscribers`: one row per registered prefix or address (network text in canonical CIDR form,
  unique), or per account without a network (its addresses come from sessions). `lo`/`hi` are
  the first and last address as 32 hex digits of the 16-byte big-endian value (IPv4
  right-aligned, `family` tells them apart), so range queries on (family, lo, hi) sort
  correctly for both families as plain strings on SQLite and PostgreSQL.
- `subscriber_sessions`: who held an address (or a delegated IPv6 prefix) from `start` until
  `stop` (NULL: still online). A session is identified by (ip, start, account): importing the
  same session again, e.g. from a later export where it has ended, updates its stop.

Tables only; the attribution logic and domain types live in `store.attribution`.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, Index, Integer, SmallInteger, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from store.models import Base

_ID = BigInteger().with_variant(Integer, "sqlite")  # SQLite autoincrements INTEGER keys only

ACCOUNT_MAX = 128
NAME_MAX = 256
REGION_MAX = 128
SECTOR_MAX = 32
SOURCE_MAX = 512


class SubscriberRow(Base):
    """One registered subscriber prefix or address."""

    __tablename__ = "subscribers"

    id: Mapped[int] = mapped_column(_ID, primary_key=True)
    # canonical CIDR, e.g. 10.0.0.0/24; NULL (with family, prefixlen, lo, hi): an account-only
    # row that names a subscriber whose addresses come from sessions
    network: Mapped[str | None] = mapped_column(String(49), nullable=True)
    family: Mapped[int | None] = mapped_column(SmallInteger, nullable=True)  # 4 or 6
    prefixlen: Mapped[int | None] = mapped_column(SmallInteger, nullable=True)
    lo: Mapped[str | None] = mapped_column(String(32), nullable=True)  # 32 hex digits, big-endian
    hi: Mapped[str | None] = mapped_column(String(32), nullable=True)
    account: Mapped[str] = mapped_column(String(ACCOUNT_MAX))
    name: Mapped[str] = mapped_column(String(NAME_MAX), default="")
    sector: Mapped[str] = mapped_column(String(SECTOR_MAX))
    region: Mapped[str] = mapped_column(String(REGION_MAX), default="")
    imported_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    source: Mapped[str] = mapped_column(Text, default="")  # the imported file

    __table_args__ = (
        Index("uq_subscribers_network", "network", unique=True),
        Index("ix_subscribers_range", "family", "lo", "hi"),
        Index("ix_subscribers_account", "account"),
        Index("ix_subscribers_sector_region", "sector", "region"),
        Index("ix_subscribers_imported_at", "imported_at"),  # the reload check's max()
    )


class SubscriberSessionRow(Base):
    """Who held an address or prefix between start and stop (NULL stop: still online)."""

    __tablename__ = "subscriber_sessions"

    id: Mapped[int] = mapped_column(_ID, primary_key=True)
    ip: Mapped[str] = mapped_column(String(49))  # canonical address, or CIDR for a prefix
    family: Mapped[int] = mapped_column(SmallInteger)
    prefixlen: Mapped[int] = mapped_column(SmallInteger)
    lo: Mapped[str] = mapped_column(String(32))
    start: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    stop: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    account: Mapped[str] = mapped_column(String(ACCOUNT_MAX))
    source: Mapped[str] = mapped_column(Text, default="")
    imported_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        Index("uq_subscriber_sessions_key", "ip", "start", "account", unique=True),
        Index("ix_subscriber_sessions_ip_time", "family", "lo", "start"),
        Index("ix_subscriber_sessions_account", "account"),
        Index("ix_subscriber_sessions_imported_at", "imported_at"),  # the reload check's max()
    )
