"""Stored times come back naive from SQLite; every one was written as UTC."""

from __future__ import annotations

from datetime import UTC, datetime


def aware(dt: datetime) -> datetime:
    """`dt` with its zone: a naive value (SQLite, or a query without an offset) means UTC."""
    return dt if dt.tzinfo is not None else dt.replace(tzinfo=UTC)


def aware_or_none(dt: datetime | None) -> datetime | None:
    return None if dt is None else aware(dt)
