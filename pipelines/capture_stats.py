"""Counters of a live capture, as plain dataclasses: per worker (`WorkerStats`, with the ring's
and the kernel's `RingStats`) and for the whole capture (`CaptureStats`). Workers pickle theirs
to the parent; exporters (metrics, status files) read them, `as_dict` gives JSON-able values.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from detector.context import DetectStats
from pipelines.scan import ScanStats
from pipelines.sources.afpacket import RingStats


@dataclass(slots=True)
class WorkerStats:
    """Counters of one capture worker (plain values: pickled to the parent, exported)."""

    worker: int
    pid: int = 0
    ring: RingStats = field(default_factory=RingStats)
    packets: int = 0  # decoded
    batches: int = 0
    ticks: int = 0  # wall-clock flow expiries while the link was quiet
    link_errors: int = 0  # socket errors, e.g. ENETDOWN each time the interface went down
    flows: int = 0
    hits: int = 0
    status: dict[str, int] = field(default_factory=dict)  # decode status → packets


@dataclass(slots=True)
class CaptureStats:
    """Everything a capture counts: per worker (`WorkerStats`, ring and kernel counters
    included), the scan-style summary of packets and hits, and the detectors' counters."""

    iface: str
    workers: dict[int, WorkerStats] = field(default_factory=dict)
    summary: ScanStats = field(default_factory=ScanStats)
    detect: DetectStats = field(default_factory=DetectStats)
    seconds: float = 0.0
    errors: list[str] = field(default_factory=list)

    def ring_totals(self) -> RingStats:
        """Ring and kernel counters summed over the workers."""
        out = RingStats()
        for ws in self.workers.values():
            for f in fields(RingStats):
                setattr(out, f.name, getattr(out, f.name) + getattr(ws.ring, f.name))
        return out

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-able values (for logs, status files and tests)."""
        s = self.summary
        return {
            "iface": self.iface,
            "seconds": self.seconds,
            "packets": s.packets,
            "bytes": s.bytes,
            "flows": s.flows,
            "hits": s.hits,
            "status": dict(s.status),
            "by_class": dict(s.by_class),
            "by_evidence": dict(s.by_evidence),
            "by_variant": dict(s.by_variant),
            "ring": asdict(self.ring_totals()),
            "workers": [
                {**asdict(w), "status": dict(w.status)} for _, w in sorted(self.workers.items())
            ],
            "errors": list(self.errors),
        }

    def refresh_summary(self) -> None:
        """Packet, flow and status totals of the summary from the latest worker counters."""
        s = self.summary
        s.packets = sum(w.packets for w in self.workers.values())
        s.bytes = sum(w.ring.bytes for w in self.workers.values())
        s.flows = sum(w.flows for w in self.workers.values())
        s.status = Counter()
        for w in self.workers.values():
            s.status.update(w.status)
