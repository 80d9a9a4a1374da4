"""Immutable list versions stored as entry validity intervals (tables: `store.listmodels`).

Strategy: a version is not a copy. Each `list_entries` row is one indicator of one source, valid
from the version that added it until the version that removed or changed it. Committing a new
snapshot of a source compares it with that source's live rows and only closes the rows that
left (or whose category/confidence changed) and inserts the rows that arrived — O(change), not
O(list), so a 1M-entry list refreshed with 10 changed lines writes ~10 rows. Version V is
`from_version <= V < coalesce(to_version, ∞)`; rows are only ever closed *at the new version*, so
every earlier version reads back exactly as it was.

Identity of an entry (what a diff compares): (source, kind, value, subdomains) — `value` is
canonical and includes an endpoint's port and protocol, so this is (kind, value, port, proto,
source) plus the domain scope. Raw line and line number are provenance: when only they change
(lines shift when a feed grows), the live row keeps the ones from when it was first listed.

first_seen carries over when a row is replaced (category/confidence changed); last_seen is set
when a row opens and when it closes, and for a live row the source's last successful refresh
(`list_feeds.last_success`) is the newer value — one timestamp per source instead of an update
of every row on every refresh.

Writers serialise on the `list_head` row (`lock_head`); the caller owns the transaction, so a
new version, its entries and the feed health it reports commit together or not at all. Reading
versions back (entries, matcher input, diffs) is `blacklist.history`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Engine, Table, bindparam, insert, inspect, null, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from blacklist.entries import Entry, Kind
from store.listmodels import HEAD_ID, ListEntryRow, ListHeadRow, ListVersionRow
from store.times import aware

Ident = tuple[str, str, bool]  # (kind, value, subdomains)
_TABLE = cast(Table, ListEntryRow.__table__)  # Core table: plain executemany for bulk writes
CHUNK = 5000  # rows per bulk statement
RAW_MAX = 1000


@dataclass(frozen=True, slots=True)
class Commit:
    """What committing one source's snapshot did (`version_id` None: nothing changed)."""

    version_id: int | None
    added: int = 0
    removed: int = 0


def ensure_schema(engine: Engine) -> None:
    """Bring the schema up to date (migrations, idempotent) and create the head row."""
    from store.schema import migrate

    migrate(engine)
    with Session(engine) as session:
        if session.get(ListHeadRow, HEAD_ID) is None:
            session.add(ListHeadRow(id=HEAD_ID, version_id=None, updated=None))
            try:
                session.commit()
            except IntegrityError:  # another process created it first
                session.rollback()


def has_schema(engine: Engine) -> bool:
    """Whether this database holds list tables at all (read-only check)."""
    return inspect(engine).has_table(ListHeadRow.__tablename__)


def ident(e: Entry) -> Ident:
    return (str(e.kind), e.value, e.subdomains and e.kind is Kind.DOMAIN)


def unique_entries(entries: Iterable[Entry]) -> list[Entry]:
    """The first entry per identity, in input order (feeds repeat lines)."""
    seen: set[Ident] = set()
    out: list[Entry] = []
    for e in entries:
        k = ident(e)
        if k not in seen:
            seen.add(k)
            out.append(e)
    return out


def content_hash(entries: Iterable[Entry]) -> str:
    """Order-free SHA-256 of what the entries mean (not their source name, raw text or lines)."""
    lines = sorted(
        {"\t".join((*map(str, ident(e)), str(e.category), f"{e.confidence:.6f}")) for e in entries}
    )
    digest = hashlib.sha256()
    for line in lines:
        digest.update(line.encode())
        digest.update(b"\n")
    return digest.hexdigest()


def lock_head(session: Session, now: datetime) -> int | None:
    """Take the writers' lock for this transaction; returns the latest version id."""
    session.execute(update(ListHeadRow).where(ListHeadRow.id == HEAD_ID).values(updated=now))
    head = session.get(ListHeadRow, HEAD_ID, populate_existing=True)
    if head is None:
        raise RuntimeError("list tables not initialised: call ensure_schema first")
    return head.version_id


def head_version(engine: Engine) -> int | None:
    """The latest version id (one indexed read: cheap enough to poll)."""
    with engine.connect() as conn:
        return conn.execute(
            select(ListHeadRow.version_id).where(ListHeadRow.id == HEAD_ID)
        ).scalar_one_or_none()


