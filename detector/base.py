"""Core verdict and evidence types shared by every detector.

A *signature* looks at payload bytes of one flow direction and answers with one of three
outcomes (nDPI style): MATCH (this is the protocol, with why and how sure), EXCLUDE (this flow is
certainly not this protocol; stop asking me) or NEED_MORE (maybe; show me more bytes).
Flow-level detectors (lists, pair cache, DNS/SNI names) produce `Evidence` directly.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any, Protocol


class Outcome(enum.Enum):
    MATCH = "match"
    EXCLUDE = "exclude"
    NEED_MORE = "need-more"


class HitClass(enum.StrEnum):
    """What a flow is: pool mining, or coin-network P2P (never reported as mining)."""

    MINING = "mining"
    COIN_P2P = "coin-p2p"


class EvidenceKind(enum.StrEnum):
    """Why a flow was flagged; a port alone (`PORT_ONLY`) never makes a hit on its own."""

    IP_LIST = "ip-list"
    DOMAIN_LIST = "domain-list"
    STRATUM = "stratum"
    HTTP_MINING = "http-mining"
    SNI = "sni"
    DNS = "dns"
    DNS_LEARNED = "dns-learned"
    PAIR_CACHE = "pair-cache"
    COIN_P2P = "coin-p2p"
    BEHAVIOUR = "behaviour"
    PORT_ONLY = "port-only"


@dataclass(slots=True)
class Verdict:
    """A signature's answer for the bytes it was shown.

    `detail` carries the evidence in plain JSON-able values: `methods` (sorted list of method
    names seen), `agent`, `user_agent`, `excerpt` (at most ~160 printable chars of what matched).

    A NEED_MORE verdict with `confidence > 0` is *provisional*: what the signature would say if
    no more bytes came (e.g. mining headers seen, the JSON body that names the method not yet).
    The engine keeps it and uses it only if the flow ends without a better answer.

    Treat it as immutable (`NEED_MORE` and `EXCLUDE` are shared). It is not a frozen dataclass
    because frozen construction costs 1.1 µs against 0.3, and the scan makes one per payload
    judged; frozen never covered `detail`'s contents anyway.
    """

    outcome: Outcome
    kind: EvidenceKind = EvidenceKind.STRATUM
    cls: HitClass = HitClass.MINING
    variant: str = ""
    confidence: float = 0.0
    detail: dict[str, Any] = field(default_factory=dict)


NEED_MORE = Verdict(Outcome.NEED_MORE)
EXCLUDE = Verdict(Outcome.EXCLUDE)


class Signature(Protocol):
    """A payload signature: one module, one registry line in `detector.signatures.SIGNATURES`.

    `inspect` must be a pure function of its arguments: no I/O, no globals, and it must never
    raise on any input (fuzz-tested). `data` is the start of one direction of the flow's
    payload stream (possibly beginning mid-session), at most a few KiB; `from_client` says which
    direction. `transport` is 6 (TCP) or 17 (UDP).
    """

    name: str
    transports: frozenset[int]

    def inspect(self, data: bytes, from_client: bool, transport: int) -> Verdict: ...


@dataclass(slots=True)
class Evidence:
    """One reason a flow is suspicious, as stored with the hit.

    `weak` evidence (a pool port; a listed address inside an allowlisted CDN/cloud range) rides
    along with real evidence but never makes a hit on its own.
    """

    kind: EvidenceKind
    confidence: float
    cls: HitClass = HitClass.MINING
    variant: str = ""
    detail: dict[str, Any] = field(default_factory=dict)
    weak: bool = False


def combine_confidence(values: list[float]) -> float:
    """Noisy-OR of independent evidence confidences, rounded for stable output."""
    miss = 1.0
    for v in values:
        if v <= 0.0:
            continue
        miss *= 0.0 if v >= 1.0 else 1.0 - v
    return round(1.0 - miss, 4)
