"""Keep several router files current: check every `every` seconds, write when the list changed.

One `SnapshotStore` + `RenderCache` for all jobs, so N files of one version cost one snapshot.
A pass writes a job when the published list version differs from the one it last wrote (or
its file vanished); an unchanged version costs the head-version read. A failing job (disk full,
database away) is reported and retried next pass; the others still run. `stop` (set from
SIGTERM/SIGINT by the CLI) ends the loop between passes, never in the middle of a write.
`start()`/`stop()` run it in a thread for a service's lifespan (`serve` with `exports:`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from blacklist.render.cache import RenderCache
from blacklist.render.snapshot import SnapshotStore
from pipelines.exporters.files import ExportError, FileJob, Written, export


@dataclass
class PassReport:
    written: list[Written] = field(default_factory=list)
    skipped: int = 0  # jobs whose file already holds the current version
    errors: list[str] = field(default_factory=list)


class ExportScheduler:
    def __init__(
        self,
        engine: Engine | None,
        jobs: Sequence[FileJob],
        *,
        every: float = 60.0,
        cache_dir: Path | None = None,
        log: Callable[[str], None] = print,
    ) -> None:
        self.jobs = list(jobs)
        self.every = every
        self.log = log
        self.store = SnapshotStore(engine, poll=0)
        self.cache = RenderCache(self.store, cache_dir, keep=max(8, 2 * len(self.jobs)))
        self._last: dict[Path, str] = {}
        self.passes = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def run_once(self) -> PassReport:
        """One pass over every job."""
        report = PassReport()
        self.passes += 1
        try:
            version = self.store.current().version
        except SQLAlchemyError as exc:
            report.errors.append(f"list database: {type(exc).__name__}: {exc}")
            return report
        for job in self.jobs:
            if self._last.get(job.out) == version and job.out.exists():
                report.skipped += 1
                continue
            try:
                done = export(self.cache, job)
            except (OSError, ExportError, SQLAlchemyError) as exc:
                report.errors.append(f"{job.out}: {type(exc).__name__}: {exc}")
                continue
            self._last[job.out] = done.version
            report.written.append(done)
        return report

    def run(self, stop: threading.Event) -> None:
        """Passes until `stop` is set; each pass's outcome goes to `log`."""
        while not stop.is_set():
            t0 = time.monotonic()
            report = self.run_once()
            for w in report.written:
                self.log(w.line())
            for e in report.errors:
                self.log(f"error: {e}")
            stop.wait(max(0.0, self.every - (time.monotonic() - t0)))

    def start(self) -> None:
        """Run in a daemon thread (for a service's lifespan: `start()` … `stop()`)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self.run, args=(self._stop,),
                                            name="export-scheduler", daemon=True)  # fmt: skip
            self._thread.start()

    def stop(self, timeout: float | None = 30.0) -> None:
        """Stop after the current pass (a write in progress completes)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
