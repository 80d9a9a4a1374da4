"""Reading and moving cases: lists with filters, one case with its audit trail, workflow moves,
the regulator's IP check, a subscriber's summary, and the maintenance jobs (auto-clear, hit
retention). Views are plain dataclasses so the API and CLI never hold ORM rows."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, Select, delete, func, select
from sqlalchemy.orm import Session

from store.casemodels import CaseAuditRow, CaseRow
from store.models import HitRow
from store.times import aware
from store.workflow import AUTO_CLEAR_FROM, FLAGGED, Status, check_move


@dataclass(slots=True)  # not frozen: a frozen init costs 5 µs a row on a 100-row page
class CaseView:
    id: int
    subscriber_ip: str
    account: str
    name: str
    sector: str
    region: str
    pool_ip: str
    pool_port: int
    transport: str
    pool_domain: str
    pool_country: str | None
    pool_asn: int | None
    pool_as_org: str | None
    cls: str
    variant: str
    status: str
    first_seen: datetime
    last_seen: datetime
    hits: int
    flows: int
    packets: int
    bytes: int
    confidence: float
    evidence: dict[str, int]
    detail: dict[str, Any]
    offences: int
    updated: datetime


@dataclass(frozen=True, slots=True)
class AuditView:
    at: datetime
    actor: str
    action: str
    from_status: str | None
    to_status: str
    note: str


@dataclass(frozen=True, slots=True)
class Verdict:
    """The answer for one IP of a regulator-pushed list."""

    ip: str
    verdict: str  # flagged (an open case), known (cases, none open), clear, invalid
    cases: list[CaseView]
    reason: str = ""


@dataclass(frozen=True, slots=True)
class SubscriberView:
    ip: str
    account: str
    name: str
    sector: str
    region: str
    cases: list[CaseView]
    offences: int  # total over the cases: > number of cases means a repeat offender


_FIELDS = tuple(CaseView.__dataclass_fields__)
_COLUMNS = tuple(getattr(CaseRow, f) for f in _FIELDS)  # select(*_COLUMNS) rows fit CaseView
_TIMES = tuple(_FIELDS.index(f) for f in ("first_seen", "last_seen", "updated"))


def view(row: CaseRow) -> CaseView:
    """A case row as a detached view (times made timezone-aware: SQLite drops the zone)."""
    return _from_tuple(tuple(getattr(row, f) for f in _FIELDS), copy=True)


def _from_tuple(values: tuple[Any, ...], *, copy: bool = False) -> CaseView:
    """A view from one `select(*_COLUMNS)` row: no ORM objects (about 10x cheaper per row, which
    is what a verification-list page costs)."""
    vals = list(values)
    for i in _TIMES:
        if vals[i].tzinfo is None:
            vals[i] = vals[i].replace(tzinfo=UTC)
    if copy:  # JSON values of ORM rows are shared with the session; Core rows are fresh
        vals = [dict(v) if isinstance(v, dict) else v for v in vals]
    return CaseView(*vals)


@dataclass(frozen=True, slots=True)
class CaseFilter:
    """What `list_cases` (and the PostgreSQL JSON page, `store.casepage`) select."""

    status: tuple[str, ...] | None = None
    sector: str | None = None
    region: str | None = None
    since: datetime | None = None
    min_confidence: float | None = None
    subscriber_ip: str | None = None
    cls: str | None = None
    repeat: bool = False
    after_id: int | None = None

    def select(self, *columns: Any) -> Select[Any]:
        """`columns` of the matching cases, by id (keyset pagination: `after_id` is the last id
        of the previous page)."""
        t = CaseRow
        stmt = select(*columns).order_by(t.id)
        if self.status is not None:
            stmt = stmt.where(t.status.in_(self.status))
        if self.sector is not None:
            stmt = stmt.where(t.sector == self.sector)
        if self.region is not None:
            stmt = stmt.where(t.region == self.region)
        if self.since is not None:
            stmt = stmt.where(t.last_seen >= self.since)
        if self.min_confidence is not None:
            stmt = stmt.where(t.confidence >= self.min_confidence)
        if self.subscriber_ip is not None:
            stmt = stmt.where(t.subscriber_ip == self.subscriber_ip)
        if self.cls is not None:
            stmt = stmt.where(t.cls == self.cls)
        if self.repeat:
            stmt = stmt.where(t.offences > 1)
        if self.after_id is not None:
            stmt = stmt.where(t.id > self.after_id)
        return stmt


def case_filter(
    *,
    status: str | list[str] | None = None,
    sector: str | None = None,
    region: str | None = None,
    since: datetime | None = None,
    min_confidence: float | None = None,
    subscriber_ip: str | None = None,
    cls: str | None = None,
    repeat: bool = False,
    after_id: int | None = None,
) -> CaseFilter:
    """A filter from keyword arguments (`status` may be one status or a list). `since` keeps
    cases active at or after it; `repeat` keeps repeat offenders."""
    statuses = None if status is None else (status,) if isinstance(status, str) else tuple(status)
    return CaseFilter(statuses, sector, region, since, min_confidence, subscriber_ip, cls, repeat,
                      after_id)  # fmt: skip


def list_cases(engine: Engine, *, limit: int = 100, **filters: Any) -> list[CaseView]:
    """Cases matching every filter of `case_filter(**filters)`, by id, at most `limit`."""
    stmt = case_filter(**filters).select(*_COLUMNS).limit(limit)
    with engine.connect() as conn:
        return [_from_tuple(tuple(r)) for r in conn.execute(stmt).all()]


def get_case(engine: Engine, case_id: int) -> CaseView | None:
    with engine.connect() as conn:
        values = conn.execute(select(*_COLUMNS).where(CaseRow.id == case_id)).first()
    return _from_tuple(tuple(values)) if values is not None else None


def case_audit(engine: Engine, case_id: int) -> list[AuditView]:
    stmt = (
        select(CaseAuditRow)
        .where(CaseAuditRow.case_id == case_id)
        .order_by(CaseAuditRow.at, CaseAuditRow.id)
    )
    with Session(engine) as session:
        return [
            AuditView(aware(a.at), a.actor, a.action, a.from_status, a.to_status, a.note)
            for a in session.scalars(stmt)
        ]


def transition(
    engine: Engine, case_id: int, to_status: str, *, actor: str, note: str = ""
) -> CaseView:
    """Move a case one workflow step (WorkflowError if not allowed, LookupError if no case);
    the move and its audit row commit together."""
    now = datetime.now(UTC)
    with Session(engine) as session, session.begin():
        stmt = select(CaseRow).where(CaseRow.id == case_id).with_for_update()
        row = session.scalars(stmt).first()
        if row is None:
            raise LookupError(f"no case {case_id}")
        to = check_move(row.status, to_status)
        audit = CaseAuditRow(case_id=row.id, at=now, actor=actor, action="status",
                             from_status=row.status, to_status=to.value, note=note)  # fmt: skip
        session.add(audit)
        row.status, row.status_changed, row.updated = to.value, now, now
        session.flush()
        return view(row)


def check_ips(engine: Engine, ips: list[str]) -> list[Verdict]:
    """A verdict per IP of a regulator-pushed list, in the given order: `flagged` when it has an
    open case, `known` when it only has closed ones (cleared, false-positive), else `clear`;
    `invalid` for text that is not an IP address."""
    canon: dict[str, str] = {}
    out: list[Verdict | None] = []
    for raw in ips:
        try:
            canon[raw] = str(ipaddress.ip_address(raw.strip()))
            out.append(None)
        except ValueError:
            out.append(Verdict(raw, "invalid", [], "not an IPv4 or IPv6 address"))
    found: dict[str, list[CaseView]] = {}
    wanted = sorted(set(canon.values()))
    with engine.connect() as conn:  # Core rows: a weekly list can name 100k addresses
        for start in range(0, len(wanted), 500):
            part = wanted[start : start + 500]
            stmt = select(*_COLUMNS).where(CaseRow.subscriber_ip.in_(part)).order_by(CaseRow.id)
            for values in conn.execute(stmt).all():
                case = _from_tuple(tuple(values))
                found.setdefault(case.subscriber_ip, []).append(case)
    result = []
    for raw, done in zip(ips, out, strict=True):
        if done is not None:
            result.append(done)
            continue
        cases = found.get(canon[raw], [])
        if any(c.status in FLAGGED for c in cases):
            result.append(Verdict(canon[raw], "flagged", cases))
        elif cases:
            result.append(Verdict(canon[raw], "known", cases, "only closed cases"))
        else:
            result.append(Verdict(canon[raw], "clear", []))
    return result


def subscriber_summary(engine: Engine, ip: str) -> SubscriberView | None:
    """The cases of one subscriber address (None when there are none); the account shown is the
    one of the most recently active case."""
    cases = list_cases(engine, subscriber_ip=str(ipaddress.ip_address(ip)), limit=10_000)
    if not cases:
        return None
    latest = max(cases, key=lambda c: c.last_seen)
    return SubscriberView(latest.subscriber_ip, latest.account, latest.name, latest.sector,
                          latest.region, cases, sum(c.offences for c in cases))  # fmt: skip


def clear_stale(engine: Engine, days: float, *, now: datetime | None = None) -> int:
    """Clear notified/blocked cases with no activity for `days`; returns how many moved."""
    now = now or datetime.now(UTC)
    cutoff = now - timedelta(days=days)
    moved = 0
    with Session(engine) as session, session.begin():
        stmt = (
            select(CaseRow)
            .where(CaseRow.status.in_([s.value for s in AUTO_CLEAR_FROM]))
            .where(CaseRow.last_seen < cutoff)
            .with_for_update()
        )
        for row in session.scalars(stmt):
            session.add(CaseAuditRow(
                case_id=row.id, at=now, actor="system", action="status", from_status=row.status,
                to_status=Status.CLEARED.value, note=f"no activity for {days:g} days",
            ))  # fmt: skip
            row.status, row.status_changed, row.updated = Status.CLEARED.value, now, now
            moved += 1
    return moved


def purge_hits(engine: Engine, days: float, *, now: datetime | None = None) -> int:
    """Delete raw hits that ended more than `days` ago (cases keep their counters)."""
    cutoff = (now or datetime.now(UTC)) - timedelta(days=days)
    with Session(engine) as session, session.begin():
        result = session.execute(delete(HitRow).where(HitRow.last_ts < cutoff))
        return int(getattr(result, "rowcount", 0) or 0)


def status_counts(engine: Engine) -> dict[str, int]:
    """Cases per status (for metrics and the weekly report)."""
    with Session(engine) as session:
        rows = session.execute(select(CaseRow.status, func.count()).group_by(CaseRow.status))
        return {str(s): int(n) for s, n in rows}
