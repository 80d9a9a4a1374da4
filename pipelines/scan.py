"""Offline scan of capture files: source → decoder → flow table → detection engine → sinks.

The same stages serve live capture later; only the source differs.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from detector.context import DetectContext
from detector.engine import Engine, Sink
from detector.hits import FlowHit
from pipelines.batch import STATUS_NAMES, PacketBatch
from pipelines.decoders.packet import LINKTYPE_NAMES, SUPPORTED_LINKTYPES, decode
from pipelines.flows import FlowTable
from pipelines.sources.pcapfile import CaptureError, PcapFileSource

Progress = Callable[[int], None]


@dataclass(slots=True)
class ScanStats:
    files: int = 0
    packets: int = 0
    bytes: int = 0
    flows: int = 0
    hits: int = 0
    truncated_files: int = 0
    status: Counter[str] = field(default_factory=Counter)
    by_class: Counter[str] = field(default_factory=Counter)
    by_evidence: Counter[str] = field(default_factory=Counter)
    by_variant: Counter[str] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def packets_per_second(self) -> float:
        return self.packets / self.seconds if self.seconds > 0 else 0.0


class Scanner:
    """Scans files one after another with one detection context (memories span files)."""

    def __init__(self, ctx: DetectContext, sink: Sink, progress: Progress | None = None) -> None:
        self.ctx = ctx
        self.stats = ScanStats()
        self._sink = sink
        self.engine = Engine(ctx, self._count_and_sink)
        self.progress = progress

    def _count_and_sink(self, hit: FlowHit) -> None:
        self.stats.hits += 1
        self.stats.by_class[str(hit.cls)] += 1
        for ev in hit.evidence:
            self.stats.by_evidence[str(ev)] += 1
        self.stats.by_variant[hit.variant] += 1
        self._sink(hit)

    def scan(self, paths: Iterable[str | Path]) -> ScanStats:
        start = time.perf_counter()
        for path in paths:
            try:
                self.scan_file(Path(path))
            except CaptureError as exc:
                self.stats.errors.append(str(exc))
            except OSError as exc:
                self.stats.errors.append(f"{path}: {exc.strerror or exc}")
        self.stats.seconds = time.perf_counter() - start
        return self.stats

    def scan_file(self, path: Path) -> None:
        source = PcapFileSource(path)
        table = FlowTable()
        name = path.name
        st = self.stats
        last_bytes = 0
        try:
            for chunk in source:
                if not source.is_pcapng:
                    _check_links(path, source.stats.linktypes)
                packets = decode(chunk.buf, chunk.records)
                batch = PacketBatch(chunk.buf, chunk.records, packets)
                status = np.bincount(packets["status"], minlength=len(STATUS_NAMES))
                for code, count in enumerate(status.tolist()):
                    if count:
                        st.status[STATUS_NAMES[code]] += count
                st.packets += len(packets)
                st.bytes += int(chunk.records["caplen"].sum())
                slot, direction, new, reused = table.update(packets, chunk.records["ts"])
                st.flows += int(new.sum())
                self.engine.process(batch, table, slot, direction, new)
                self.engine.finish(reused, name)
                now = float(chunk.records["ts"].max())
                self.engine.finish(table.expire(now), name)
                if self.progress is not None:
                    self.progress(source.stats.bytes_read - last_bytes)
                    last_bytes = source.stats.bytes_read
            _check_links(path, source.stats.linktypes)
        finally:
            self.engine.finish(table.drain(), name)
            st.files += 1
            if source.stats.truncated_tail:
                st.truncated_files += 1
                st.status["truncated-tail"] += source.stats.truncated_tail


def _check_links(path: Path, linktypes: set[int]) -> None:
    """A capture none of whose interfaces we can decode is an error, not silence."""
    if linktypes and not (linktypes & SUPPORTED_LINKTYPES):
        names = ", ".join(f"{lt} ({LINKTYPE_NAMES.get(lt, 'unknown')})" for lt in sorted(linktypes))
        raise CaptureError(f"{path}: unsupported link type {names}")
