"""Subscriber attribution: who held a flagged address at the time of the hit.

Two sources, imported from CSV into the `subscribers` / `subscriber_sessions` tables
(`store.subscribermodels`): a registry of subscriber prefixes and addresses (account, name,
sector, region) and time-bounded sessions (a RADIUS accounting export: ip, start, stop,
account). `Attributor` reads both into in-memory indexes (`store.attribution_index`), so the hit
writer attributes a hit with no query: a session covering the time wins, joined to the registry
by account; otherwise the longest registry prefix holding the address.

Imports are one transaction each (a file that fails changes nothing) and upsert: a registry
network, or a session (ip, start, account), imported again replaces the earlier row.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any, TextIO

from sqlalchemy import Connection, Engine, Table, and_, delete, func, insert, select
from sqlalchemy.dialects import postgresql, sqlite

from store.attribution_csv import (
    SECTORS,
    AttributionError,
    ImportReport,
    normalize_sector,
    parse_registry,
    parse_sessions,
)
from store.attribution_index import PrefixIndex, SessionIndex, to_us
from store.attribution_net import Net, hex16, parse_ip, parse_net
from store.subscribermodels import SubscriberRow, SubscriberSessionRow
from store.times import aware

__all__ = [
    "SECTORS",
    "AttributionError",
    "Attributor",
    "ImportReport",
    "Sides",
    "Subscriber",
    "import_registry",
    "import_sessions",
    "normalize_sector",
]

REGISTRY: Table = SubscriberRow.__table__  # type: ignore[assignment]
SESSIONS: Table = SubscriberSessionRow.__table__  # type: ignore[assignment]
BATCH = 5000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)


@dataclass(frozen=True, slots=True)
class Subscriber:
    account: str
    name: str
    sector: str
    region: str


@dataclass(frozen=True, slots=True)
class Sides:
    """A flow's ends as subscriber and remote (pool) side."""

    subscriber_ip: str
    subscriber_port: int
    remote_ip: str
    remote_port: int


def open_text(path: Path, encoding: str) -> TextIO:
    """Text with undecodable bytes kept as surrogates (the parser reports those lines)."""
    enc = "utf-8-sig" if encoding.lower().replace("_", "-") in ("utf-8", "utf8") else encoding
    try:
        return path.open(encoding=enc, errors="surrogateescape", newline="")
    except (OSError, LookupError) as exc:
        raise AttributionError(f"cannot read {path}: {exc}") from exc


def upsert_rows(
    conn: Connection, table: Table, rows: list[dict[str, Any]], keys: list[str]
) -> None:
    """Insert rows; a row whose key exists replaces the stored one (one statement, many rows)."""
    if not rows:
        return
    dialect = conn.dialect.name
    if dialect in ("sqlite", "postgresql"):
        ins = (sqlite.insert if dialect == "sqlite" else postgresql.insert)(table)
        update = {c: ins.excluded[c] for c in rows[0] if c not in keys}
        conn.execute(ins.on_conflict_do_update(index_elements=keys, set_=update), rows)
        return
    for r in rows:  # other databases: portable but slower
        conn.execute(delete(table).where(and_(*(table.c[k] == r[k] for k in keys))))
    conn.execute(insert(table), rows)


def import_registry(
    engine: Engine, path: Path, *, replace: bool = False, encoding: str = "utf-8"
) -> ImportReport:
    """Import a registry CSV (network, account, name, sector, region); `replace` drops every
    registry row first (in the same transaction), else networks already present are updated."""
    report = ImportReport(str(path))
    with open_text(path, encoding) as fh:
        records = list(parse_registry(fh, report))
    now = datetime.now(UTC)
    rows: list[dict[str, Any]] = []
    accounts: list[dict[str, Any]] = []  # account-only rows
    for r in records:
        row = {"account": r.account, "name": r.name, "sector": r.sector, "region": r.region,
               "imported_at": now, "source": str(path)}  # fmt: skip
        if r.net is None:
            accounts.append({"network": None, "family": None, "prefixlen": None, "lo": None,
                             "hi": None, **row})  # fmt: skip
        else:
            rows.append({"network": r.net.text, "family": r.net.family,
                         "prefixlen": r.net.prefixlen, "lo": hex16(r.net.lo),
                         "hi": hex16(r.net.hi), **row})  # fmt: skip
    with engine.begin() as conn:
        if replace:
            conn.execute(delete(REGISTRY))
        for i in range(0, len(rows), BATCH):
            upsert_rows(conn, REGISTRY, rows[i : i + BATCH], ["network"])
        for i in range(0, len(accounts), BATCH):
            chunk = accounts[i : i + BATCH]
            names = [a["account"] for a in chunk]
            conn.execute(
                delete(REGISTRY).where(REGISTRY.c.network.is_(None), REGISTRY.c.account.in_(names))
            )
            conn.execute(insert(REGISTRY), chunk)
    report.imported = len(rows) + len(accounts)
    return report


