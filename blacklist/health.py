"""What refreshes report and what the feed health table says, per source.

`RefreshReport` is one refresh's outcome ("N entries, M problems", the version it made or why
the last good version was kept); `FeedHealth` is a source's row in `list_feeds` with a one-word
verdict: ok, never fetched, stale (no success for `STALE_FACTOR` refresh intervals — dead feeds
die silently, list-pitfalls §3) or FAILING with the error text.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from blacklist.entries import Problem
from blacklist.versions import ensure_schema
from store.listmodels import FeedStateRow
from store.times import aware_or_none

STALE_FACTOR = 3  # a feed not refreshed successfully for 3 refresh intervals is stale


@dataclass(frozen=True, slots=True)
class RefreshReport:
    """What one refresh did; `status`: new-version, unchanged, failed, retired, skipped."""

    source: str
    status: str
    entries: int = 0  # unique entries parsed
    problems: int = 0
    version_id: int | None = None
    added: int = 0
    removed: int = 0
    http_status: int | None = None
    error: str | None = None
    first_problems: tuple[Problem, ...] = ()

    @property
    def ok(self) -> bool:
        return self.status != "failed"

    def line(self) -> str:
        head = f"{self.source}: {self.entries} entries, {self.problems} problems"
        if self.status == "new-version":
            return f"{head}: version {self.version_id} (+{self.added} -{self.removed})"
        if self.status == "retired":
            return f"{self.source}: retired, version {self.version_id} (-{self.removed})"
        if self.status == "failed":
            return f"{head}: FAILED, kept the last good version: {self.error}"
        if self.status == "skipped":
            return f"{self.source}: skipped: {self.error}"
        return f"{head}: unchanged"


@dataclass(frozen=True, slots=True)
class FeedHealth:
    name: str
    origin: str
    category: str
    location: str
    format: str
    last_attempt: datetime | None
    last_success: datetime | None
    last_change: datetime | None
    http_status: int | None
    entries: int
    attempt_entries: int
    problems: int
    error: str | None
    failures: int

    def health(self, refresh: int | None, now: datetime) -> str:
        """ok, never fetched, stale (no success for STALE_FACTOR × refresh), or FAILING."""
        if self.last_attempt is None:
            return "never fetched"
        if self.error:
            return f"FAILING ({self.failures}x): {self.error}"
        last = self.last_success
        if refresh and last is not None and now - last > timedelta(seconds=STALE_FACTOR * refresh):
            return "stale"
        return "ok"


def feed_health(engine: Engine) -> list[FeedHealth]:
    """Health rows of every source the database has seen, by name."""
    ensure_schema(engine)
    with Session(engine) as session:
        rows = session.scalars(select(FeedStateRow).order_by(FeedStateRow.name))
        return [
            FeedHealth(
                r.name,
                r.origin,
                r.category,
                r.location,
                r.format,
                aware_or_none(r.last_attempt),
                aware_or_none(r.last_success),
                aware_or_none(r.last_change),
                r.http_status,
                r.entries,
                r.attempt_entries,
                r.problems,
                r.error,
                r.failures,
            )
            for r in rows
        ]
