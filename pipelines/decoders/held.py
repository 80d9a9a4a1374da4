"""Data sets that arrived before their template, held for a bounded time and memory.

After a collector or exporter restart, data comes before templates for up to a template
refresh interval. Holding the raw sets (not decoded records: their layout is unknown) lets the
template that arrives a few seconds later decode them instead of losing those flows; the bounds
keep a misbehaving exporter from growing the collector without limit.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from pipelines.decoders.flowrec import DecodeStats


@dataclass(slots=True)
class HeldSet:
    """One data set body (header included) with the datagram context its records need."""

    slot: int
    tid: int
    data: bytes
    export_secs: int
    uptime: int  # v9 sysUptime ms of the datagram, -1 for IPFIX
    arrived: float
    batch: int  # the decode call it arrived in, and its set index there: which template
    index: int  # that arrived later in the same call is the first to apply to it


HELD_OVERHEAD = 200  # bytes charged per held set on top of its data: the Python objects


class HeldSets:
    """FIFO of held sets; `max_age` seconds and `max_bytes` bytes (with overhead) at most."""

    def __init__(self, stats: DecodeStats, max_age: float, max_bytes: int) -> None:
        self.stats = stats
        self.max_age = max_age
        self.max_bytes = max_bytes
        self.bytes = 0
        self._fifo: deque[HeldSet] = deque()
        self._keys: dict[tuple[int, int], int] = {}

    def __len__(self) -> int:
        return len(self._fifo)

    def hold(self, item: HeldSet) -> None:
        cost = len(item.data) + HELD_OVERHEAD
        if cost > self.max_bytes:
            self.stats.held_sets_dropped += 1
            return
        while self.bytes + cost > self.max_bytes:
            self._pop(dropped=True)
        self._fifo.append(item)
        self.bytes += cost
        key = (item.slot, item.tid)
        self._keys[key] = self._keys.get(key, 0) + 1
        self.stats.sets_held += 1

    def waiting(self, key: tuple[int, int]) -> bool:
        return key in self._keys

    def expire(self, now: float) -> None:
        while self._fifo and now - self._fifo[0].arrived > self.max_age:
            self._pop(dropped=False)

    def take(
        self, keys: set[tuple[int, int]], choose: Callable[[HeldSet], int | None]
    ) -> list[tuple[HeldSet, int]]:
        """Remove and return, in arrival order, the held sets of `keys` for which `choose`
        finds a layout (the others stay held)."""
        if not any(k in self._keys for k in keys):
            return []
        taken: list[tuple[HeldSet, int]] = []
        kept: deque[HeldSet] = deque()
        for h in self._fifo:
            lay = choose(h) if (h.slot, h.tid) in keys else None
            if lay is None:
                kept.append(h)
                continue
            taken.append((h, lay))
            self.bytes -= len(h.data) + HELD_OVERHEAD
            key = (h.slot, h.tid)
            self._keys[key] -= 1
            if not self._keys[key]:
                del self._keys[key]
        self._fifo = kept
        return taken

    def _pop(self, dropped: bool) -> None:
        h = self._fifo.popleft()
        self.bytes -= len(h.data) + HELD_OVERHEAD
        key = (h.slot, h.tid)
        left = self._keys[key] - 1
        if left:
            self._keys[key] = left
        else:
            del self._keys[key]
        if dropped:
            self.stats.held_sets_dropped += 1
        else:
            self.stats.held_sets_expired += 1
