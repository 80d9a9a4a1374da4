"""What the detector remembers between flows: confirmed miner–pool pairs and learned endpoints.

Both are small, bounded, time-aware maps keyed by 128-bit addresses (the batch columns' words).
Expiry runs on packet time, so replaying an old capture behaves like the live network did. Lookups
for whole arrays of flows first test membership with numpy (a binary search on the low word), so the
usual case — nothing remembered for these addresses — costs no Python per flow.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from detector.hits import iso
from pipelines.batch import addr_text

Addr = tuple[int, int]
# Told about every pool address learned at run time (text, why), e.g. to persist it into the
# `learned` block-list source (`blacklist.learned.Learner`); the detector itself stays pure.
OnLearn = Callable[[str, str], None]


@dataclass(slots=True)
class Remembered:
    expires: float
    why: str  # e.g. "stratum-v1 seen 2024-05-01T00:00:00Z" or "A record of xmr.pool.minergate.com"
    variant: str = ""
    origin: int = 0  # uid of the flow that taught us this (it is not evidence for itself)
    since: float = 0.0  # packet time it was learned
    _label: str = ""

    def label(self) -> str:
        """ "<why> at <since>", formatted once: every later flow of the pair quotes it."""
        if not self._label:
            self._label = f"{self.why} at {iso(self.since)}"
        return self._label


class _TimedMap:
    """An LRU map with per-entry expiry, capped at `size` entries.

    Keys are address words; `LO_POS` names the low word the batch pre-test looks at (a server's
    or a learned address's). The distinct low words are counted as keys come and go, so the
    sorted array the pre-test searches is rebuilt only when that set changes. It used to be
    rebuilt from every key after any new key: negligible with the ~100 pairs of the shared
    captures, but ~9 ms a batch for a full cache of 100k pairs, where a carrier learns new
    pairs in nearly every batch."""

    LO_POS = 0

    def __init__(self, size: int) -> None:
        self.size = size
        self.items: OrderedDict[tuple[int, ...], Remembered] = OrderedDict()
        self._lo: npt.NDArray[np.uint64] | None = None
        self._lo_count: dict[int, int] = {}
        self.hits = 0
        self.evicted = 0
        self.on_learn: OnLearn | None = None

    def put(self, key: tuple[int, ...], value: Remembered) -> None:
        old = self.items.pop(key, None)
        if old is not None:
            if old.since > value.since:  # learned later on the wire: keep it (arrival order
                old, value = value, old  # across batches and workers must not matter)
            value.expires = max(value.expires, old.expires)
        self.items[key] = value
        if old is None:  # a refreshed key changes no word
            self._count_word(key[self.LO_POS], 1)
        while len(self.items) > self.size:
            gone, _ = self.items.popitem(last=False)
            self._count_word(gone[self.LO_POS], -1)
            self.evicted += 1

    def _count_word(self, word: int, step: int) -> None:
        n = self._lo_count.get(word, 0) + step
        if n:
            self._lo_count[word] = n
        else:
            del self._lo_count[word]
        if n == 0 or n == step:  # the word left or arrived: the sorted array is stale
            self._lo = None

    def get(self, key: tuple[int, ...], now: float) -> Remembered | None:
        """The entry if it had not expired by `now`.

        Knowledge learned after `now` still counts: a flow still in the table when its pool was
        confirmed (e.g. an earlier TLS attempt of the same client) is the same miner. Expired
        entries are not deleted here — a flow judged at an earlier time may still see them; the
        LRU bound keeps the map small."""
        item = self.items.get(key)
        if item is None or item.expires < now:
            return None
        self.items.move_to_end(key)
        self.hits += 1
        return item

    def live(
        self, keys: Iterable[tuple[int, ...]], times: Iterable[float]
    ) -> list[tuple[int, Remembered]]:
        """`(i, entry)` for each i-th key whose entry had not expired by the i-th time: `get`
        for a whole batch (same LRU moves, same `hits`) without a method call and an argument
        tuple per key. The flow detectors look up ~10k candidate rows a scan."""
        items = self.items
        get, move = items.get, items.move_to_end
        out: list[tuple[int, Remembered]] = []
        for i, (key, now) in enumerate(zip(keys, times, strict=True)):
            item = get(key)
            if item is None or item.expires < now:
                continue
            move(key)
            out.append((i, item))
        self.hits += len(out)
        return out

    def lo_words(self) -> npt.NDArray[np.uint64]:
        """The keys' low words at `LO_POS`, sorted and unique (a cheap membership pre-test)."""
        return self._padded()[:-1]

    def _padded(self) -> npt.NDArray[np.uint64]:
        """`lo_words` and its last word once more (a zero if empty), so that any insertion
        point `searchsorted` returns is a valid index."""
        if self._lo is None:
            words = sorted(self._lo_count)
            self._lo = np.array([*words, words[-1] if words else 0], dtype=np.uint64)
        return self._lo

    def member(self, lo: npt.NDArray[np.uint64]) -> npt.NDArray[np.bool_]:
        """Rows of `lo` whose word is a key's low word at `pos`: a binary search per row
        (np.isin sorted both arrays on every call, a quarter of a millisecond per batch). A
        row past the last word lands on the repeated last word (no clamping pass)."""
        if not self.items:
            return np.zeros(len(lo), dtype=bool)
        padded = self._padded()
        return padded[padded[:-1].searchsorted(lo)] == lo  # type: ignore[no-any-return]

    def __len__(self) -> int:
        return len(self.items)


class PairCache(_TimedMap):
    """Confirmed (client, pool) address pairs: later flows between them are `pair-cache` hits."""

    LO_POS = 3  # keys are (client hi, lo, server hi, lo)

    def __init__(self, size: int = 100_000, ttl: float = 86_400.0) -> None:
        super().__init__(size)
        self.ttl = ttl

    def remember(
        self, client: Addr, server: Addr, now: float, why: str, variant: str, origin: int
    ) -> None:
        item = Remembered(now + self.ttl, why, variant, origin, now)
        self.put((*client, *server), item)
        if self.on_learn is not None:  # the same text as the entry's label: formatted once
            self.on_learn(addr_text(*server), item.label())

    def candidates(self, s_lo: npt.NDArray[np.uint64]) -> npt.NDArray[np.bool_]:
        """Rows whose server low word appears in the cache (then confirm with `lookup`)."""
        return self.member(s_lo)

    def lookup(self, client: Addr, server: Addr, now: float) -> Remembered | None:
        return self.get((*client, *server), now)


class LearnedEndpoints(_TimedMap):
    """Addresses learned during the run (DNS answers for pool domains) with expiry."""

    LO_POS = 1  # keys are (hi, lo)

    def __init__(self, size: int = 200_000, min_ttl: float = 3_600.0) -> None:
        super().__init__(size)
        self.min_ttl = min_ttl

    def learn(self, addr: Addr, now: float, ttl: float, why: str) -> None:
        """Keep at least `min_ttl`: miners reconnect long after the resolver's TTL ran out."""
        item = Remembered(now + max(ttl, self.min_ttl), why, since=now)
        self.put(addr, item)
        if self.on_learn is not None:  # as for pairs: the entry's label is the same text
            self.on_learn(addr_text(*addr), item.label())

    def candidates(self, lo: npt.NDArray[np.uint64]) -> npt.NDArray[np.bool_]:
        return self.member(lo)

    def lookup(self, addr: Addr, now: float) -> Remembered | None:
        return self.get(addr, now)
