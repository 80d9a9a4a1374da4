"""What workers hand back besides hits: memory entries to share, detector counters to merge.

**Shared knowledge and its guarantee.** Each worker's memories are its own (the pair cache of
its subscribers, the endpoints it learned from DNS answers for pool domains). New entries are
also sent to the parent with the chunk's results and forwarded to the other workers with their
next message; a worker applies them before it touches the next chunk. Exactly:

- within one worker, what it learns counts at once, exactly as in the single process;
- an entry learned by worker A while processing chunk *k* is known to every other worker before
  it processes chunk *k + ring* (the parent cannot refill chunk *k*'s slot before A's results for
  *k* are in), often earlier;
- before the end-of-file drain, every worker knows everything learned in that file and before,
  so evidence checked when flows end ("dns-learned", "pair-cache" on ended flows) is as complete
  as in the single process.

Evidence from memories is checked when a flow appears and again when it ends (judged at the
flow's own time, so it does not matter which flows a worker finishes together), and the check
at the end alone yields the same hit. So the hits can differ from `--workers 1` only for a flow
that ends in one shard inside that window (at most `ring` chunks) after another shard learned
the entry it needed: in practice a flow to a freshly resolved pool address that also ends, by
FIN/RST + 30 s or 300 s idle, within a few MiB of traffic. (Measured: the same hits and summary
on the samples, the real captures, and the benchmark corpora x10/x30.)
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from dataclasses import dataclass, field

from detector.context import DetectStats
from detector.memory import Addr, LearnedEndpoints, PairCache, Remembered


@dataclass(slots=True)
class Knowledge:
    """Memory entries one worker learned that the others should have too."""

    learned: list[tuple[Addr, Remembered]] = field(default_factory=list)
    pairs: list[tuple[tuple[int, ...], Remembered]] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.learned or self.pairs)

    def extend(self, other: Knowledge) -> None:
        self.learned.extend(other.learned)
        self.pairs.extend(other.pairs)


class SharedLearned(LearnedEndpoints):
    """Learned endpoints that also note what they learn locally, to be forwarded (the latest
    entry per address since the outbox was last emptied)."""

    def __init__(self) -> None:
        super().__init__()
        self.outbox: dict[Addr, Remembered] = {}

    def learn(self, addr: Addr, now: float, ttl: float, why: str) -> None:
        super().learn(addr, now, ttl, why)
        self.outbox[addr] = self.items[addr]


class SharedPairs(PairCache):
    """The pair cache, noting locally confirmed pairs to be forwarded (latest per pair)."""

    def __init__(self) -> None:
        super().__init__()
        self.outbox: dict[tuple[int, ...], Remembered] = {}

    def remember(
        self, client: Addr, server: Addr, now: float, why: str, variant: str, origin: int
    ) -> None:
        super().remember(client, server, now, why, variant, origin)
        key = (*client, *server)
        self.outbox[key] = self.items[key]


def merge_detect_stats(into: DetectStats, other: DetectStats) -> None:
    """Add one worker's detector counters to the parent's total."""
    for f in dataclasses.fields(DetectStats):
        value = getattr(other, f.name)
        if isinstance(value, Counter):
            getattr(into, f.name).update(value)
        else:
            setattr(into, f.name, getattr(into, f.name) + value)