def import_sessions(
    engine: Engine, path: Path, *, tz: tzinfo = UTC, encoding: str = "utf-8"
) -> ImportReport:
    """Import a sessions CSV (ip, start, stop, account), streamed in batches inside one
    transaction; times without a zone are in `tz`. A session already stored is updated."""
    report = ImportReport(str(path))
    now = datetime.now(UTC)
    source = str(path)
    with open_text(path, encoding) as fh, engine.begin() as conn:
        batch: dict[tuple[str, datetime, str], dict[str, Any]] = {}
        for r in parse_sessions(fh, report, tz):
            report.imported += 1
            row = session_row(r.net, r.start, r.stop, r.account, source, now)
            batch[(r.net.text, r.start, r.account)] = row
            if len(batch) >= BATCH:
                upsert_rows(conn, SESSIONS, list(batch.values()), SESSION_KEYS)
                batch.clear()
        upsert_rows(conn, SESSIONS, list(batch.values()), SESSION_KEYS)
    return report


SESSION_KEYS = ["ip", "start", "account"]  # what identifies a stored session


def session_row(
    net: Net, start: datetime, stop: datetime | None, account: str, source: str, now: datetime
) -> dict[str, Any]:
    """One `subscriber_sessions` row (for `upsert_rows` on `SESSION_KEYS`)."""
    return {
        "ip": net.text, "family": net.family, "prefixlen": net.prefixlen, "lo": hex16(net.lo),
        "start": start, "stop": stop, "account": account, "source": source, "imported_at": now,
    }  # fmt: skip


def _us(dt: datetime) -> int:
    """Microseconds since the epoch; naive values (SQLite) are UTC."""
    return (aware(dt) - _EPOCH) // _US


@dataclass(slots=True)
class _State:
    signature: tuple[Any, ...] = ()
    registry: PrefixIndex = field(default_factory=lambda: PrefixIndex(()))
    registry_subs: list[Subscriber] = field(default_factory=list)
    sessions: SessionIndex = field(default_factory=lambda: SessionIndex((), (), (), (), (), ()))
    account_subs: list[Subscriber] = field(default_factory=list)


