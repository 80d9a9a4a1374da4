"""Refreshing sources into versions: a refresh never makes the live list worse (STYLE 9).

One refresh of one source: fetch → unpack → parse → judge → commit. It keeps the last good
version of the source (and records why in the feed health) when

- the fetch fails (HTTP error after retries, timeout, oversized body, unreadable file),
- the parser crashes (it should not; if it does, the feed is not the one to suffer),
- the parse is empty (no valid entry at all), or
- the parse shrank suspiciously: fewer unique entries than `min_fraction` (default 0.5, per
  source `min_fraction:` in the index) of the source's last good version — unless forced.

Only a sane result whose content hash differs from the live one makes a new version
(`blacklist.versions.commit_source`); an identical one (also a 304 Not Modified) only updates
health. Health, per source (`list_feeds`): last attempt, last success, last change, HTTP status,
entries of the last good version, entries and problems of the last attempt, error text and
consecutive failures. The health row and the version commit in one transaction.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from blacklist.entries import Category
from blacklist.fetch import Fetcher, FetchError, unpack
from blacklist.health import RefreshReport
from blacklist.parsers import PARSERS, ParseResult, SourceMeta, read_lines
from blacklist.sources import Source, SourceIndex
from blacklist.versions import (
    Ident,
    commit_source,
    content_hash,
    ensure_schema,
    lock_head,
    unique_entries,
)
from store.listmodels import FeedStateRow, ListVersionRow

MIN_FRACTION = 0.5
Clock = Callable[[], datetime]


@dataclass(frozen=True, slots=True)
class Target:
    """Where a parse goes, and how the feed health names it."""

    name: str
    origin: str  # index, import, learned, manual
    category: str
    location: str
    fmt: str


def _utcnow() -> datetime:
    return datetime.now(UTC)


def parse_body(body: bytes, fmt: str, meta: SourceMeta) -> ParseResult:
    """Parse fetched bytes like a file (`parsers.read_lines`: bad bytes become U+FFFD)."""
    text = body.decode("utf-8", errors="replace")
    return PARSERS[fmt](io.StringIO(text, newline=""), meta)


class FeedService:
    """Refreshes, imports and retires sources in one database."""

    def __init__(
        self,
        engine: Engine,
        fetcher: Fetcher | None = None,
        *,
        min_fraction: float = MIN_FRACTION,
        clock: Clock = _utcnow,
    ) -> None:
        self.engine = engine
        self.fetcher = fetcher
        self.min_fraction = min_fraction
        self.clock = clock
        ensure_schema(engine)

    # -- whole index ----------------------------------------------------------------------------

    def update(
        self, index: SourceIndex, only: str | None = None, *, force: bool = False
    ) -> list[RefreshReport]:
        """Refresh every enabled source (or just `only`), retire disabled ones that are live,
        and republish learned entries (expired ones drop out)."""
        from blacklist.learned import publish_learned

        if only is not None:
            src = index.get(only)
            if src is None:
                raise KeyError(f"no source {only!r} in {index.path or 'the index'}")
            if not src.enabled:
                return [RefreshReport(only, "skipped", error="disabled in the index")]
            return [self.refresh(src, force=force)]
        reports = [self.refresh(s, force=force) for s in index if s.enabled]
        live = self.live_sources()
        for src in index:
            if not src.enabled and src.name in live:
                reports.append(self.retire(src.name, "disabled in the index"))
        reports.append(publish_learned(self))
        return reports

    def live_sources(self) -> dict[str, str]:
        """{source: content hash} of the latest version."""
        with Session(self.engine) as session:
            head = session.scalars(select(ListVersionRow).order_by(ListVersionRow.id.desc()))
            row = head.first()
            return dict(row.sources) if row is not None else {}

    # -- one source -----------------------------------------------------------------------------

    def refresh(self, src: Source, *, force: bool = False) -> RefreshReport:
        """Fetch, parse and apply one index source."""
        target = Target(src.name, "index", str(src.category), src.location, src.format)
        fetcher = self.fetcher or Fetcher(None)
        try:
            fetched = fetcher.fetch(src.name, src.location)
            body = unpack(fetched.body, src.member, fetcher.policy.max_bytes)
        except FetchError as exc:
            return self.fail(target, str(exc), exc.status)
        finally:
            if self.fetcher is None:
                fetcher.close()
        try:
            result = parse_body(body, src.format, src.meta())
        except Exception as exc:  # a parser bug must not cost the live list anything
            return self.fail(target, f"parser {src.format} failed: {exc!r}", fetched.status)
        fraction = src.min_fraction if src.min_fraction is not None else self.min_fraction
        return self.apply(target, result, http_status=fetched.status, min_fraction=fraction,
                          force=force)  # fmt: skip

    def import_file(
        self, path: Path, *, fmt: str, name: str, category: Category = Category.POOL,
        confidence: float = 0.5, public_only: bool = True, force: bool = False,
        options: Mapping[str, str] | None = None,
    ) -> RefreshReport:  # fmt: skip
        """Read a local file in a registered format into source `name` (created if new)."""
        src = Source(name, fmt, path=path, category=category, confidence=confidence,
                     public_only=public_only, options=dict(options or {}))  # fmt: skip
        target = Target(name, "import", str(category), str(path), fmt)
        try:
            result = PARSERS[fmt](read_lines(path), src.meta())
        except OSError as exc:
            return self.fail(target, f"cannot read {path}: {exc.strerror or exc}")
        return self.apply(target, result, force=force)

    def retire(self, name: str, why: str) -> RefreshReport:
        """Remove a source's entries from the live list (a new version)."""
        with Session(self.engine) as session, session.begin():
            now = self.clock()
            state = session.get(FeedStateRow, name)
            last = state.last_success if state is not None else None
            note = f"retire {name}: {why}"
            commit = commit_source(session, name, [], now=now, note=note, last_success=last)
            if state is not None:
                state.entries, state.content_hash, state.last_change = 0, None, now
        return RefreshReport(name, "retired", version_id=commit.version_id, removed=commit.removed)

    # -- judging and committing -----------------------------------------------------------------

    def fail(self, target: Target, error: str, http_status: int | None = None) -> RefreshReport:
        """Record a failed attempt; the live list is not touched."""
        with Session(self.engine) as session, session.begin():
            state = self._state(session, target)
            state.last_attempt, state.http_status = self.clock(), http_status
            state.attempt_entries = state.problems = 0
            state.error, state.failures = error[:2000], state.failures + 1
        return RefreshReport(target.name, "failed", http_status=http_status, error=error)

    def apply(
        self, target: Target, result: ParseResult, *, session: Session | None = None,
        http_status: int | None = None, guard: bool = True, force: bool = False,
        min_fraction: float | None = None, expires: Mapping[Ident, datetime] | None = None,
        note: str = "",
    ) -> RefreshReport:  # fmt: skip
        """Judge a parse and commit it if sane and changed, with its health, in one transaction
        (the caller's `session`, if given: learned/manual writes share theirs). `guard=False`
        (learned, manual) accepts empty and shrunken results."""
        if session is None:
            with Session(self.engine) as own, own.begin():
                return self.apply(target, result, session=own, http_status=http_status,
                                  guard=guard, force=force, min_fraction=min_fraction,
                                  expires=expires, note=note)  # fmt: skip
        now = self.clock()
        lock_head(session, now)
        state = self._state(session, target)
        uniq = unique_entries(result.entries)
        n, probs = len(uniq), len(result.problems)
        state.last_attempt, state.http_status = now, http_status
        state.attempt_entries, state.problems = n, probs
        cats = {e.category for e in uniq[:1000]}
        if len(cats) == 1:  # what the parser made of it (the regulator format fixes its own)
            state.category = str(cats.pop())
        report = partial(RefreshReport, target.name, entries=n, problems=probs,
                         http_status=http_status, first_problems=result.problems[:5])  # fmt: skip
        fraction = self.min_fraction if min_fraction is None else min_fraction
        error = None
        if guard and n == 0:
            error = f"empty parse ({result.lines} lines, {probs} problems)"
        elif guard and not force and state.entries and n < fraction * state.entries:
            error = (f"shrunk from {state.entries} to {n} entries (below {fraction:.0%} of the "
                     "last good version; use --force if intended)")  # fmt: skip
        if error is not None:
            state.error, state.failures = error, state.failures + 1
            return report("failed", error=error)
        digest = content_hash(uniq)
        previous = state.last_success  # the last refresh that listed the live rows
        state.error, state.failures, state.last_success = None, 0, now
        if expires is None and digest == self._live_hash(session, target.name):
            return report("unchanged")
        note = note or f"{target.origin} {target.name}"
        commit = commit_source(session, target.name, uniq, now=now, last_success=previous,
                               note=note, expires=expires, digest=digest)  # fmt: skip
        state.entries, state.content_hash = n, (digest if n else None)
        if commit.version_id is None:
            return report("unchanged")
        state.last_change = now
        return report("new-version", version_id=commit.version_id, added=commit.added,
                      removed=commit.removed)  # fmt: skip

    def _live_hash(self, session: Session, name: str) -> str | None:
        row = session.scalars(select(ListVersionRow).order_by(ListVersionRow.id.desc())).first()
        value = row.sources.get(name) if row is not None else None
        return value if isinstance(value, str) else None

    @staticmethod
    def _state(session: Session, target: Target) -> FeedStateRow:
        state = session.get(FeedStateRow, target.name)
        if state is None:
            state = FeedStateRow(name=target.name, origin=target.origin, entries=0,
                                 attempt_entries=0, problems=0, failures=0)  # fmt: skip
            session.add(state)
        state.category, state.location, state.format = target.category, target.location, target.fmt
        return state
