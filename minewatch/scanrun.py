"""Glue for `minewatch scan`: store, progress bar, scanner."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from tqdm import tqdm

from blacklist.allow import AllowIndex
from blacklist.matcher import Matcher
from detector.context import DetectContext
from detector.engine import Sink
from detector.hits import FlowHit
from detector.memory import OnLearn
from minewatch.sinks import hit_sinks
from pipelines.gctune import tune_gc
from pipelines.parallel import ParallelScanner, default_workers
from pipelines.scan import Progress, Scanner, ScanStats


def run_scan(
    files: Sequence[Path], matcher: Matcher, printer: Sink, db_url: str | None, *,
    store: bool = True, progress: bool = False, workers: int = 1,
) -> ScanStats:  # fmt: skip
    """Scan files, print each hit and (unless disabled) store it.

    `workers` > 1 scans with that many detection processes (`pipelines.parallel`), 0 with one
    per CPU; 1 scans in this process.
    """
    with ExitStack() as stack:
        out = stack.enter_context(hit_sinks([printer], db_url, store=store))
        bar = None
        if progress:
            total = sum(p.stat().st_size for p in files if p.exists())
            bar = stack.enter_context(
                tqdm(total=total, unit="B", unit_scale=True, desc="scan", leave=False)
            )
        return _scan(
            files, matcher, out.sink, bar.update if bar is not None else None, workers,
            on_learn=out.on_learn,
        )  # fmt: skip


def _scan(
    files: Sequence[Path], matcher: Matcher, sink: Sink, progress: Progress | None, workers: int,
    on_learn: OnLearn | None = None, **options: Any,
) -> ScanStats:  # fmt: skip
    """Pool addresses learned on the wire (Stratum-confirmed servers, DNS answers for pool
    names) go to `on_learn` in both paths: in-process from the memories, in parallel from the
    knowledge the workers report to the parent."""
    n = default_workers() if workers == 0 else workers
    tune_gc()
    if n == 1:
        ctx = DetectContext(matcher, allow=AllowIndex(matcher.entries))
        ctx.learned.on_learn = ctx.pairs.on_learn = on_learn
        return Scanner(ctx, sink, progress, **options).scan(files)
    with ParallelScanner(
        matcher, sink, progress, workers=n, on_learn=on_learn, **options
    ) as scanner:
        return scanner.scan(files)


def collect_hits(
    files: Sequence[Path], matcher: Matcher, *, workers: int = 1, **options: Any
) -> tuple[list[FlowHit], ScanStats]:
    """Scan without storing; return the hits in report order (for tests and tooling).

    `options` go to the scanner (`chunk_bytes`; for `workers` > 1 also `ring`, `sharder`).
    """
    hits: list[FlowHit] = []
    stats = _scan(files, matcher, hits.append, None, workers, **options)
    hits.sort(
        key=lambda h: (h.source, h.first_ts, h.client_ip, h.client_port, h.server_ip, h.server_port)
    )
    return hits, stats
