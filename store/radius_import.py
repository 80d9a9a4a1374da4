"""Import RADIUS accounting records (a FreeRADIUS detail file or a CSV of records) as
subscriber sessions: parse (`store.radius`), pair (`store.radius_pair`), upsert in batches
inside one transaction, like `store.attribution.import_sessions`.

Sessions cross file boundaries: a session still open at the end of one file is stored with an
empty stop, and the file holding its Stop closes it. When that file lacks the Start, the start
is only estimated (Stop time − Acct-Session-Time, or unknown), so such a session continues the
stored open session of the same address and account whose start fits (within `SLACK` of the
estimate, or any earlier one when there is none); its stored start is kept, so the upsert on
(ip, start, account) updates that row. An open session never reopens a stored closed one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, or_, select

from store.attribution import BATCH, SESSION_KEYS, SESSIONS, open_text, session_row, upsert_rows
from store.attribution_csv import AttributionError
from store.radius import AcctRecord, RadiusReport, parse_detail, parse_radius_csv
from store.radius_pair import REORDER_WINDOW, SLACK, PairedSession, pair
from store.times import aware, aware_or_none

Parser = Callable[[Iterable[str], RadiusReport, tzinfo], Iterator[AcctRecord]]
FORMATS: dict[str, Parser] = {
    "radius-csv": parse_radius_csv,
    "radius-detail": parse_detail,
}
_CHUNK = 500  # addresses per query
_Stored = dict[tuple[str, str], list[tuple[datetime, datetime | None]]]


def import_radius(
    engine: Engine, path: Path, *, fmt: str, tz: tzinfo = UTC, encoding: str = "utf-8",
    window: timedelta = REORDER_WINDOW,
) -> RadiusReport:  # fmt: skip
    """Import the accounting records in `path` (`fmt`: a `FORMATS` key) as sessions."""
    parse = FORMATS.get(fmt)
    if parse is None:
        raise AttributionError(f"unknown format {fmt!r} (known: {', '.join(FORMATS)})")
    report = RadiusReport(str(path))
    now = datetime.now(UTC)
    with open_text(path, encoding) as fh, engine.begin() as conn:
        batch: list[PairedSession] = []
        for session in pair(parse(fh, report, tz), report, window):
            batch.append(session)
            if len(batch) >= BATCH:
                _store(conn, batch, report, str(path), now)
                batch.clear()
        _store(conn, batch, report, str(path), now)
    return report


def _stored(conn: Connection, sessions: list[PairedSession]) -> _Stored:
    """Stored sessions of the batch's addresses that are open or ended after its earliest
    time: (ip, account) → [(start, stop)]."""
    ips = sorted({n.text for s in sessions for n in s.nets})
    since = min(s.start or s.first_seen for s in sessions) - SLACK
    c = SESSIONS.c
    out: _Stored = {}
    for i in range(0, len(ips), _CHUNK):
        q = select(c.ip, c.account, c.start, c.stop).where(
            c.ip.in_(ips[i : i + _CHUNK]), or_(c.stop.is_(None), c.stop >= since)
        )
        for ip, account, start, stop in conn.execute(q):
            out.setdefault((ip, account), []).append((aware(start), aware_or_none(stop)))
    return out


def _continued(s: PairedSession, stored: list[tuple[datetime, datetime | None]]) -> datetime | None:
    """The start of the stored session `s` continues (its Start was in an earlier import)."""
    best: datetime | None = None
    for start, stop in stored:
        if stop is not None and stop != s.stop:
            continue  # closed, and not by this very Stop (an import of the same file again)
        if s.start_from == "derived" and s.start is not None:
            fits = abs(start - s.start) <= SLACK
        else:  # seen or unknown: the session began at or before its first record
            fits = start <= s.first_seen + SLACK
        if fits and (best is None or start > best):
            best = start
    return best


def _store(
    conn: Connection, sessions: list[PairedSession], report: RadiusReport, source: str,
    now: datetime,
) -> None:  # fmt: skip
    if not sessions:
        return
    stored = _stored(conn, sessions)
    rows: dict[tuple[str, datetime, str], dict[str, Any]] = {}
    for s in sessions:
        unknown = False
        for net in s.nets:
            mine = stored.get((net.text, s.account), [])
            start = s.start
            if s.start_from != "exact" and (found := _continued(s, mine)) is not None:
                report.continued += found != s.start
                start = found
            if start is None:
                unknown = True
                continue
            stop = s.stop
            key = (net.text, start, s.account)
            if stop is None:  # never reopen a session already closed (by a later file, or
                # by this one: a Start retransmitted after the reorder window)
                stop = next((b for a, b in mine if a == start and b is not None), None)
                stop = stop or (rows[key]["stop"] if key in rows else None)
            report.imported += 1
            report.open += stop is None
            report.by_restart += s.closed_by == "restart"
            rows[key] = session_row(net, start, stop, s.account, source, now)
        if unknown:
            report.problem(s.line, "Stop without its Start and without Acct-Session-Time, and "
                           "no stored open session of its address and User-Name: start "
                           "unknown")  # fmt: skip
    upsert_rows(conn, SESSIONS, list(rows.values()), SESSION_KEYS)
