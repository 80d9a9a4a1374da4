"""Fold stored hits into cases, in the hit writer's transaction.

Each batch of hit rows is grouped by case key — (subscriber ip, account at the time, pool ip,
pool port, transport) — and every key is applied once: missing cases are inserted with
`ON CONFLICT DO NOTHING` (so sensors writing to one PostgreSQL never race on a new case), then
the key's rows are locked (`FOR UPDATE` on PostgreSQL; SQLite already holds the write lock after
the insert) and their counters grown. A case seen again after clearance reopens as `new` with
one more offence. Returned events (`case.opened`, `case.reopened`) go to the event targets after
the commit, so a receiver never hears of a case that was rolled back.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from sqlalchemy import select, tuple_
from sqlalchemy.orm import Session

from detector.hits import merge_detail
from store.casemodels import CaseAuditRow, CaseRow
from store.times import aware
from store.workflow import REOPEN_FROM, Status

# subscriber ip, account, pool ip, pool port, transport, pool domain (DNS-name cases only)
Key = tuple[str, str, str, int, str, str]
DNS_PORTS = frozenset({53, 5353})
CaseEvent = tuple[str, dict[str, Any]]  # (event type, payload)
SYSTEM = "system"


class SidesLike(Protocol):
    subscriber_ip: str
    subscriber_port: int
    remote_ip: str
    remote_port: int


class AttributorLike(Protocol):
    """`store.attribution.Attributor`'s two questions (a protocol keeps this module light)."""

    def sides(self, client_ip: str, client_port: int, server_ip: str, server_port: int) -> Any: ...

    def lookup(self, ip: str, ts: float) -> Any: ...


class GeoLike(Protocol):
    def lookup(self, ip: str) -> Any: ...


@dataclass(slots=True)
class _Acc:
    """One key's share of a batch."""

    first: datetime
    last: datetime
    cls: str
    variant: str
    confidence: float
    who: Any = None  # the Subscriber at the first hit, or None
    hits: int = 0
    flows: int = 0
    packets: int = 0
    bytes: int = 0
    evidence: dict[str, int] = field(default_factory=dict)
    detail: dict[str, Any] = field(default_factory=dict)

    def add(self, row: dict[str, Any]) -> None:
        self.first = min(self.first, row["first_ts"])
        self.last = max(self.last, row["last_ts"])
        mining = row["cls"] == "mining"
        if (mining and self.cls != "mining") or (
            (self.cls == row["cls"]) and row["confidence"] > self.confidence
        ):
            self.cls, self.variant = row["cls"], row["variant"]
        self.confidence = max(self.confidence, row["confidence"])
        self.hits += 1
        agg = row["detail"].get("aggregate")
        self.flows += int(agg.get("flow_records", 1)) if isinstance(agg, dict) else 1
        self.packets += row["packets"]
        self.bytes += row["bytes"]
        for kind in row["evidence"]:
            self.evidence[kind] = self.evidence.get(kind, 0) + 1
        merge_detail(self.detail, {k: v for k, v in row["detail"].items() if k != "aggregate"})


