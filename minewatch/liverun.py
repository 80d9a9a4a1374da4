"""Glue shared by the long-running commands (`collect`, `capture`): sinks, store, metrics."""

from __future__ import annotations

import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from detector.engine import Sink
from detector.memory import OnLearn
from minewatch.metrics import Metrics, Probe, Sample, parse_hostport
from minewatch.output import HitPrinter
from minewatch.sinks import hit_sinks

if TYPE_CHECKING:
    from pipelines.capture_stats import CaptureStats
    from pipelines.exporters.base import EventTarget


@dataclass(slots=True)
class LiveSinks:
    sink: Sink  # print + store each hit
    commit: Callable[[], None]  # write buffered hits to the store now
    on_learn: OnLearn | None  # persist learned pool addresses (None without a store)
    printer: HitPrinter
    targets: list[EventTarget]  # event targets (webhooks, syslog), for their metrics


@contextmanager
def live_sinks(fmt: str, db_url: str | None, *, store: bool, quiet: bool) -> Iterator[LiveSinks]:
    """Printer and store writer for hits that arrive over hours: the store is committed on every
    `commit()` (each report interval), not only at exit."""
    with ExitStack() as stack:
        printer = HitPrinter(fmt, sys.stdout)
        stack.callback(printer.close)
        out = stack.enter_context(hit_sinks([] if quiet else [printer], db_url, store=store))

        def commit() -> None:
            out.commit()
            sys.stdout.flush()

        yield LiveSinks(out.sink, commit, out.on_learn, printer, out.targets)


def serve_metrics(metrics: Metrics, where: str | None) -> None:
    """Start the /metrics endpoint when `where` (HOST:PORT) is given."""
    if where:
        host, port = parse_hostport(where)
        metrics.serve(host, port)


class StopFlag:
    """Set from a signal handler, polled by the loop. Not a `threading.Event`: `Event.set` takes
    a lock, and a second signal arriving inside the first handler's `set` deadlocks on it."""

    def __init__(self) -> None:
        self.flag = False

    def set(self) -> None:
        self.flag = True

    def is_set(self) -> bool:
        return self.flag


def stop_on_signals() -> StopFlag:
    """A flag set by SIGTERM or SIGINT (service stop, Ctrl-C): the loop drains and flushes."""
    stop = StopFlag()

    def handler(signum: int, frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
    return stop


def capture_probe(latest: list[CaptureStats]) -> Probe:
    """Metrics of a live capture from its latest stats (per worker: bounded by --workers)."""

    def probe() -> Iterator[Sample]:
        if not latest:
            return
        st = latest[0]
        for w, ws in sorted(st.workers.items()):
            lab = {"worker": str(w)}
            r = ws.ring
            yield Sample("capture_packets", "Packets by state", r.kernel_packets,
                         {**lab, "state": "received"})  # fmt: skip
            yield Sample("capture_packets", "Packets by state", ws.packets,
                         {**lab, "state": "decoded"})  # fmt: skip
            yield Sample("capture_dropped", "Packets dropped", r.kernel_drops,
                         {**lab, "where": "kernel"})  # fmt: skip
            yield Sample("capture_dropped", "Packets dropped", r.blocks_bad,
                         {**lab, "where": "app-bad-block"})  # fmt: skip
            yield Sample("capture_ring_full", "Times the kernel found the ring full",
                         r.kernel_freezes, lab)  # fmt: skip
        for status, n in sorted(st.summary.status.items()):
            yield Sample("packets_decoded", "Packets by decode status", n, {"status": status})
        for cls, n in sorted(st.summary.by_class.items()):
            yield Sample("hits", "Hits reported", n, {"class": cls})

    return probe
