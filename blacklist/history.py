"""Reading list versions back: entries (with first/last seen), matcher input, diffs.

Version V is every `list_entries` row with `from_version <= V < coalesce(to_version, ∞)` (see
`blacklist.versions` for how rows are written). Rows are rebuilt into `Entry` objects without
re-validation — they were validated when parsed — using C-speed address parsing; about 20 µs an
entry including the database read, most of it building `Entry` and `ipaddress` objects.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, and_, or_, select
from sqlalchemy.orm import Session

from blacklist.entries import Category, Entry, Kind
from store.listmodels import ListEntryRow, ListVersionRow
from store.times import aware

CHUNK = 5000  # rows fetched at a time


class VersionError(LookupError):
    """A version id that does not exist."""


@dataclass(frozen=True, slots=True)
class StoredEntry:
    """An entry as stored: the indicator plus its list history."""

    entry: Entry
    first_seen: datetime
    last_seen: datetime
    expires: datetime | None


@dataclass(frozen=True, slots=True)
class Change:
    """One line of a diff: `op` is '+', '-' or '~' (category/confidence changed)."""

    op: str
    source: str
    kind: str
    value: str
    port: int | None
    proto: int | None
    category: str
    confidence: float


def _in_version(vid: int) -> Any:
    t = ListEntryRow
    return and_(t.from_version <= vid, or_(t.to_version.is_(None), t.to_version > vid))


def get_version(engine: Engine, vid: int) -> ListVersionRow:
    with Session(engine) as session:
        row = session.get(ListVersionRow, vid)
        if row is None:
            raise VersionError(f"no list version {vid}")
        session.expunge(row)
        return row


def list_versions(engine: Engine, limit: int | None = None) -> list[ListVersionRow]:
    """Versions, newest first."""
    with Session(engine) as session:
        stmt = select(ListVersionRow).order_by(ListVersionRow.id.desc()).limit(limit)
        rows = list(session.scalars(stmt))
        session.expunge_all()
        return rows


def iter_entries(
    engine: Engine,
    vid: int,
    *,
    source: str | None = None,
    live_since: Mapping[str, datetime] | None = None,
) -> Iterator[StoredEntry]:
    """Every entry of version `vid` (optionally one source). `live_since` maps a source to its
    last success, reported as last_seen for rows still live."""
    t = ListEntryRow
    stmt = (
        select(
            t.kind,
            t.value,
            t.port,
            t.proto,
            t.source,
            t.category,
            t.confidence,
            t.subdomains,
            t.raw,
            t.line,
            t.first_seen,
            t.last_seen,
            t.expires,
            t.to_version,
        )
        .where(_in_version(vid))
        .order_by(t.id)
    )
    if source is not None:
        stmt = stmt.where(t.source == source)
    live_since = live_since or {}
    with engine.connect() as conn:
        result = conn.execution_options(yield_per=CHUNK).execute(stmt)
        for kind, value, port, proto, src, cat, conf, sub, raw, line, fs, ls, exp, to in result:
            entry = entry_from_columns(kind, value, port, proto, src, cat, conf, sub, raw, line)
            last = aware(ls)
            if to is None and src in live_since:
                last = max(last, live_since[src])
            yield StoredEntry(entry, aware(fs), last, aware(exp) if exp is not None else None)


def entry_from_columns(
    kind: str, value: str, port: int | None, proto: int | None, source: str, category: str,
    confidence: float, subdomains: bool, raw: str, line: int,
) -> Entry:  # fmt: skip
    """Rebuild an `Entry` from stored canonical columns (no re-validation: it was valid)."""
    k = _KINDS[kind]
    net = None if k is Kind.DOMAIN else _network(k, value)
    return Entry(
        k, value, net, port, proto, source, _CATEGORIES[category], confidence, subdomains, raw,
        line,
    )  # fmt: skip


_KINDS = {str(k): k for k in Kind}
_CATEGORIES = {str(c): c for c in Category}


def _network(kind: Kind, value: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    """The prefix of a stored canonical ip/cidr/endpoint value (C-speed address parsing)."""
    if kind is Kind.ENDPOINT:
        host = value[: -len("/tcp")] if value.endswith(("/tcp", "/udp")) else value
        host = host[1 : host.index("]")] if host[0] == "[" else host.rpartition(":")[0]
        plen = -1
    else:
        host, _, text = value.partition("/")
        plen = int(text) if text else -1
    if ":" in host:
        n6 = int.from_bytes(socket.inet_pton(socket.AF_INET6, host), "big")
        return ipaddress.IPv6Network((n6, 128 if plen < 0 else plen))
    n4 = int.from_bytes(socket.inet_pton(socket.AF_INET, host), "big")
    return ipaddress.IPv4Network((n4, 32 if plen < 0 else plen))


def matcher_entries(engine: Engine, vid: int, now: datetime) -> tuple[list[Entry], datetime | None]:
    """Entries of version `vid` for compiling a matcher — unexpired ones only — and the
    earliest expiry among them (the moment the compiled list goes out of date)."""
    t = ListEntryRow
    stmt = select(
        t.kind, t.value, t.port, t.proto, t.source, t.category, t.confidence, t.subdomains,
        t.raw, t.line, t.expires,
    ).where(_in_version(vid)).order_by(t.id)  # fmt: skip
    entries: list[Entry] = []
    first: datetime | None = None
    with engine.connect() as conn:
        result = conn.execution_options(yield_per=CHUNK).execute(stmt)
        for kind, value, port, proto, src, cat, conf, sub, raw, line, exp in result:
            if exp is not None:
                exp = aware(exp)
                if exp <= now:
                    continue
                first = exp if first is None or exp < first else first
            entries.append(
                entry_from_columns(kind, value, port, proto, src, cat, conf, sub, raw, line)
            )
    return entries, first


def diff(engine: Engine, v1: int, v2: int) -> list[Change]:
    """Entries added ('+'), removed ('-') or changed in category/confidence ('~') from `v1` to
    `v2` (either order), by (source, kind, value, subdomains); reads only rows whose interval
    starts or ends between the two versions."""
    for v in (v1, v2):
        get_version(engine, v)
    lo, hi = min(v1, v2), max(v1, v2)
    t = ListEntryRow
    touched = or_(
        and_(t.from_version > lo, t.from_version <= hi),
        and_(t.to_version.is_not(None), t.to_version > lo, t.to_version <= hi),
    )
    stmt = select(
        t.source,
        t.kind,
        t.value,
        t.subdomains,
        t.port,
        t.proto,
        t.category,
        t.confidence,
        t.from_version,
        t.to_version,
    ).where(touched)
    side: dict[tuple[str, str, str, bool], dict[int, Change]] = {}
    with engine.connect() as conn:
        for src, kind, value, sub, port, proto, cat, conf, frm, to in conn.execute(stmt):
            change = Change("", src, kind, value, port, proto, cat, float(conf))
            slot = side.setdefault((src, kind, value, bool(sub)), {})
            for v in (v1, v2):
                if frm <= v and (to is None or to > v):
                    slot[v] = change
    out: list[Change] = []
    for slot in side.values():
        a, b = slot.get(v1), slot.get(v2)
        if a is None and b is not None:
            out.append(_op("+", b))
        elif a is not None and b is None:
            out.append(_op("-", a))
        elif a is not None and b is not None and _meaning(a) != _meaning(b):
            out.append(_op("~", b))
    out.sort(key=lambda c: (c.source, c.value, c.kind, c.op))
    return out


def _meaning(c: Change) -> tuple[str, float]:
    return (c.category, c.confidence)


def _op(op: str, c: Change) -> Change:
    return Change(op, c.source, c.kind, c.value, c.port, c.proto, c.category, c.confidence)
