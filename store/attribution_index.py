"""In-memory attribution indexes: sorted numpy byte-string arrays searched with one
`searchsorted` per probe, so a lookup costs O(log n) and no database query.

- `PrefixIndex`: longest-prefix match. CIDR prefixes are nested or disjoint, so a sweep flattens
  them into disjoint ranges, each owned by its most specific prefix (or nobody: -1).
- `SessionIndex`: who held an address (or a delegated prefix) at a time. Per (family, prefix
  length) group, sessions are sorted by (key, start); a probe finds the last session of that key
  starting at or before the time and walks back while an earlier one could still cover it —
  `maxstop` (the running maximum of stop within a key) ends the walk at once when none can.
  Among sessions covering the time the latest start wins (ties: the later imported row); longer
  prefixes are tried first. A session with no stop (its Stop was lost, or it is still online)
  ends where the next session on the same address or prefix begins: once the address was handed
  to someone else, the earlier holder no longer covers the times after that holder's session.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from store.attribution_net import KEY_LEN, bits, key, mask

OPEN = np.iinfo(np.int64).max  # stop of a session still online
_OFFSET = 1 << 63  # start times as unsigned big-endian bytes sort like signed integers
_TS_LO, _TS_HI = -(1 << 62), (1 << 62)


def to_us(ts: float) -> int | None:
    """Unix seconds as integer microseconds (None for NaN/inf or absurd values)."""
    if not math.isfinite(ts):
        return None
    us = round(ts * 1_000_000)
    return us if _TS_LO < us < _TS_HI else None


class PrefixIndex:
    """Longest-prefix match from (family, lo, hi, owner) prefixes to an owner number."""

    __slots__ = ("_owners", "_starts")

    def __init__(self, prefixes: Iterable[tuple[int, int, int, int]]) -> None:
        items = sorted(
            (((f << 128) | lo, (f << 128) | hi, owner) for f, lo, hi, owner in prefixes),
            key=lambda t: (t[0], -t[1]),
        )
        pos: list[int] = []
        own: list[int] = []

        def emit(at: int, owner: int) -> None:
            if pos and pos[-1] == at:
                own[-1] = owner
            else:
                pos.append(at)
                own.append(owner)

        stack: list[tuple[int, int]] = []  # (last address, owner) of the open prefixes
        for lo, hi, owner in items:
            while stack and stack[-1][0] < lo:
                end = stack.pop()[0]
                emit(end + 1, stack[-1][1] if stack else -1)
            emit(lo, owner)
            stack.append((hi, owner))
        while stack:
            end = stack.pop()[0]
            emit(end + 1, stack[-1][1] if stack else -1)
        self._starts = np.array([p.to_bytes(KEY_LEN, "big") for p in pos], dtype=f"S{KEY_LEN}")
        self._owners = np.array(own, dtype=np.int64)

    def __len__(self) -> int:
        return len(self._starts)

    def find(self, family: int, value: int) -> int:
        """The owner of the longest prefix holding the address, or -1."""
        i = int(self._starts.searchsorted(key(family, value), "right")) - 1
        return int(self._owners[i]) if i >= 0 else -1


@dataclass(slots=True)
class _Group:
    prefixlen: int
    k25: npt.NDArray[np.bytes_]  # key (17 bytes) + start (8 bytes), sorted
    k17: npt.NDArray[np.bytes_]  # the key part alone
    stop: npt.NDArray[np.int64]
    maxstop: npt.NDArray[np.int64]  # running max of stop within a key
    owner: npt.NDArray[np.int64]


class SessionIndex:
    """Sessions (family, prefixlen, lo, start_us, stop_us or None, owner) by address and time."""

    __slots__ = ("_groups", "size")

    def __init__(
        self,
        family: Sequence[int],
        prefixlen: Sequence[int],
        lo: Sequence[int],
        start: Sequence[int],
        stop: Sequence[int | None],
        owner: Sequence[int],
    ) -> None:
        self.size = len(family)
        by_group: dict[tuple[int, int], list[int]] = {}
        for i, (f, p) in enumerate(zip(family, prefixlen, strict=True)):
            by_group.setdefault((f, p), []).append(i)
        self._groups: dict[int, list[_Group]] = {}
        for (f, p), rows in sorted(by_group.items(), key=lambda kv: (kv[0][0], -kv[0][1])):
            k25 = np.array(
                [key(f, lo[i]) + (start[i] + _OFFSET).to_bytes(8, "big") for i in rows],
                dtype=f"S{KEY_LEN + 8}",
            )
            order = np.argsort(k25, kind="stable")  # rows come in import order: ties → later last
            k25 = k25[order]
            stops = np.array([OPEN if stop[i] is None else stop[i] for i in rows], np.int64)
            stops = stops[order]
            starts = np.array([start[i] for i in rows], dtype=np.int64)[order]
            owners = np.array([owner[i] for i in rows], dtype=np.int64)[order]
            k17 = k25.astype(f"S{KEY_LEN}")
            _end_open_at_next(k17, starts, stops)
            self._groups.setdefault(f, []).append(
                _Group(p, k25, k17, stops, _running_max(k17, stops), owners)
            )

    def find(self, family: int, value: int, ts_us: int) -> int:
        """The owner of the session covering the time on the longest prefix, or -1."""
        tail = (ts_us + _OFFSET).to_bytes(8, "big")
        for g in self._groups.get(family, ()):
            k = key(
                family, mask(family, value, g.prefixlen) if g.prefixlen < bits(family) else value
            )
            j = int(g.k25.searchsorted(k + tail, "right")) - 1
            stripped = k.rstrip(b"\0")  # numpy drops trailing NULs of the elements it returns
            k17, stop, maxstop = g.k17, g.stop, g.maxstop
            while j >= 0 and k17[j] == stripped:
                if stop[j] > ts_us:
                    return int(g.owner[j])
                if maxstop[j] <= ts_us:
                    break
                j -= 1
        return -1


def _end_open_at_next(
    keys: npt.NDArray[np.bytes_], starts: npt.NDArray[np.int64], stops: npt.NDArray[np.int64]
) -> None:
    """In place: an open session (stop `OPEN`) stops at the start of the next session of its key
    (rows sorted by key, start, import order)."""
    if len(stops) < 2:
        return
    capped = (stops[:-1] == OPEN) & (keys[1:] == keys[:-1])
    stops[:-1][capped] = starts[1:][capped]


def _running_max(
    keys: npt.NDArray[np.bytes_], values: npt.NDArray[np.int64]
) -> npt.NDArray[np.int64]:
    """Cumulative max of `values` restarted at each new key (keys sorted), vectorised: values are
    replaced by their rank and offset by the key's block number, so blocks never mix."""
    if len(values) == 0:
        return values.copy()
    block = np.cumsum(np.concatenate(([False], keys[1:] != keys[:-1])), dtype=np.int64)
    uniq, rank = np.unique(values, return_inverse=True)
    n = np.int64(len(uniq))
    combined = np.maximum.accumulate(block * n + rank.astype(np.int64))
    return uniq[combined % n]
