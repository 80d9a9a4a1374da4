"""Learned and manual entries: the two sources minewatch writes itself.

`learned` (category pool): pool endpoints the detector confirmed at run time — a Stratum
signature on a flow, or an address from a DNS answer for a pool name. The detector calls
`Learner.learn(endpoint, why, ttl)`; writes are batched (`batch` calls, or `flush()`), and
re-learning an endpoint extends its expiry (never shortens it). Each flush republishes the
source: live learned entries are exactly the unexpired ones, so an entry whose TTL ran out drops
out of the next version (and the matcher provider stops using it at once, see `provider`).

`manual` (an analyst's word): `add_manual` / `remove_manual` with a reason and who; every change
writes an audit row naming the version it produced. Manual and learned entries are evidence,
not hearsay: allowlists do not suppress them in exported block lists (`allow.CONFIRMED`).

Neither source has the shrink or empty guard (they are not feeds: empty is a valid state).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, delete, select
from sqlalchemy.orm import Session

from blacklist.entries import Category, Entry
from blacklist.health import RefreshReport
from blacklist.parsers import ParseResult
from blacklist.service import FeedService, Target
from blacklist.syntax import EntryError, parse_item
from blacklist.versions import Ident, ensure_schema, ident, lock_head
from store.listmodels import LearnedRow, ManualAuditRow, ManualRow
from store.times import aware

LEARNED = "learned"
MANUAL = "manual"
DEFAULT_TTL = 86400.0  # seconds
LEARNED_CONFIDENCE = 0.9
MANUAL_CONFIDENCE = 0.95
PURGE_AFTER = timedelta(days=30)  # expired learned rows are kept this long (first_seen history)
Clock = Callable[[], datetime]


def _utcnow() -> datetime:
    return datetime.now(UTC)


class Learner:
    """Batched writer of learned endpoints; use as a context manager or call `flush`."""

    def __init__(
        self,
        engine: Engine,
        *,
        batch: int = 256,
        ttl: float = DEFAULT_TTL,
        confidence: float = LEARNED_CONFIDENCE,
        public_only: bool = True,
        clock: Clock = _utcnow,
    ) -> None:
        ensure_schema(engine)
        self.service = FeedService(engine, clock=clock)
        self.engine = engine
        self.batch, self.ttl, self.confidence = batch, ttl, confidence
        self.public_only = public_only
        self.clock = clock
        self.pending: dict[Ident, tuple[Entry, datetime]] = {}
        self.rejected = 0
        self.written = 0

    def learn(
        self, endpoint: str, why: str, ttl: float | None = None, confidence: float | None = None
    ) -> bool:
        """Queue `endpoint` (IP, IP:port[/proto], domain); False if it is not a valid public
        indicator (counted in `rejected`)."""
        try:
            entry = parse_item(
                endpoint,
                source=LEARNED,
                category=Category.POOL,
                confidence=self.confidence if confidence is None else confidence,
                raw=why,
                public_only=self.public_only,
            )
        except EntryError:
            self.rejected += 1
            return False
        expires = self.clock() + timedelta(seconds=self.ttl if ttl is None else ttl)
        k = ident(entry)
        old = self.pending.get(k)
        if old is None or old[1] < expires:
            self.pending[k] = (entry, expires)
        if len(self.pending) >= self.batch:
            self.flush()
        return True

    def flush(self) -> RefreshReport | None:
        """Write queued endpoints and republish the learned source (one transaction)."""
        if not self.pending:
            return None
        items, self.pending = list(self.pending.values()), {}
        now = self.clock()
        with Session(self.engine) as session, session.begin():
            lock_head(session, now)
            values = [e.value for e, _ in items]
            known = {
                (r.kind, r.value): r
                for r in session.scalars(select(LearnedRow).where(LearnedRow.value.in_(values)))
            }
            for entry, expires in items:
                row = known.get((str(entry.kind), entry.value))
                if row is None:
                    session.add(
                        LearnedRow(
                            kind=str(entry.kind),
                            value=entry.value,
                            why=entry.raw[:1000],
                            confidence=entry.confidence,
                            first_seen=now,
                            last_seen=now,
                            expires=expires,
                            times=1,
                        )
                    )
                else:
                    row.why, row.last_seen, row.times = entry.raw[:1000], now, row.times + 1
                    row.confidence = max(row.confidence, entry.confidence)
                    row.expires = max(aware(row.expires), expires)
            session.flush()
            report = _publish_learned(self.service, session)
        self.written += len(items)
        return report

    def __enter__(self) -> Learner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.flush()


def publish_learned(service: FeedService) -> RefreshReport:
    """Republish the learned source now (drops expired entries); used by `feeds update`."""
    with Session(service.engine) as session, session.begin():
        lock_head(session, service.clock())
        return _publish_learned(service, session)


def _publish_learned(service: FeedService, session: Session) -> RefreshReport:
    now = service.clock()
    session.execute(delete(LearnedRow).where(LearnedRow.expires < now - PURGE_AFTER))
    entries: list[Entry] = []
    expires: dict[Ident, datetime] = {}
    rows = session.scalars(select(LearnedRow).where(LearnedRow.expires > now))
    for r in rows:
        e = parse_item(
            r.value, source=LEARNED, confidence=r.confidence, raw=r.why, public_only=False
        )
        entries.append(e)
        expires[ident(e)] = aware(r.expires)
    target = Target(LEARNED, LEARNED, str(Category.POOL), "detector", "learned")
    result = ParseResult(tuple(entries), ())
    return service.apply(target, result, session=session, guard=False, expires=expires,
                         note="learned endpoints")  # fmt: skip


@dataclass(frozen=True, slots=True)
class ManualChange:
    value: str
    version_id: int | None


class ManualError(ValueError):
    """An invalid value, or removing an entry that is not there."""


def add_manual(
    engine: Engine,
    value: str,
    *,
    reason: str,
    by: str,
    category: Category = Category.POOL,
    confidence: float = MANUAL_CONFIDENCE,
    public_only: bool = False,
    clock: Clock = _utcnow,
) -> ManualChange:
    """Add (or update) an analyst entry; returns the canonical value and the new version."""
    if not reason.strip():
        raise ManualError("a reason is required")
    try:
        entry = parse_item(
            value,
            source=MANUAL,
            category=category,
            confidence=confidence,
            raw=reason,
            public_only=public_only,
        )
    except EntryError as exc:
        raise ManualError(exc.reason) from exc
    service = FeedService(engine, clock=clock)
    with Session(engine) as session, session.begin():
        now = clock()
        lock_head(session, now)
        row = _manual_row(session, entry)
        if row is None:
            row = ManualRow(kind=str(entry.kind), value=entry.value)
            session.add(row)
        row.subdomains, row.category, row.confidence = entry.subdomains, str(category), confidence
        row.reason, row.added_by, row.added_at = reason, by, now
        session.flush()
        vid = _publish_manual(service, session, f"manual add {entry.value} by {by}")
        session.add(
            ManualAuditRow(
                at=now,
                action="add",
                value=entry.value,
                category=str(category),
                reason=reason,
                by=by,
                version_id=vid,
            )
        )
    return ManualChange(entry.value, vid)


def remove_manual(
    engine: Engine, value: str, *, reason: str, by: str, clock: Clock = _utcnow
) -> ManualChange:
    """Remove an analyst entry (ManualError when it is not there)."""
    if not reason.strip():
        raise ManualError("a reason is required")
    try:
        entry = parse_item(value, source=MANUAL, public_only=False)
    except EntryError as exc:
        raise ManualError(exc.reason) from exc
    service = FeedService(engine, clock=clock)
    with Session(engine) as session, session.begin():
        now = clock()
        lock_head(session, now)
        row = _manual_row(session, entry)
        if row is None:
            raise ManualError(f"no manual entry {entry.value!r}")
        category = row.category
        session.delete(row)
        session.flush()
        vid = _publish_manual(service, session, f"manual remove {entry.value} by {by}")
        session.add(
            ManualAuditRow(
                at=now,
                action="remove",
                value=entry.value,
                category=category,
                reason=reason,
                by=by,
                version_id=vid,
            )
        )
    return ManualChange(entry.value, vid)


def manual_audit(engine: Engine) -> list[ManualAuditRow]:
    """Every manual change, oldest first."""
    ensure_schema(engine)
    with Session(engine) as session:
        rows = list(session.scalars(select(ManualAuditRow).order_by(ManualAuditRow.id)))
        session.expunge_all()
        return rows


def _manual_row(session: Session, entry: Entry) -> ManualRow | None:
    stmt = select(ManualRow).where(
        ManualRow.kind == str(entry.kind), ManualRow.value == entry.value
    )
    return session.scalars(stmt).first()


def _publish_manual(service: FeedService, session: Session, note: str) -> int | None:
    entries = [
        parse_item(
            r.value,
            source=MANUAL,
            category=Category(r.category),
            confidence=r.confidence,
            subdomains=r.subdomains,
            raw=r.reason,
            public_only=False,
        )
        for r in session.scalars(select(ManualRow).order_by(ManualRow.id))
    ]
    target = Target(MANUAL, MANUAL, "mixed", "analysts", "manual")
    result = ParseResult(tuple(entries), ())
    return service.apply(target, result, session=session, guard=False, note=note).version_id
