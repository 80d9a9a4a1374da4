"""Case tables: one case per (subscriber, pool endpoint), its status workflow and audit trail.

A case is what an analyst verifies and a weekly report counts: every hit between the same
subscriber (address + the account that held it at the time) and the same pool endpoint
(address, port, transport) lands on one row. A hit that is only a DNS lookup of a pool name
names no pool address (its server is the resolver), so it lands on a DNS-name case keyed by the
name instead (`pool_domain`, transport `dns`). Counters only grow; the status moves through
`store.workflow`; every move is one `case_audit` row (who, when, from, to, why).

Tables only; views and functions live in `store.cases` (STYLE 11).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Float,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from store.models import Base

_ID = BigInteger().with_variant(Integer, "sqlite")  # SQLite autoincrements INTEGER keys only


class CaseRow(Base):
    """Evidence of one subscriber talking to one pool endpoint, accumulated across hits."""

    __tablename__ = "cases"

    id: Mapped[int] = mapped_column(_ID, primary_key=True)
    subscriber_ip: Mapped[str] = mapped_column(String(45))
    account: Mapped[str] = mapped_column(String(128), default="")  # "" = not attributed
    name: Mapped[str] = mapped_column(String(256), default="")
    sector: Mapped[str] = mapped_column(String(32), default="")
    region: Mapped[str] = mapped_column(String(128), default="")
    pool_ip: Mapped[str] = mapped_column(String(45))  # "" for a DNS-name case
    pool_port: Mapped[int] = mapped_column(Integer)  # 0 for a DNS-name case
    transport: Mapped[str] = mapped_column(String(8))  # tcp, udp; "dns" for a DNS-name case
    # the pool name a subscriber resolved (DNS-name cases only: the resolver is not the pool)
    pool_domain: Mapped[str] = mapped_column(String(253), default="")
    pool_country: Mapped[str | None] = mapped_column(String(2), nullable=True)
    pool_asn: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    pool_as_org: Mapped[str | None] = mapped_column(String(256), nullable=True)
    cls: Mapped[str] = mapped_column("class", String(16))
    variant: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="new")
    first_seen: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_seen: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    hits: Mapped[int] = mapped_column(BigInteger, default=0)  # stored hit rows
    flows: Mapped[int] = mapped_column(BigInteger, default=0)  # flows (flow records for NetFlow)
    packets: Mapped[int] = mapped_column(BigInteger, default=0)
    bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    confidence: Mapped[float] = mapped_column(Float, default=0.0)  # the best hit's
    evidence: Mapped[dict[str, int]] = mapped_column(JSON)  # evidence kind -> hits carrying it
    detail: Mapped[dict[str, Any]] = mapped_column(JSON)  # methods, agent, sni, list entry, ...
    offences: Mapped[int] = mapped_column(Integer, default=1)  # 1 + reopenings after clearance
    status_changed: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        UniqueConstraint(
            "subscriber_ip",
            "account",
            "pool_ip",
            "pool_port",
            "transport",
            "pool_domain",
            name="uq_cases_key",
        ),
        # keyset pages are "filter, order by id": (filter column, id) indexes serve them
        Index("ix_cases_status_id", "status", "id"),
        Index("ix_cases_sector_id", "sector", "id"),
        Index("ix_cases_region_id", "region", "id"),
        # min_confidence: a filter that matches nothing (no case of the region above it) is one
        # index probe instead of a walk of the region's rows (11 ms at 100k cases). PostgreSQL
        # has to plan with the values for that (a custom plan, what it keeps choosing for these
        # prepared statements): a generic plan still walks the whole primary key (50-60 ms)
        Index("ix_cases_confidence", "confidence"),
        Index("ix_cases_status_last", "status", "last_seen"),  # auto-clear
        Index("ix_cases_last_seen", "last_seen"),
        Index("ix_cases_subscriber", "subscriber_ip"),
        Index("ix_cases_pool", "pool_ip"),
    )


class CaseAuditRow(Base):
    """One change of a case: opened, reopened, status moved (by a person or the system)."""

    __tablename__ = "case_audit"

    id: Mapped[int] = mapped_column(_ID, primary_key=True)
    case_id: Mapped[int] = mapped_column(BigInteger)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    actor: Mapped[str] = mapped_column(String(128))  # API key name, login name, or "system"
    action: Mapped[str] = mapped_column(String(16))  # open, reopen, status
    from_status: Mapped[str | None] = mapped_column(String(16), nullable=True)
    to_status: Mapped[str] = mapped_column(String(16))
    note: Mapped[str] = mapped_column(Text, default="")

    __table_args__ = (Index("ix_case_audit_case", "case_id", "at"),)
