"""The published members of a list version, computed once per (version, built-in list, expiry).

What may be published is decided in one place, `blacklist.allow.active_blocklist` — the same
call `MatcherProvider.blocklist()` makes — over the built-in curated list plus the database
version's unexpired entries (the matcher's input). This module only adds what serving needs:
first_seen per entry (so it reads `history.iter_entries`), de-duplication across sources into
one `Member` per value, a deterministic order, and an opaque but stable version text
`<db version>.<content hash>` (`0.<hash>` with the built-in list only) that changes exactly
when the published content changes (a new DB version, a learned entry expiring, a new built-in
list). Reading costs ~20-30 µs an entry (tens of seconds for 1M), hence `SnapshotStore`: the
head version is polled at most every `poll` seconds, a snapshot is computed once, by one
thread, and (with `background`) the previous snapshot is served while its successor is read.
"""

from __future__ import annotations

import hashlib
import socket
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from blacklist.allow import active_blocklist
from blacklist.builtin import builtin_entries
from blacklist.entries import Entry, Kind
from blacklist.history import iter_entries
from blacklist.render.model import ListType, Member
from blacklist.versions import has_schema, head_version

_TYPES = {Kind.IP: ListType.IP, Kind.CIDR: ListType.IP, Kind.ENDPOINT: ListType.ENDPOINT,
          Kind.DOMAIN: ListType.DOMAIN}  # fmt: skip
_PROTO = {6: "tcp", 17: "udp"}


class SinceError(LookupError):
    """A `since=` version that is unknown or can no longer be reproduced."""


@dataclass(frozen=True, slots=True)
class Snapshot:
    version: str  # opaque: "<vid>.<hash>"
    vid: int | None
    members: dict[ListType, tuple[Member, ...]]
    suppressed: int  # block entries left out because an allowlist covers them
    valid_until: datetime | None  # the earliest expiry among the entries read

    @property
    def serial(self) -> int:
        return self.vid or 1


def _member(e: Entry, first_seen: str) -> Member:
    # shared strings: a million members repeat a handful of sources, categories and dates
    cat, conf, src = sys.intern(str(e.category)), e.confidence, sys.intern(e.source)
    first_seen = sys.intern(first_seen)
    if e.kind is Kind.DOMAIN:
        return Member(e.value, subdomains=e.subdomains, source=src, first_seen=first_seen,
                      category=cat, confidence=conf)  # fmt: skip
    net = e.network
    assert net is not None
    if e.kind is Kind.ENDPOINT:
        addr = str(net.network_address)
        proto = _PROTO.get(e.proto or 0, "")
        return Member(e.value, net.version, addr, net.max_prefixlen, e.port or 0, proto, False,
                      src, first_seen, cat, conf)  # fmt: skip
    addr = e.value.partition("/")[0]
    return Member(e.value, net.version, addr, net.prefixlen, 0, "", False, src, first_seen,
                  cat, conf)  # fmt: skip


def _merge(a: Member, b: Member) -> Member:
    """One member for a value listed by several sources: every source, earliest first_seen,
    the best confidence (and its category), subdomains if any source covers them."""
    sources = ",".join(sorted(set(a.source.split(",")) | set(b.source.split(","))))
    firsts = [f for f in (a.first_seen, b.first_seen) if f]
    best = a if a.confidence >= b.confidence else b
    return Member(a.value, a.family, a.addr, a.plen, a.port, a.proto,
                  a.subdomains or b.subdomains, sources, min(firsts) if firsts else "",
                  best.category, best.confidence)  # fmt: skip


def _order(m: Member) -> tuple[int, bytes, int, int, str, str]:
    if not m.family:
        return (0, b"", 0, 0, "", m.value)
    packed = socket.inet_pton(socket.AF_INET if m.family == 4 else socket.AF_INET6, m.addr)
    return (m.family, packed, m.plen, m.port, m.proto, m.value)


def members_of(kept: Iterable[Entry], firsts: dict[int, str]) -> dict[ListType, tuple[Member, ...]]:
    """Published members per list type, merged by value and sorted."""
    by: dict[ListType, dict[str, Member]] = {t: {} for t in ListType}
    for e in kept:
        m = _member(e, firsts.get(id(e), ""))
        slot = by[_TYPES[e.kind]]
        old = slot.get(m.value)
        slot[m.value] = m if old is None else _merge(old, m)
    return {t: tuple(sorted(d.values(), key=_order)) for t, d in by.items()}


def content_hash(members: dict[ListType, tuple[Member, ...]]) -> str:
    h = hashlib.sha256()
    for t in ListType:
        h.update(f"\x00{t}\n".encode())
        for i in range(0, len(members[t]), 8192):
            h.update("".join(f"{m.value}\t{int(m.subdomains)}\n"
                             for m in members[t][i : i + 8192]).encode())  # fmt: skip
    return h.hexdigest()


