"""Everything detectors share during a run: the active block list, memories and counters.

The matcher is an immutable compiled object; swapping `ctx.matcher` for a newer version is one
reference assignment between batches, so a running pipeline picks up a refreshed list without a
restart and never sees a half-built one.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from blacklist.matcher import Matcher
from detector.base import Signature
from detector.memory import LearnedEndpoints, PairCache
from detector.signatures import SIGNATURES


@dataclass(slots=True)
class DetectStats:
    candidates: int = 0
    flows_inspected: int = 0
    dns: int = 0
    dns_bad: int = 0
    sni: int = 0
    learned: int = 0
    lone_packets: int = 0  # single-packet flows with only endpoint evidence, not reported
    hits: Counter[str] = field(default_factory=Counter)


@dataclass(slots=True)
class DetectContext:
    matcher: Matcher
    signatures: dict[str, Signature] = field(default_factory=lambda: dict(SIGNATURES))
    pairs: PairCache = field(default_factory=PairCache)
    learned: LearnedEndpoints = field(default_factory=LearnedEndpoints)
    stats: DetectStats = field(default_factory=DetectStats)

    def swap_matcher(self, matcher: Matcher) -> bool:
        """Install a newer compiled list; False when it is the same version."""
        if matcher.version == self.matcher.version:
            return False
        self.matcher = matcher
        return True