def commit_source(
    session: Session,
    source: str,
    entries: Sequence[Entry],
    *,
    now: datetime,
    note: str = "",
    last_success: datetime | None = None,
    expires: Mapping[Ident, datetime] | None = None,
    digest: str | None = None,
) -> Commit:
    """Make `entries` (already unique) the live content of `source`; a new version if anything
    changed. Call inside a transaction after `lock_head`. `last_success` (the previous refresh
    that listed the old rows) becomes the closed rows' last_seen. An empty `entries` retires the
    source. `expires` sets per-entry expiry (learned entries); a changed expiry alone is updated
    in place, it does not make a version. `digest`: `content_hash(entries)` if known."""
    parent_id = lock_head(session, now)
    expires = expires or {}
    t = ListEntryRow
    # only what decides a change is read for every live row (datetimes are costly on SQLite)
    exp_col: Any = t.expires if expires else null()
    rows = session.connection().execute(  # Core rows: no ORM loading for 1M of them
        select(t.id, t.kind, t.value, t.subdomains, t.category, t.confidence, exp_col).where(
            t.source == source, t.to_version.is_(None)
        )
    )
    live = {(kind, value, bool(sub)): (rid, cat, conf, exp)
            for rid, kind, value, sub, cat, conf, exp in rows}  # fmt: skip
    new = {ident(e): e for e in entries}
    close: list[int] = []
    changed: dict[int, Ident] = {}
    touch: list[dict[str, Any]] = []
    for k, (rid, cat, conf, exp) in live.items():
        e = new.get(k)
        if e is None:
            close.append(rid)
        elif cat != str(e.category) or abs(float(conf) - e.confidence) > 1e-9:
            close.append(rid)
            changed[rid] = k
        elif k in expires and (exp is None or aware(exp) != expires[k]):
            touch.append({"rid": rid, "exp": expires[k]})
    if touch:
        session.execute(
            update(_TABLE).where(_TABLE.c.id == bindparam("rid")).values(expires=bindparam("exp")),
            touch,
        )
    carried: dict[Ident, datetime] = {}  # first_seen of rows replaced by a changed meaning
    ids = list(changed)
    for i in range(0, len(ids), CHUNK):
        stmt = select(t.id, t.first_seen).where(t.id.in_(ids[i : i + CHUNK]))
        carried.update((changed[rid], aware(first)) for rid, first in session.execute(stmt))
    add = [e for k, e in new.items() if k not in live or k in carried]
    if not close and not add:
        return Commit(None)
    parent = session.get(ListVersionRow, parent_id) if parent_id is not None else None
    sources = dict(parent.sources) if parent is not None else {}
    if entries:
        sources[source] = digest or content_hash(entries)
    else:
        sources.pop(source, None)
    version = ListVersionRow(
        created=now,
        parent_id=parent_id,
        sources=sources,
        note=note[:512],
        entries=(parent.entries if parent is not None else 0) - len(close) + len(add),
        added=len(add) - len(carried),
        removed=len(close) - len(carried),
    )
    session.add(version)
    session.flush()
    vid = version.id
    closed_seen = last_success or now
    for i in range(0, len(close), CHUNK):
        session.execute(
            update(_TABLE)
            .where(_TABLE.c.id == bindparam("rid"))
            .values(to_version=vid, last_seen=closed_seen),
            [{"rid": rid} for rid in close[i : i + CHUNK]],
        )
    for i in range(0, len(add), CHUNK):
        session.execute(
            insert(_TABLE),
            [_row(e, source, vid, now, carried, expires) for e in add[i : i + CHUNK]],
        )
    session.execute(update(ListHeadRow).where(ListHeadRow.id == HEAD_ID).values(version_id=vid))
    return Commit(vid, added=version.added, removed=version.removed)


def _row(
    e: Entry,
    source: str,
    vid: int,
    now: datetime,
    carried: Mapping[Ident, datetime],
    expires: Mapping[Ident, datetime],
) -> dict[str, Any]:
    k = ident(e)
    return {
        "source": source,
        "kind": str(e.kind),
        "value": e.value,
        "port": e.port,
        "proto": e.proto,
        "category": str(e.category),
        "confidence": e.confidence,
        "subdomains": k[2],
        "raw": e.raw[:RAW_MAX],
        "line": e.line,
        "first_seen": carried.get(k, now),
        "last_seen": now,
        "expires": expires.get(k),
        "from_version": vid,
        "to_version": None,
    }