def compute(engine: Engine | None, vid: int | None, now: datetime, *, builtin: bool = True
            ) -> Snapshot:  # fmt: skip
    """The published list of DB version `vid` (None: built-in list only) at time `now`."""
    entries: list[Entry] = list(builtin_entries()) if builtin else []
    firsts: dict[int, str] = {}
    valid_until: datetime | None = None
    if vid is not None and engine is not None:
        for s in iter_entries(engine, vid):
            if s.expires is not None:  # the matcher's rule: expired entries are not compiled
                if s.expires <= now:
                    continue
                valid_until = s.expires if valid_until is None else min(valid_until, s.expires)
            entries.append(s.entry)
            firsts[id(s.entry)] = s.first_seen.date().isoformat()
    block = active_blocklist(entries)
    members = members_of(block.kept, firsts)
    version = f"{vid or 0}.{content_hash(members)[:12]}"
    return Snapshot(version, vid, members, len(block.suppressed), valid_until)


class SnapshotStore:
    """The current snapshot (head polled at most every `poll` s) and a few recent ones."""

    def __init__(self, engine: Engine | None, *, poll: float = 1.0, builtin: bool = True,
                 keep: int = 2, clock: Callable[[], float] = time.time,
                 background: bool = False) -> None:  # fmt: skip
        self.engine = engine
        self.poll = poll
        self.builtin = builtin
        self.keep = keep
        self.clock = clock
        self.background = background
        self._head: tuple[float, int | None] | None = None
        self._current: Snapshot | None = None
        self._recent: OrderedDict[str, Snapshot] = OrderedDict()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.on_new: list[Callable[[Snapshot, Snapshot | None], None]] = []
        self.computed = 0
        self.last_error: str | None = None

    def head(self) -> int | None:
        """The DB head version, re-read at most every `poll` seconds."""
        now = self.clock()
        cached = self._head
        if cached is not None and now - cached[0] < self.poll:
            return cached[1]
        vid = None
        if self.engine is not None and has_schema(self.engine):
            vid = head_version(self.engine)
        self._head = (now, vid)
        return vid

    def fresh(self) -> Snapshot | None:
        """The current snapshot if it is known to be up to date without computing anything."""
        snap = self._current
        if snap is None or snap.vid != self.head():
            return None
        if snap.valid_until is not None and snap.valid_until.timestamp() <= self.clock():
            return None
        return snap

    def current(self) -> Snapshot:
        """The up-to-date snapshot. With `background`, a stale one is returned at once while a
        thread computes its successor (a 1M list takes tens of seconds: pollers must not wait
        that long); only the very first snapshot is waited for."""
        snap = self.fresh()
        if snap is not None:
            return snap
        old = self._current
        if self.background and old is not None:
            self._refresh_in_background()
            return old
        return self._refresh()

    def _refresh(self) -> Snapshot:
        with self._lock:  # one thread computes; the others wait and reuse its result
            snap = self.fresh()
            if snap is not None:
                return snap
            old = self._current
            snap = compute(self.engine, self.head(), self._now(), builtin=self.builtin)
            self.computed += 1
            self._current = snap
            self._remember(snap)
        for hook in self.on_new:
            hook(snap, old)
        return snap

    def _refresh_in_background(self) -> None:
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return
            self._thread = threading.Thread(target=self._background_step,
                                            name="blocklist-snapshot", daemon=True)  # fmt: skip
            self._thread.start()

    def _background_step(self) -> None:
        try:
            self._refresh()
            self.last_error = None
        except SQLAlchemyError as exc:  # keep serving the last good snapshot
            self.last_error = f"{type(exc).__name__}: {exc}"

    def wait(self, timeout: float | None = None) -> None:
        """Wait for a background computation (tests, shutdown)."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)

    def by_version(self, version: str) -> Snapshot:
        """A snapshot by its version text: a recent one, or the DB version recomputed as it
        was when created; `SinceError` when unknown or no longer reproducible."""
        with self._lock:
            snap = self._recent.get(version)
        if snap is not None:
            return snap
        vid_text, dot, _ = version.partition(".")
        if not dot or not vid_text.isdigit():
            raise SinceError(f"not a list version: {version[:80]!r}")
        vid = int(vid_text) or None
        when = datetime.fromtimestamp(self.clock(), UTC)
        if vid is not None:
            from blacklist.history import VersionError, get_version

            if self.engine is None:
                raise SinceError(f"unknown list version {version!r}")
            try:
                created = get_version(self.engine, vid).created
            except VersionError as exc:
                raise SinceError(f"unknown list version {version!r}") from exc
            when = created if created.tzinfo else created.replace(tzinfo=UTC)
        snap = compute(self.engine, vid, when, builtin=self.builtin)
        if snap.version != version:
            raise SinceError(
                f"list version {version!r} can no longer be reproduced; fetch the full list"
            )
        with self._lock:
            self._remember(snap)
        return snap

    def _remember(self, snap: Snapshot) -> None:
        self._recent[snap.version] = snap
        self._recent.move_to_end(snap.version)
        while len(self._recent) > self.keep:
            self._recent.popitem(last=False)

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC)
