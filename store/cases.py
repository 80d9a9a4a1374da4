"""Reading and moving cases: lists with filters, one case with its audit trail, workflow moves,
the regulator's IP check, a subscriber's summary, and the maintenance jobs (auto-clear, hit
retention). Views are plain dataclasses so the API and CLI never hold ORM rows."""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, Integer, Select, bindparam, delete, func, inspect, select
from sqlalchemy.orm import Session

from store.casemodels import CaseAuditRow, CaseRow
from store.models import HitRow
from store.times import aware
from store.workflow import AUTO_CLEAR_FROM, FLAGGED, Status, check_move


# not frozen: a frozen init costs 5 µs a row on a 100-row page; no __slots__: orjson writes a
# dataclass from its __dict__ 2-3x faster (0.27 vs 0.66 ms for a 100-case page)
@dataclass
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
_COLUMN = {f: inspect(CaseRow).columns[f] for f in _FIELDS}  # Core columns: no ORM layer
_COLUMNS = tuple(_COLUMN.values())  # select(*_COLUMNS) rows fit CaseView


def _reading(engine: Engine) -> Connection:
    """A connection for reads: autocommit, so a query is one round trip (no BEGIN before it,
    no ROLLBACK when the connection goes back to the pool)."""
    return engine.connect().execution_options(isolation_level="AUTOCOMMIT")


def view(row: CaseRow) -> CaseView:
    """A case row as a detached view (times made timezone-aware: SQLite drops the zone)."""
    return _from_tuple(tuple(getattr(row, f) for f in _FIELDS), copy=True)


def _from_tuple(values: Sequence[Any], *, copy: bool = False) -> CaseView:
    """A view from one `select(*_COLUMNS)` row: no ORM objects (about 10x cheaper per row, which
    is what a verification-list page costs)."""
    case = CaseView(*values)
    if case.first_seen.tzinfo is None:  # SQLite hands back naive times (stored as UTC)
        case.first_seen = case.first_seen.replace(tzinfo=UTC)
    if case.last_seen.tzinfo is None:
        case.last_seen = case.last_seen.replace(tzinfo=UTC)
    if case.updated.tzinfo is None:
        case.updated = case.updated.replace(tzinfo=UTC)
    if copy:  # JSON values of ORM rows are shared with the session; Core rows are fresh
        case.evidence, case.detail = dict(case.evidence), dict(case.detail)
    return case


# the filters with a value, by name; `repeat` (offences > 1) has none
_PARAMS = ("status", "sector", "region", "since", "min_confidence", "subscriber_ip", "cls",
           "after_id")  # fmt: skip


@dataclass(frozen=True, slots=True)
class CaseFilter:
    """What `list_cases` selects."""

    status: tuple[str, ...] | None = None
    sector: str | None = None
    region: str | None = None
    since: datetime | None = None
    min_confidence: float | None = None
    subscriber_ip: str | None = None
    cls: str | None = None
    repeat: bool = False
    after_id: int | None = None

    def statement(self, limit: int) -> tuple[Select[Any], dict[str, Any]]:
        """The matching cases by id, at most `limit` (keyset pagination: `after_id` is the last
        id of the previous page), as a statement and its parameters. The statement is built
        once per shape (which filters are set) and reused: a new statement object costs a
        request 1-2 ms of expression building and result-column matching in SQLAlchemy."""
        params = {name: value for name in _PARAMS if (value := getattr(self, name)) is not None}
        shape = tuple(params)
        params["limit"] = limit
        return _statement(shape, self.repeat), params


@functools.cache  # at most 2**9 shapes
def _statement(shape: tuple[str, ...], repeat: bool) -> Select[Any]:
    c = _COLUMN
    where = {
        "status": c["status"].in_(bindparam("status", expanding=True)),
        "sector": c["sector"] == bindparam("sector"),
        "region": c["region"] == bindparam("region"),
        "since": c["last_seen"] >= bindparam("since"),
        "min_confidence": c["confidence"] >= bindparam("min_confidence"),
        "subscriber_ip": c["subscriber_ip"] == bindparam("subscriber_ip"),
        "cls": c["cls"] == bindparam("cls"),
        "after_id": c["id"] > bindparam("after_id"),
    }
    stmt = select(*_COLUMNS).where(*(where[name] for name in shape)).order_by(c["id"])
    if repeat:
        stmt = stmt.where(c["offences"] > 1)
    return stmt.limit(bindparam("limit", type_=Integer))


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
    stmt, params = case_filter(**filters).statement(limit)
    with _reading(engine) as conn:
        return [_from_tuple(r) for r in conn.execute(stmt, params).all()]


def get_case(engine: Engine, case_id: int) -> CaseView | None:
    with _reading(engine) as conn:
        values = conn.execute(select(*_COLUMNS).where(_COLUMN["id"] == case_id)).first()
    return _from_tuple(values) if values is not None else None


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
    stmt = select(*_COLUMNS).where(_COLUMN["subscriber_ip"].in_(bindparam("ips", expanding=True)))
    stmt = stmt.order_by(_COLUMN["id"])
    with _reading(engine) as conn:  # Core rows: a weekly list can name 100k addresses
        for start in range(0, len(wanted), 500):
            for values in conn.execute(stmt, {"ips": wanted[start : start + 500]}).all():
                case = _from_tuple(values)
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