class Attributor:
    """Attributes flows to subscribers from in-memory copies of the registry and sessions.

    `reload` swaps in a fresh copy in one assignment, so lookups running in other threads see
    either the old or the new state, never a mix.
    """

    def __init__(self, engine: Engine, internal: Sequence[str] = ()) -> None:
        self.engine = engine
        try:
            nets = [parse_net(n) for n in internal]
        except ValueError as exc:
            raise AttributionError(f"internal networks: {exc}") from exc
        self._internal = PrefixIndex((n.family, n.lo, n.hi, 0) for n in nets) if nets else None
        self._state = _State()

    @classmethod
    def load(cls, engine: Engine, internal: Sequence[str] = ()) -> Attributor:
        self = cls(engine, internal)
        self.reload()
        return self

    @property
    def counts(self) -> tuple[int, int]:
        """(registry rows, sessions) currently loaded."""
        return len(self._state.registry_subs), self._state.sessions.size

    def _signature(self, conn: Connection) -> tuple[Any, ...]:
        """Changes with every import: each one stamps its rows with a new imported_at, and a
        registry replace or an account-only row inserts rows with new ids."""
        sig: list[Any] = []
        for t in (REGISTRY, SESSIONS):
            sig.extend(conn.execute(select(func.max(t.c.id), func.max(t.c.imported_at))).one())
        return tuple(sig)

    def reload(self) -> None:
        """Re-read both tables when they changed since the last load (cheap when not)."""
        with self.engine.connect() as conn:
            sig = self._signature(conn)
            if sig == self._state.signature:
                return
            state = _State(signature=sig)
            by_account: dict[str, Subscriber] = {}  # account-only row, else first prefix row
            plain: set[str] = set()
            prefixes: list[tuple[int, int, int, int]] = []
            c = REGISTRY.c
            q = select(c.family, c.lo, c.hi, c.account, c.name, c.sector, c.region).order_by(c.id)
            for fam, lo, hi, account, name, sector, region in conn.execute(q):
                sub = Subscriber(account, name, sector, region)
                if fam is None:
                    if account not in plain:
                        plain.add(account)
                        by_account[account] = sub
                    continue
                prefixes.append((fam, int(lo, 16), int(hi, 16), len(state.registry_subs)))
                state.registry_subs.append(sub)
                by_account.setdefault(account, sub)
            state.registry = PrefixIndex(prefixes)
            state.sessions = self._load_sessions(conn, by_account, state.account_subs)
        self._state = state

    @staticmethod
    def _load_sessions(
        conn: Connection, by_account: dict[str, Subscriber], subs: list[Subscriber]
    ) -> SessionIndex:
        fams: list[int] = []
        plens: list[int] = []
        los: list[int] = []
        starts: list[int] = []
        stops: list[int | None] = []
        owners: list[int] = []
        number: dict[str, int] = {}
        q = select(SESSIONS.c.family, SESSIONS.c.prefixlen, SESSIONS.c.lo, SESSIONS.c.start,
                   SESSIONS.c.stop, SESSIONS.c.account).order_by(SESSIONS.c.id)  # fmt: skip
        for fam, plen, lo, start, stop, account in conn.execution_options(yield_per=20000).execute(
            q
        ):
            n = number.get(account)
            if n is None:
                n = number[account] = len(subs)
                subs.append(by_account.get(account) or Subscriber(account, "", "", ""))
            fams.append(fam)
            plens.append(plen)
            los.append(int(lo, 16))
            starts.append(_us(start))
            stops.append(None if stop is None else _us(stop))
            owners.append(n)
        return SessionIndex(fams, plens, los, starts, stops, owners)

    def _is_internal(self, ip: str) -> bool:
        assert self._internal is not None
        try:
            return self._internal.find(*parse_ip(ip)) >= 0
        except ValueError:
            return False

    def sides(self, client_ip: str, client_port: int, server_ip: str, server_port: int) -> Sides:
        """The subscriber end: the one inside the internal networks; the client (initiator)
        when both or neither are, or when no internal networks are set."""
        internal = self._internal is not None
        if internal and self._is_internal(server_ip) and not self._is_internal(client_ip):
            return Sides(server_ip, server_port, client_ip, client_port)
        return Sides(client_ip, client_port, server_ip, server_port)

    def lookup(self, ip: str, ts: float) -> Subscriber | None:
        """Who held `ip` at unix time `ts`: the covering session's account, else the longest
        registry prefix, else None."""
        state = self._state
        try:
            family, value = parse_ip(ip)
        except ValueError:
            return None
        us = to_us(ts)
        if us is not None and state.sessions.size:
            n = state.sessions.find(family, value, us)
            if n >= 0:
                return state.account_subs[n]
        n = state.registry.find(family, value)
        return state.registry_subs[n] if n >= 0 else None


def list_subscribers(
    engine: Engine, *, sector: str | None = None, region: str | None = None, limit: int = 1000
) -> Iterable[SubscriberRow]:
    """Registry rows, optionally of one sector (any alias) and region, ordered by network."""
    q = select(SubscriberRow).order_by(
        SubscriberRow.network.is_(None),
        SubscriberRow.family,
        SubscriberRow.lo,
        SubscriberRow.account,
    )
    q = q.limit(limit)
    if sector is not None:
        q = q.where(SubscriberRow.sector == (normalize_sector(sector) or sector))
    if region is not None:
        q = q.where(SubscriberRow.region == region)
    from sqlalchemy.orm import Session

    with Session(engine) as session:
        return list(session.scalars(q))
