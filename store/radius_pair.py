"""Pairing RADIUS accounting records (`store.radius.AcctRecord`) into sessions.

A session is keyed by (NAS, Acct-Session-Id), or by (address, User-Name) when a record has no
session id. A Start opens it; an Interim-Update extends it, or opens it when the Start was lost
(start = its time − Acct-Session-Time); a Stop closes it (stop = its time, else start +
Acct-Session-Time), or gives a whole session when the Start was lost. An Accounting-On/Off of a
NAS (a restart) closes that NAS's sessions last heard of before it, at its time. Retransmits
(the same record again) change nothing, and so do stale records, which describe a session
already seen from a later record. A record whose session time puts its start after everything
known of the open session with its key (a session id the NAS reused) starts a new session.

Records may arrive out of order: a closed session is held back until the records' times have
moved `window` past its stop, so a late Start still fixes its start. Memory therefore holds the
open sessions plus those closed within the window; every other session is yielded at once.
A record dated more than `FUTURE` after the wall clock (a NAS clock set years ahead) is reported
and skipped: it would move the records' time past every held session and release them all,
ending the reordering for the rest of the file.
"""

from __future__ import annotations

import bisect
import heapq
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from store.attribution_net import Net
from store.radius import AcctRecord, RadiusReport

SLACK = timedelta(seconds=60)  # clock differences between Event-Timestamp and session time
REORDER_WINDOW = timedelta(hours=1)
FUTURE = timedelta(days=1)  # how far past the wall clock a record's time may be

# exact: from a Start; derived: a record's time − Acct-Session-Time; seen: the first record's
# time (an Interim without session time, the start is at or before it); unknown: a lone Stop
StartFrom = Literal["exact", "derived", "seen", "unknown"]
ClosedBy = Literal["stop", "restart", "next", ""]  # next: the NAS reused the session id
_Key = tuple[str, str, str]


@dataclass(frozen=True, slots=True)
class PairedSession:
    line: int  # of the session's first record
    nets: tuple[Net, ...]
    account: str
    start: datetime | None  # None only when start_from == "unknown"
    stop: datetime | None  # None: still open at the end of the records
    start_from: StartFrom
    first_seen: datetime  # the time of its earliest record
    closed_by: ClosedBy


@dataclass(slots=True)
class _Entry:
    seq: int
    line: int
    nas: str
    session_id: str
    nets: tuple[Net, ...]
    account: str
    start: datetime | None
    start_from: StartFrom
    first: datetime
    last: datetime
    stop: datetime | None = None  # set by a Stop only (a restart closes when emitted)


