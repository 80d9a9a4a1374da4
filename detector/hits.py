"""Flow hits: one finished (or reported) flow with the evidence that flagged it."""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from detector.base import Evidence, EvidenceKind, HitClass, combine_confidence
from pipelines.batch import addr_text

TRANSPORTS = {6: "tcp", 17: "udp"}
# looked up once: an enum class attribute costs ~50 ns, a few times per hit
_MINING_CLS, _COIN_P2P_CLS = HitClass.MINING, HitClass.COIN_P2P

# Payload evidence names the variant best; list evidence only says where the entry came from.
_VARIANT_RANK = {
    EvidenceKind.STRATUM: 0,
    EvidenceKind.HTTP_MINING: 1,
    EvidenceKind.COIN_P2P: 2,
    EvidenceKind.SNI: 3,
    EvidenceKind.DNS: 4,
    EvidenceKind.PAIR_CACHE: 5,
    EvidenceKind.DNS_LEARNED: 6,
    EvidenceKind.IP_LIST: 7,
    EvidenceKind.DOMAIN_LIST: 8,
    EvidenceKind.BEHAVIOUR: 9,
    EvidenceKind.PORT_ONLY: 10,
}


@dataclass(slots=True)
class FlowHit:
    """The stored and printed unit: one flow, its class, evidence and counters."""

    source: str
    first_ts: float
    last_ts: float
    transport: str
    client_ip: str
    client_port: int
    server_ip: str
    server_port: int
    cls: HitClass
    evidence: list[EvidenceKind]
    variant: str
    confidence: float
    detail: dict[str, Any] = field(default_factory=dict)
    packets: int = 0
    bytes: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "file": self.source,
            "first_ts": iso(self.first_ts),
            "last_ts": iso(self.last_ts),
            "transport": self.transport,
            "client_ip": self.client_ip,
            "client_port": self.client_port,
            "server_ip": self.server_ip,
            "server_port": self.server_port,
            "class": str(self.cls),
            "evidence": [str(e) for e in self.evidence],
            "variant": self.variant,
            "confidence": self.confidence,
            "detail": self.detail,
            "packets": self.packets,
            "bytes": self.bytes,
        }


def flow_dict(flow: np.void) -> dict[str, Any]:
    """One flow-table record as plain Python values (one conversion instead of many lookups)."""
    names = flow.dtype.names or ()
    return dict(zip(names, flow.item(), strict=True))


_SECONDS: dict[float, str] = {}  # whole second → "YYYY-MM-DDTHH:MM:SS." (hits cluster in time)
_modf = math.modf


def iso(ts: float) -> str:
    """UTC ISO 8601 with microseconds and `Z`, exactly as `datetime.fromtimestamp(ts, UTC)`
    renders it (same half-even rounding), at a third of its cost: a scan formats two per hit.
    The whole second stays a float (an exact integer below 2**53): no `int` per call; `zfill`
    pads the microseconds at half the cost of a `06d` format spec."""
    frac, whole = _modf(ts)
    us = round(frac * 1e6)
    if us >= 1_000_000:
        whole, us = whole + 1.0, us - 1_000_000
    elif us < 0:
        whole, us = whole - 1.0, us + 1_000_000
    head = _SECONDS.get(whole)
    if head is None:
        if len(_SECONDS) >= 4096:
            _SECONDS.clear()
        head = _SECONDS[whole] = time.strftime("%Y-%m-%dT%H:%M:%S.", time.gmtime(whole))
    return f"{head}{str(us).zfill(6)}Z"


def merge_detail(into: dict[str, Any], extra: dict[str, Any]) -> None:
    """Union list-valued details (methods), keep the first scalar (agent, sni, ...)."""
    for key, value in extra.items():
        if isinstance(value, list):
            have = into.get(key)
            if have is None:  # most lists name one method: no set, no sort
                into[key] = [str(value[0])] if len(value) == 1 else sorted(set(map(str, value)))
            elif isinstance(have, list):
                into[key] = sorted({*map(str, have), *map(str, value)})
        elif key not in into and value is not None and value != "":
            into[key] = value


def _rank(e: Evidence) -> tuple[int, float]:
    return _VARIANT_RANK.get(e.kind, 99), -e.confidence


def build_hit(source: str, flow: Mapping[str, Any], evidence: list[Evidence]) -> FlowHit | None:
    """`hit_of` for one flow-table record as a plain mapping (`flow_dict`)."""
    return hit_of(
        source, evidence, flow["first_ts"], flow["last_ts"], flow["proto"],
        flow["c_hi"], flow["c_lo"], flow["cport"], flow["s_hi"], flow["s_lo"], flow["sport"],
        flow["pkts_c2s"] + flow["pkts_s2c"], flow["bytes_c2s"] + flow["bytes_s2c"],
    )  # fmt: skip


def hit_of(
    source: str, evidence: list[Evidence], first_ts: float, last_ts: float, proto: int,
    c_hi: int, c_lo: int, cport: int, s_hi: int, s_lo: int, sport: int, packets: int,
    nbytes: int,
) -> FlowHit | None:  # fmt: skip
    """Decide the class of a finished flow from its evidence; None when it is not a hit.

    Weak evidence (port-only, allowlisted list matches) never makes a hit; it only rides along.
    Mining evidence outranks coin-P2P: a flow is coin-p2p only when nothing says mining. The
    flow comes as plain column values: the engine converts whole columns of its ended flows at
    once (numpy record field access per flow is slow).
    """
    mining: list[Evidence] = []
    other: list[Evidence] = []
    weak: list[Evidence] = []
    for e in evidence:
        if e.weak:
            weak.append(e)
        elif e.cls == _MINING_CLS:
            mining.append(e)
        else:
            other.append(e)
    if mining:
        cls, used = _MINING_CLS, mining + weak if weak else mining
    elif other:
        cls, used = _COIN_P2P_CLS, other
    else:
        return None
    if len(used) > 1:
        used.sort(key=_rank)
    detail: dict[str, Any] = {}
    kinds: list[EvidenceKind] = []
    variant = ""  # the first one named
    for e in used:
        merge_detail(detail, e.detail)
        if e.kind not in kinds:
            kinds.append(e.kind)
        if not variant:
            variant = e.variant
    return FlowHit(
        source, first_ts, last_ts, TRANSPORTS.get(proto) or str(proto), _text(c_hi, c_lo), cport,
        _text(s_hi, s_lo), sport, cls, kinds, variant or str(used[0].kind),
        _confidence(tuple([e.confidence for e in used])), detail, packets, nbytes,
    )  # fmt: skip


_COMBINED: dict[tuple[float, ...], float] = {}  # signature confidences are a few constants


def _confidence(values: tuple[float, ...]) -> float:
    """`combine_confidence`, remembered: its `round(x, 4)` costs more than the rest of it."""
    got = _COMBINED.get(values)
    if got is None:
        if len(_COMBINED) >= 4096:
            _COMBINED.clear()
        got = _COMBINED[values] = combine_confidence(list(values))
    return got


_TEXTS: dict[tuple[int, int], str] = {}  # address words → text: pools and miners recur


def _text(hi: int, lo: int) -> str:
    """`addr_text`, remembered for the few thousand addresses last seen."""
    key = (hi, lo)
    text = _TEXTS.get(key)
    if text is None:
        if len(_TEXTS) >= 8192:
            _TEXTS.clear()
        text = _TEXTS[key] = addr_text(hi, lo)
    return text
