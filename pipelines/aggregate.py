"""Evidence per (subscriber, pool endpoint), summed across flows and reported periodically.

Sampled flow export sees a miner as a trickle: at 1:1000 a persistent miner may leave one sampled
packet per hour (DOMAIN.md), so one flow record is weak on its own and thousands of one-packet
"hits" would bury the analyst. The collector therefore adds every hit (from flow records or from
sampled packets) to an accumulator keyed by (client, server, server port, transport) and reports
one aggregated hit per key and interval: first/last seen, flow records, sampled and estimated
packet/byte counts (scaled by the sampling rate; flow counts are not scaled), all evidence kinds
with their best confidence, and the sampling rates seen. Each row counts its own interval, so
rows of one pair add up; the evidence about the pair carries over. Accumulators idle for longer
than the window are forgotten; the number of keys is bounded (least recently updated go first).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from detector.base import EvidenceKind, HitClass
from detector.engine import Sink
from detector.hits import FlowHit, merge_detail

Key = tuple[str, str, int, str]  # client ip, server ip, server port, transport


@dataclass(slots=True)
class Accumulator:
    first: FlowHit  # the hit that opened the key (addresses, class)
    first_ts: float
    last_ts: float
    records: int = 0
    packets_sampled: int = 0
    bytes_sampled: int = 0
    packets_est: int = 0
    bytes_est: int = 0
    client_ports: set[int] = field(default_factory=set)
    sampling: set[int] = field(default_factory=set)
    sources: set[str] = field(default_factory=set)
    confidence: dict[str, float] = field(default_factory=dict)  # evidence kind → best hit's
    best: float = 0.0  # the most confident single hit (hits are not independent: no noisy-OR)
    variant: str = ""
    cls: HitClass = HitClass.MINING
    detail: dict[str, Any] = field(default_factory=dict)
    dirty: bool = True
    seen: float = 0.0  # last packet time of any hit (idle expiry; survives the interval reset)

    def reset(self) -> None:
        """Start the next report interval: counters and times restart, what the evidence says
        about the pair (kinds, confidence, variant, detail) stays."""
        self.first_ts, self.last_ts = float("inf"), float("-inf")
        self.records = self.packets_sampled = self.bytes_sampled = 0
        self.packets_est = self.bytes_est = 0
        self.client_ports.clear()
        self.sampling.clear()
        self.sources.clear()
        self.dirty = False


class Aggregator:
    """Accumulates hits per (subscriber, pool endpoint); `flush` reports the changed ones."""

    def __init__(self, sink: Sink, *, window: float = 86_400.0, max_keys: int = 200_000) -> None:
        self.sink = sink
        self.window = window
        self.max_keys = max_keys
        self.acc: OrderedDict[Key, Accumulator] = OrderedDict()
        self.reported = 0
        self.evicted = 0

    def add(self, hit: FlowHit, sampling: int = 1) -> None:
        """One hit with counters as observed; `sampling` 1-in-N (0 = unknown → not scaled)."""
        key = (hit.client_ip, hit.server_ip, hit.server_port, hit.transport)
        acc = self.acc.pop(key, None)
        if acc is None:
            acc = Accumulator(hit, hit.first_ts, hit.last_ts, cls=hit.cls, variant=hit.variant)
        self.acc[key] = acc
        scale = sampling if sampling > 0 else 1
        acc.first_ts = min(acc.first_ts, hit.first_ts)
        acc.last_ts = max(acc.last_ts, hit.last_ts)
        acc.seen = max(acc.seen, hit.last_ts)
        acc.records += 1
        acc.packets_sampled += hit.packets
        acc.bytes_sampled += hit.bytes
        acc.packets_est += hit.packets * scale
        acc.bytes_est += hit.bytes * scale
        if len(acc.client_ports) < 64:
            acc.client_ports.add(hit.client_port)
        acc.sampling.add(sampling)
        if len(acc.sources) < 16:
            acc.sources.add(hit.source)
        acc.best = max(acc.best, hit.confidence)
        for kind in hit.evidence:
            k = str(kind)
            acc.confidence[k] = max(acc.confidence.get(k, 0.0), hit.confidence)
        if hit.cls == HitClass.MINING and acc.cls != HitClass.MINING:
            acc.cls, acc.variant = HitClass.MINING, hit.variant  # mining outranks coin-p2p
        elif not acc.variant:
            acc.variant = hit.variant
        merge_detail(acc.detail, hit.detail)
        acc.dirty = True
        while len(self.acc) > self.max_keys:
            self.acc.popitem(last=False)
            self.evicted += 1

    def flush(self, now: float | None = None) -> int:
        """Report every accumulator changed since the last flush — one row per pair and
        interval, with the counts of that interval only (rows add up) — and forget those idle
        past the window (at packet time `now`). Returns the number of hits reported."""
        n = 0
        for key in list(self.acc):
            acc = self.acc[key]
            if acc.dirty:
                self.sink(self._hit(acc))
                acc.reset()
                n += 1
            elif now is not None and now - acc.seen > self.window:
                del self.acc[key]
        self.reported += n
        return n

    @staticmethod
    def _hit(acc: Accumulator) -> FlowHit:
        h = acc.first
        detail = dict(acc.detail)
        detail["aggregate"] = {
            "flow_records": acc.records,
            "packets_sampled": acc.packets_sampled,
            "bytes_sampled": acc.bytes_sampled,
            "sampling": sorted(acc.sampling),
            "client_ports": sorted(acc.client_ports)[:16],
            "sources": sorted(acc.sources),
            "evidence_confidence": dict(sorted(acc.confidence.items())),
        }
        return FlowHit(
            source=h.source if len(acc.sources) == 1 else ",".join(sorted(acc.sources)),
            first_ts=acc.first_ts,
            last_ts=acc.last_ts,
            transport=h.transport,
            client_ip=h.client_ip,
            client_port=h.client_port,
            server_ip=h.server_ip,
            server_port=h.server_port,
            cls=acc.cls,
            evidence=[EvidenceKind(k) for k in acc.confidence],
            variant=acc.variant,
            confidence=acc.best,
            detail=detail,
            packets=acc.packets_est,
            bytes=acc.bytes_est,
        )
