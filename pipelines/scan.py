"""Offline scan of capture files: source → decoder → flow table → detection engine → sinks.

The same stages serve live capture later; only the source differs.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Generator, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from detector.context import DetectContext
from detector.engine import Engine, Sink
from detector.hits import FlowHit
from pipelines.batch import STATUS_NAMES, PacketBatch
from pipelines.decoders.packet import LINKTYPE_NAMES, SUPPORTED_LINKTYPES, decode
from pipelines.flows import FlowTable
from pipelines.sources.pcapfile import CHUNK_BYTES, CaptureError, PcapFileSource

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


class FlowStage:
    """What happens to every decoded batch of one capture: flow table → engine → ended flows.

    One definition for both scan paths, the in-process `Scanner` and each parallel scan worker
    (`pipelines.parallel`), so that both decide flows the same way. Flow uids start at
    `first_uid` (workers number their flows in disjoint ranges, so a uid names one flow across
    workers, e.g. as the origin of a shared pair-cache entry).
    """

    def __init__(self, engine: Engine, source: str, first_uid: int = 1) -> None:
        self.engine = engine
        self.source = source
        self.table = FlowTable()
        self.table.next_uid = first_uid

    def feed(self, batch: PacketBatch, now: float) -> int:
        """Tag, inspect and end flows for one batch (`now`: its latest packet time); returns the
        number of new flows."""
        table, engine = self.table, self.engine
        slot, direction, new, reused = table.update(batch.packets, batch.records["ts"])
        engine.process(batch, table, slot, direction, new)
        engine.finish(reused, self.source)
        engine.finish(table.expire(now), self.source)
        return int(new.sum())

    def expire(self, now: float) -> None:
        """End the flows idle at time `now` without a batch (a quiet live link: wall clock)."""
        self.engine.finish(self.table.expire(now), self.source)

    def drain(self) -> None:
        """End every flow (flows do not span captures)."""
        self.engine.finish(self.table.drain(), self.source)


def read_batches(
    path: Path, stats: ScanStats, progress: Progress | None = None,
    chunk_bytes: int = CHUNK_BYTES,
) -> Generator[tuple[PacketBatch, float], None, None]:  # fmt: skip
    """Decoded batches of one capture, each with its latest packet time.

    Counts what it reads into `stats` (packets, bytes, decode statuses; the file and a truncated
    tail when the generator ends, also when reading fails part-way) and reports bytes read to
    `progress` after each batch has been consumed.
    """
    source = PcapFileSource(path, chunk_bytes)
    last_bytes = 0
    try:
        for chunk in source:
            if not source.is_pcapng:
                _check_links(path, source.stats.linktypes)
            packets = decode(chunk.buf, chunk.records)
            status = np.bincount(packets["status"], minlength=len(STATUS_NAMES))
            for code, count in enumerate(status.tolist()):
                if count:
                    stats.status[STATUS_NAMES[code]] += count
            stats.packets += len(packets)
            stats.bytes += int(chunk.records["caplen"].sum())
            yield PacketBatch(chunk.buf, chunk.records, packets), float(chunk.records["ts"].max())
            if progress is not None:
                progress(source.stats.bytes_read - last_bytes)
                last_bytes = source.stats.bytes_read
        _check_links(path, source.stats.linktypes)
    finally:
        stats.files += 1
        if source.stats.truncated_tail:
            stats.truncated_files += 1
            stats.status["truncated-tail"] += source.stats.truncated_tail


def count_hit(stats: ScanStats, hit: FlowHit) -> None:
    """Add one hit to the summary counters."""
    stats.hits += 1
    stats.by_class[str(hit.cls)] += 1
    for ev in hit.evidence:
        stats.by_evidence[str(ev)] += 1
    stats.by_variant[hit.variant] += 1


class Scanner:
    """Scans files one after another with one detection context (memories span files)."""

    def __init__(
        self, ctx: DetectContext, sink: Sink, progress: Progress | None = None, *,
        chunk_bytes: int = CHUNK_BYTES,
    ) -> None:  # fmt: skip
        self.ctx = ctx
        self.stats = ScanStats()
        self._sink = sink
        self.engine = Engine(ctx, self._count_and_sink)
        self.progress = progress
        self.chunk_bytes = chunk_bytes
        self._next_uid = 1

    def _count_and_sink(self, hit: FlowHit) -> None:
        count_hit(self.stats, hit)
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
        batches = read_batches(path, self.stats, self.progress, self.chunk_bytes)
        stage = FlowStage(self.engine, path.name, self._next_uid)
        try:
            for batch, now in batches:
                self.stats.flows += stage.feed(batch, now)
        finally:
            batches.close()
            stage.drain()
            self._next_uid = stage.table.next_uid  # uids stay unique across files


def _check_links(path: Path, linktypes: set[int]) -> None:
    """A capture none of whose interfaces we can decode is an error, not silence."""
    if linktypes and not (linktypes & SUPPORTED_LINKTYPES):
        names = ", ".join(f"{lt} ({LINKTYPE_NAMES.get(lt, 'unknown')})" for lt in sorted(linktypes))
        raise CaptureError(f"{path}: unsupported link type {names}")