class CaseBuilder:
    """Applies hit rows to cases; `attributor` picks the subscriber side and account, `geo`
    enriches new pool endpoints (both optional: without them the client is the subscriber)."""

    def __init__(self, attributor: AttributorLike | None = None, geo: GeoLike | None = None):
        self.attributor = attributor
        self.geo = geo

    def key(self, row: dict[str, Any]) -> tuple[Key, Any]:
        """The case key of a hit row, and the subscriber record behind it (or None)."""
        sub_ip, pool_ip, pool_port = row["client_ip"], row["server_ip"], row["server_port"]
        who = None
        if self.attributor is not None:
            s: SidesLike = self.attributor.sides(
                row["client_ip"], row["client_port"], row["server_ip"], row["server_port"]
            )
            sub_ip, pool_ip, pool_port = s.subscriber_ip, s.remote_ip, s.remote_port
            who = self.attributor.lookup(sub_ip, row["first_ts"].timestamp())
        account = who.account if who is not None else ""
        domain = row["detail"].get("domain")
        if _dns_only(row) and isinstance(domain, str) and domain:
            return (sub_ip, account, "", 0, "dns", domain[:253]), who
        return (sub_ip, account, pool_ip, pool_port, row["transport"], ""), who

    def group(self, rows: Iterable[dict[str, Any]]) -> dict[Key, _Acc]:
        accs: dict[Key, _Acc] = {}
        for row in rows:
            key, who = self.key(row)
            acc = accs.get(key)
            if acc is None:
                acc = accs[key] = _Acc(
                    row["first_ts"], row["last_ts"], row["cls"], row["variant"], 0.0, who
                )
            acc.add(row)
        return accs

    def apply(self, session: Session, rows: list[dict[str, Any]]) -> list[CaseEvent]:
        """Grow the cases of `rows` inside `session`'s transaction; events to send after commit."""
        accs = self.group(rows)
        if not accs:
            return []
        now = datetime.now(UTC)
        self._insert_missing(session, accs, now)
        cols = (CaseRow.subscriber_ip, CaseRow.account, CaseRow.pool_ip, CaseRow.pool_port,
                CaseRow.transport, CaseRow.pool_domain)  # fmt: skip
        keys = list(accs)
        events: list[CaseEvent] = []
        for start in range(0, len(keys), 200):  # bounded IN lists
            part = keys[start : start + 200]
            stmt = select(CaseRow).where(tuple_(*cols).in_(part)).with_for_update()
            for case in session.scalars(stmt):
                key = (case.subscriber_ip, case.account, case.pool_ip, case.pool_port,
                       case.transport, case.pool_domain)  # fmt: skip
                events.extend(self._grow(session, case, accs[key], now))
        return events

    def _insert_missing(self, session: Session, accs: dict[Key, _Acc], now: datetime) -> None:
        values: list[dict[str, Any]] = []
        for (sub_ip, account, pool_ip, port, transport, domain), acc in accs.items():
            who = acc.who
            geo = self.geo.lookup(pool_ip) if self.geo is not None and pool_ip else None
            values.append({
                "subscriber_ip": sub_ip, "account": account,
                "name": who.name if who is not None else "",
                "sector": who.sector if who is not None else "",
                "region": who.region if who is not None else "",
                "pool_ip": pool_ip, "pool_port": port, "transport": transport,
                "pool_domain": domain,
                "pool_country": geo.country if geo is not None else None,
                "pool_asn": geo.asn if geo is not None else None,
                "pool_as_org": geo.as_org if geo is not None else None,
                "cls": acc.cls, "variant": acc.variant, "status": Status.NEW.value,
                "first_seen": acc.first, "last_seen": acc.last, "hits": 0, "flows": 0,
                "packets": 0, "bytes": 0, "confidence": 0.0, "evidence": {}, "detail": {},
                "offences": 1, "status_changed": now, "updated": now,
            })  # fmt: skip
        session.execute(_insert_ignore(session), values)

    def _grow(self, session: Session, case: CaseRow, acc: _Acc, now: datetime) -> list[CaseEvent]:
        event = ""
        if case.hits == 0:
            event = "case.opened"
            _audit(session, case.id, now, "open", None, Status.NEW, "first hit")
        elif case.status in REOPEN_FROM:
            event = "case.reopened"
            _audit(session, case.id, now, "reopen", case.status, Status.NEW,
                   "seen mining again after clearance")  # fmt: skip
            case.status, case.status_changed = Status.NEW.value, now
            case.offences += 1
        case.first_seen = min(aware(case.first_seen), acc.first)
        case.last_seen = max(aware(case.last_seen), acc.last)
        case.hits += acc.hits
        case.flows += acc.flows
        case.packets += acc.packets
        case.bytes += acc.bytes
        if acc.confidence > case.confidence or (acc.cls == "mining" and case.cls != "mining"):
            case.cls, case.variant = acc.cls, acc.variant
        case.confidence = max(case.confidence, acc.confidence)
        evidence = dict(case.evidence)
        for kind, n in acc.evidence.items():
            evidence[kind] = evidence.get(kind, 0) + n
        case.evidence = evidence
        detail = dict(case.detail)
        merge_detail(detail, acc.detail)
        case.detail = detail
        case.updated = now
        return [(event, _payload(case))] if event else []


def _dns_only(row: dict[str, Any]) -> bool:
    """A pool-name lookup seen on its way to a resolver: the server is not the pool."""
    return row["server_port"] in DNS_PORTS and set(row["evidence"]) <= {"dns", "port-only"}


def _insert_ignore(session: Session) -> Any:
    """INSERT … ON CONFLICT DO NOTHING for the session's dialect (SQLite, PostgreSQL)."""
    name = session.get_bind().dialect.name
    if name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(CaseRow).on_conflict_do_nothing(constraint="uq_cases_key")
    if name == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        return sqlite_insert(CaseRow).on_conflict_do_nothing()
    raise RuntimeError(f"cases need SQLite or PostgreSQL, not {name}")


def _audit(
    session: Session, case_id: int, at: datetime, action: str, frm: str | None, to: str, note: str
) -> None:
    session.add(CaseAuditRow(case_id=case_id, at=at, actor=SYSTEM, action=action,
                             from_status=frm, to_status=to, note=note))  # fmt: skip


def _payload(case: CaseRow) -> dict[str, Any]:
    """What an event target (SIEM, notification gateway) needs about a case: the fields of
    `pipelines.exporters.events.CASE_FIELDS` (kept in step by a test), times as ISO 8601."""
    return {
        "id": case.id, "status": case.status, "subscriber_ip": case.subscriber_ip,
        "account": case.account, "name": case.name, "sector": case.sector,
        "region": case.region, "pool_ip": case.pool_ip, "pool_port": case.pool_port,
        "transport": case.transport, "pool_domain": case.pool_domain,
        "pool_country": case.pool_country, "pool_asn": case.pool_asn, "cls": case.cls,
        "variant": case.variant, "first_seen": aware(case.first_seen).isoformat(),
        "last_seen": aware(case.last_seen).isoformat(), "hits": case.hits,
        "confidence": case.confidence, "offences": case.offences,
    }  # fmt: skip
