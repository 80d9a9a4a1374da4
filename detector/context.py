"""Everything detectors share during a run: the active block list, memories and counters.

The matcher is an immutable compiled object; swapping `ctx.matcher` for a newer version is one
reference assignment between batches, so a running pipeline picks up a refreshed list without a
restart and never sees a half-built one.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from blacklist.matcher import Matcher
from detector.base import Signature
from detector.memory import LearnedEndpoints, PairCache
from detector.signatures import SIGNATURES

if TYPE_CHECKING:
    from blacklist.allow import AllowIndex


@dataclass(slots=True)
class DetectStats:
    candidates: int = 0  # payloads read in Python
    screened: int = 0  # DNS, ClientHellos and HTTP heads finished by the compiled screen
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
    allow: AllowIndex | None = None  # allowlisted ranges: list matches there are weak evidence

    def swap_matcher(self, matcher: Matcher, allow: AllowIndex | None = None) -> bool:
        """Install a newer compiled list (and its allowlist index); False when unchanged."""
        if matcher.version == self.matcher.version:
            return False
        self.matcher = matcher
        if allow is not None:
            self.allow = allow
        return True
