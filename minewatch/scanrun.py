"""Glue for `minewatch scan`: store, progress bar, scanner."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path

from tqdm import tqdm

from blacklist.matcher import Matcher
from detector.context import DetectContext
from detector.engine import Sink
from detector.hits import FlowHit
from pipelines.scan import Scanner, ScanStats


def run_scan(
    files: Sequence[Path], matcher: Matcher, printer: Sink, db_url: str | None, *,
    store: bool = True, progress: bool = False,
) -> ScanStats:  # fmt: skip
    """Scan files, print each hit and (unless disabled) store it."""
    with ExitStack() as stack:
        sinks: list[Sink] = [printer]
        if store:
            from store.db import HitWriter, connect

            sinks.append(stack.enter_context(HitWriter(connect(db_url))))

        def sink(hit: FlowHit) -> None:
            for s in sinks:
                s(hit)

        bar = None
        if progress:
            total = sum(p.stat().st_size for p in files if p.exists())
            bar = stack.enter_context(
                tqdm(total=total, unit="B", unit_scale=True, desc="scan", leave=False)
            )
        scanner = Scanner(DetectContext(matcher), sink, bar.update if bar is not None else None)
        return scanner.scan(files)


def collect_hits(files: Sequence[Path], matcher: Matcher) -> tuple[list[FlowHit], ScanStats]:
    """Scan without storing; return the hits in report order (for tests and tooling)."""
    hits: list[FlowHit] = []
    stats = Scanner(DetectContext(matcher), hits.append).scan(files)
    hits.sort(key=lambda h: (h.source, h.first_ts, h.client_ip, h.client_port, h.server_ip, h.server_port))
    return hits, stats