class Pairing:
    """The explicit pairing state: sessions by key, NAS restart times, the emission queue.
    `feed` each record in file order, then `finish`; both return the sessions now final."""

    def __init__(
        self, report: RadiusReport, window: timedelta = REORDER_WINDOW, now: datetime | None = None
    ) -> None:
        self.report = report
        self.window = window
        self._latest_ok = (now or datetime.now(UTC)) + FUTURE  # later record times are wrong
        self._entries: dict[_Key, _Entry] = {}
        self._restarts: dict[str, list[datetime]] = {}
        self._due: list[tuple[datetime, int, _Key]] = []  # (when, seq, key), a heap
        self._seq = 0
        self._mark: datetime | None = None  # the latest record time seen

    @property
    def open_sessions(self) -> int:
        return len(self._entries)

    def feed(self, rec: AcctRecord) -> list[PairedSession]:
        out: list[PairedSession] = []
        if rec.time is not None and rec.time > self._latest_ok:
            self.report.problem(rec.line, f"time {rec.time.isoformat()} is more than a day "
                                "in the future (NAS clock?); record skipped")  # fmt: skip
            return out
        if rec.status in ("nas-on", "nas-off"):
            self._restart(rec)
        else:
            key = (("id", rec.nas, rec.session_id) if rec.session_id
                   else ("ip", rec.nets[0].text, rec.account))  # fmt: skip
            {"start": self._start, "interim": self._interim, "stop": self._stop}[rec.status](
                key, rec, out
            )
        if rec.time is not None and (self._mark is None or rec.time > self._mark):
            self._mark = rec.time
        self._flush(out)
        return out

    def finish(self) -> list[PairedSession]:
        out: list[PairedSession] = []
        for e in sorted(self._entries.values(), key=lambda e: e.seq):
            self._emit(e, out)
        self._entries.clear()
        self._due.clear()
        return out

    # -- records ---------------------------------------------------------------------------

    def _start(self, key: _Key, rec: AcctRecord, out: list[PairedSession]) -> None:
        t = rec.time
        assert t is not None  # only a Stop may lack a time
        e = self._entries.get(key)
        if e is None:
            self._open(key, rec, t, "exact")
        elif e.start_from == "exact" and e.start is not None and abs(t - e.start) <= SLACK:
            self._duplicate(e, rec)
        elif e.start_from != "exact" and t <= e.first + SLACK:  # the late Start of a session
            e.start, e.start_from, e.first = t, "exact", min(e.first, t)
            self._fill(e, rec)
        elif t > (e.start or e.first):
            self._finish(e, t, out)
            self._open(key, rec, t, "exact")
        else:
            self.report.duplicates += 1  # older than the session with its key: stale

    def _interim(self, key: _Key, rec: AcctRecord, out: list[PairedSession]) -> None:
        t = rec.time
        assert t is not None
        derived = None if rec.session_time is None else t - timedelta(seconds=rec.session_time)
        e = self._entries.get(key)
        if (
            e is None
            or (e.stop is not None and t > e.stop + SLACK)
            or (e.stop is None and derived is not None and derived > e.last + SLACK)
        ):
            if e is not None:
                self._finish(e, derived or t, out)
            self._open(key, rec, derived or t, "seen" if derived is None else "derived")
        elif e.stop is not None or t < (e.start or e.first) - SLACK:
            self._duplicate(e, rec)
        else:
            before = (e.first, e.last, e.start, e.nets, e.account)
            e.first, e.last = min(e.first, t), max(e.last, t)
            self._better_start(e, derived, t)
            self._fill(e, rec)
            if (e.first, e.last, e.start, e.nets, e.account) == before:
                self.report.duplicates += 1  # a retransmit, or an Interim that adds nothing
            else:
                self._schedule_restart(e, key)

    def _stop(self, key: _Key, rec: AcctRecord, out: list[PairedSession]) -> None:
        t, st = rec.time, rec.session_time
        derived = None if t is None or st is None else t - timedelta(seconds=st)
        e = self._entries.get(key)
        if e is not None and e.stop is not None and (t is None or t <= e.stop + SLACK):
            self._duplicate(e, rec)
            return
        if e is not None and e.stop is None and (t is None or t >= (e.start or e.first) - SLACK) \
                and (derived is None or derived <= e.last + SLACK):  # fmt: skip
            start = e.start
            assert start is not None  # an open session always has one
            self._better_start(e, derived, e.last)
            stop = t if t is not None else start + timedelta(seconds=st or 0)
            e.stop = max(stop, e.start or stop)
            e.first, e.last = min(e.first, e.stop), max(e.last, e.stop)
            self._fill(e, rec)
            heapq.heappush(self._due, (e.stop, e.seq, key))
            return
        if e is not None and e.stop is None and t is not None and t < (e.start or e.first) - SLACK:
            self._duplicate(e, rec)
            return
        if t is None:
            self.report.problem(rec.line, "Stop without Event-Timestamp or Timestamp, and its "
                                "Start is not in this file")  # fmt: skip
            return
        if e is not None:
            self._finish(e, derived or t, out)
        new = self._open(key, rec, derived, "unknown" if derived is None else "derived", t)
        new.stop = t
        heapq.heappush(self._due, (t, new.seq, key))

    def _restart(self, rec: AcctRecord) -> None:
        t = rec.time
        assert t is not None
        times = self._restarts.setdefault(rec.nas, [])
        if t in times:
            self.report.duplicates += 1
            return
        bisect.insort(times, t)
        for key, e in self._entries.items():
            if e.nas == rec.nas and e.stop is None and e.last < t:
                heapq.heappush(self._due, (t, e.seq, key))

    # -- state -----------------------------------------------------------------------------

    def _open(
        self, key: _Key, rec: AcctRecord, start: datetime | None, start_from: StartFrom,
        seen: datetime | None = None,
    ) -> _Entry:  # fmt: skip
        self._seq += 1
        first = seen or rec.time or start
        assert first is not None
        e = _Entry(self._seq, rec.line, rec.nas, rec.session_id, rec.nets, rec.account, start,
                   start_from, first, first)  # fmt: skip
        self._entries[key] = e
        self._schedule_restart(e, key)
        return e

    def _schedule_restart(self, e: _Entry, key: _Key) -> None:
        if (when := self._restart_after(e)) is not None:
            heapq.heappush(self._due, (when, e.seq, key))

    def _restart_after(self, e: _Entry) -> datetime | None:
        """The first restart of the session's NAS after its last record: where it ended."""
        times = self._restarts.get(e.nas)
        if not times:
            return None
        i = bisect.bisect_right(times, e.last)
        return times[i] if i < len(times) else None

    @staticmethod
    def _better_start(e: _Entry, derived: datetime | None, seen: datetime) -> None:
        if e.start_from == "exact":
            return
        if derived is not None and (e.start_from != "derived" or e.start is None
                                    or derived < e.start):  # fmt: skip
            e.start, e.start_from = derived, "derived"
        elif e.start_from == "seen" and e.start is not None and seen < e.start:
            e.start = seen

    @staticmethod
    def _fill(e: _Entry, rec: AcctRecord) -> None:
        """Addresses and account a record adds (a prefix delegated after the Start)."""
        if any(n not in e.nets for n in rec.nets):
            e.nets = (*e.nets, *(n for n in rec.nets if n not in e.nets))
        e.account = e.account or rec.account
        e.nas = e.nas or rec.nas

    def _duplicate(self, e: _Entry, rec: AcctRecord) -> None:
        self.report.duplicates += 1
        self._fill(e, rec)

    def _finish(self, e: _Entry, at: datetime, out: list[PairedSession]) -> None:
        """Close an open session because a new one took its key at `at` (a reused id)."""
        restart = self._restart_after(e) if e.stop is None else None
        if e.stop is None and (restart is None or restart > at):
            e.stop = max(at, e.start or at)
            self._emit(e, out, "next")
        else:
            self._emit(e, out)

    def _emit(self, e: _Entry, out: list[PairedSession], by: ClosedBy = "stop") -> None:
        stop, closed_by = e.stop, by
        if stop is None:
            stop = self._restart_after(e)
            closed_by = "" if stop is None else "restart"
        if stop is not None and e.start is not None and stop < e.start:
            stop = e.start  # a late Start a little after its Stop (clocks within SLACK)
        what = f"session {e.session_id[:60]!r}" if e.session_id else "session"
        if not e.nets:
            self.report.problem(e.line, f"{what}: no Framed-IP-Address or IPv6 prefix in its "
                                "records")  # fmt: skip
        elif not e.account:
            self.report.problem(e.line, f"{what}: no User-Name in its records")
        else:
            out.append(PairedSession(e.line, e.nets, e.account, e.start, stop, e.start_from,
                                     e.first, closed_by))  # fmt: skip

    def _flush(self, out: list[PairedSession]) -> None:
        """Yield the sessions closed more than `window` before the latest record."""
        while self._due and self._mark is not None and self._due[0][0] + self.window < self._mark:
            _, seq, key = heapq.heappop(self._due)
            e = self._entries.get(key)
            if e is None or e.seq != seq:
                continue
            if e.stop is None:
                when = self._restart_after(e)
                if when is None:
                    continue  # heard of after the restart: still open
                if when + self.window >= self._mark:
                    heapq.heappush(self._due, (when, seq, key))
                    continue
            del self._entries[key]
            self._emit(e, out)


def pair(
    records: Iterable[AcctRecord], report: RadiusReport, window: timedelta = REORDER_WINDOW
) -> Iterator[PairedSession]:
    """Sessions from records in file order: closed ones as they become final, then the rest."""
    state = Pairing(report, window)
    for rec in records:
        yield from state.feed(rec)
    yield from state.finish()
