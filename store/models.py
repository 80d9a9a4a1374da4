"""SQLAlchemy 2 models. Tables are separate from API schemas and from detector types."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, DateTime, Float, Index, Integer, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class HitRow(Base):
    """One flagged flow (raw hit). Cases per subscriber and pool are built from these."""

    __tablename__ = "hits"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    source: Mapped[str] = mapped_column(String(512))
    first_ts: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_ts: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    transport: Mapped[str] = mapped_column(String(8))
    client_ip: Mapped[str] = mapped_column(String(45))
    client_port: Mapped[int] = mapped_column(Integer)
    server_ip: Mapped[str] = mapped_column(String(45))
    server_port: Mapped[int] = mapped_column(Integer)
    cls: Mapped[str] = mapped_column("class", String(16))
    evidence: Mapped[list[str]] = mapped_column(JSON)
    variant: Mapped[str] = mapped_column(String(64))
    confidence: Mapped[float] = mapped_column(Float)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON)
    packets: Mapped[int] = mapped_column(BigInteger)
    bytes: Mapped[int] = mapped_column(BigInteger)
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        Index("ix_hits_last_ts", "last_ts"),
        Index("ix_hits_client_server", "client_ip", "server_ip"),
    )
