"""`minewatch capture`: live detection on a mirror port with N worker processes.

```
NIC ──▶ kernel PACKET_FANOUT group (symmetric flow hash) ──▶ worker 0..N-1: own TPACKET_V3 ring
         ──▶ compiled block walk ──▶ decoder ──▶ FlowStage (flow table ▶ engine) ──▶ hits
parent: hits ──▶ sink (printer, store) · learned endpoints/pairs ──▶ the other workers
```

Each worker (`pipelines.capture_worker`) runs the very same decoder and `FlowWorker`/`FlowStage`
as `minewatch scan --workers N`; only the source differs. The kernel keeps a flow in one worker;
what one worker learns (pool addresses from DNS answers, confirmed miner–pool pairs) is
forwarded to the others through the parent, as in the parallel scan, because one subscriber's
DNS lookup and pool connection are different flows and may land in different workers.

**Start.** Workers open their rings blocked (a drop-everything filter), join the fanout group,
and report ready; only when all have joined does the parent let packets in, so the group's
membership, and with it every flow's worker, is fixed before the first packet is captured.

**Time.** Flows end on packet time (the kernel's receive timestamps) and, when a worker's link
goes quiet, on the wall clock (`capture_worker.TICK`): an idle flow is decided within about a
second of its idle timeout either way.

**Stop.** On `stop()`, SIGTERM or SIGINT (a second SIGINT aborts without the flush; repeated
SIGTERMs do not, since wrappers like `timeout` forward theirs on top of the group's): every
worker lets nothing new in and processes what its ring still holds; then the parent forwards
all knowledge still in flight, every worker ends its flows (`FlowStage.drain`), and the last
hits reach the sink before `run` returns. Workers ignore the signals themselves, so a signal to
the whole process group (Ctrl-C, systemd) still stops them in this order.

**Failures.** A worker that cannot open its ring stops the start with `RingError`; a worker that
dies while capturing stops the others in order and then raises `WorkerError`.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from types import FrameType
from typing import Any

from blacklist.matcher import Matcher
from detector.engine import Sink
from detector.hits import FlowHit, iso
from detector.memory import OnLearn
from pipelines.batch import addr_text
from pipelines.capture_stats import CaptureStats, WorkerStats
from pipelines.capture_worker import WorkerSpec, capture_worker_main
from pipelines.parallel import Knowledge, StartMethod, WorkerError, merge_detect_stats, mp_context
from pipelines.scan import count_hit
from pipelines.sources.afpacket import RingConfig, RingError, iface_linktype
from pipelines.sources.bpf import compile_filter

MAX_WORKERS = 256  # PACKET_FANOUT_MAX: members of one fanout group
READY_TIMEOUT = 120.0  # seconds for the workers to load and open their rings
STOP_TIMEOUT = 120.0  # seconds for the workers to finish their rings and drain their flows


@dataclass(eq=False)
class _Worker:
    index: int
    process: BaseProcess
    inbox: Connection
    results: Connection
    ready: bool = False
    started: bool = False
    stopped: bool = False
    final: bool = False
    gone: bool = False


class LiveCapture:
    """Capture on `iface` with `workers` processes; hits go to `sink` in this process.

    Construction is inert: `run` starts the workers, blocks until stopped and returns the
    counters. `stop()` (or setting the `stop` event) and `swap_matcher` may be called from
    other threads. `on_stats` gets the counters every `stats_interval` seconds (for metrics, and
    e.g. to flush a buffered store), `on_ready` is called once every worker captures,
    `on_learn` as in `scan`. A sink that raises aborts the capture (workers are killed, the
    flows still open are lost): sinks should handle their own transient failures.
    """

    def __init__(
        self, iface: str, matcher: Matcher, sink: Sink, *, workers: int = 1,
        bpf: str | None = None, ring: RingConfig | None = None, source: str | None = None,
        on_learn: OnLearn | None = None, on_stats: Callable[[CaptureStats], None] | None = None,
        on_ready: Callable[[], None] | None = None, stats_interval: float = 1.0,
        start_method: StartMethod | None = None, stop: threading.Event | None = None,
    ) -> None:  # fmt: skip
        if not 1 <= workers <= MAX_WORKERS:
            raise ValueError(f"workers must be in 1..{MAX_WORKERS}, not {workers}")
        self.iface = iface
        self.matcher = matcher
        self.sink = sink
        self.n = workers
        self.bpf = bpf
        self.ring = ring or RingConfig()
        self.ring.check()
        self.source = source or iface
        self.on_learn = on_learn
        self.on_stats = on_stats
        self.on_ready = on_ready
        self.stats_interval = stats_interval
        self.stats = CaptureStats(iface)
        self.start_method = start_method
        self._stop = stop if stop is not None else threading.Event()
        self._new_matcher: Matcher | None = None
        self._workers: list[_Worker] = []
        self._interrupts = 0

    # -- control from other threads -----------------------------------------------------

    def stop(self) -> None:
        """Ask for an orderly stop (the flush still happens)."""
        self._stop.set()

    def swap_matcher(self, matcher: Matcher) -> None:
        """Install a newer block list in every worker (each applies it before its next batch)."""
        self._new_matcher = matcher

    # -- the run ------------------------------------------------------------------------

    def run(self, *, handle_signals: bool = True) -> CaptureStats:
        """Capture until `stop()` (or SIGTERM/SIGINT when `handle_signals` and this is the main
        thread); returns the counters. Raises `RingError` when a ring cannot be set up and
        `WorkerError` when a worker died (after the others stopped in order)."""
        linktype = iface_linktype(self.iface)
        insns = compile_filter(self.bpf, linktype) if self.bpf else None
        restore = self._install_signals() if handle_signals else {}
        start = time.monotonic()
        try:
            self._start(insns)
            for w in self._workers:
                self._send(w, ("start",))
            self._await(lambda w: w.started, "letting packets in")
            if self.on_ready is not None:
                self.on_ready()
            self._capture()
            self._shutdown()
        finally:
            for signum, handler in restore.items():
                signal.signal(signum, handler)
            self._close()
            self.stats.seconds = time.monotonic() - start
            self.stats.refresh_summary()
        if self.stats.errors:
            raise WorkerError("; ".join(self.stats.errors))
        return self.stats

    def _start(self, insns: Any) -> None:
        mp = mp_context(self.start_method)
        group = os.getpid() & 0xFFFF
        for i in range(self.n):
            spec = WorkerSpec(
                i, self.iface, self.source, self.ring, group, insns, self.matcher,
                self.stats_interval,
            )  # fmt: skip
            inbox_r, inbox_w = mp.Pipe(duplex=False)
            res_r, res_w = mp.Pipe(duplex=False)
            proc = mp.Process(
                target=capture_worker_main, args=(spec, inbox_r, res_w),
                name=f"minewatch-capture-{i}", daemon=True,
            )  # fmt: skip
            try:
                proc.start()
            finally:
                inbox_r.close()
                res_w.close()
            self._workers.append(_Worker(i, proc, inbox_w, res_r))
            self.stats.workers[i] = WorkerStats(i, proc.pid or 0)
        self._await(lambda w: w.ready, "ready")

    def _await(self, done: Callable[[_Worker], bool], what: str) -> None:
        """Wait for every worker during the start; any failure ends the start."""
        deadline = time.monotonic() + READY_TIMEOUT
        while not all(done(w) for w in self._workers):
            if self.stats.errors:
                raise RingError(self.stats.errors[0])
            if time.monotonic() > deadline:
                raise RingError(f"capture workers not {what} after {READY_TIMEOUT:.0f} s")
            self._pump(0.2)

    def _capture(self) -> None:
        started = time.monotonic()
        next_stats = time.monotonic() + self.stats_interval
        while not self._stop.is_set() and not self.stats.errors:
            # wake up for the next report even if no message comes: a report due just after
            # the last message (a worker's final counters) used to wait for the one after it
            self._pump(min(0.2, max(0.0, next_stats - time.monotonic())))
            matcher, self._new_matcher = self._new_matcher, None
            if matcher is not None:
                self.matcher = matcher
                for w in self._live():
                    self._send(w, ("matcher", matcher))
            if time.monotonic() >= next_stats:
                next_stats = time.monotonic() + self.stats_interval
                self.stats.seconds = time.monotonic() - started
                self.stats.refresh_summary()
                if self.on_stats is not None:
                    self.on_stats(self.stats)

    def _shutdown(self) -> None:
        """Stop intake, wait until every ring is processed, share the last knowledge, drain."""
        for w in self._live():
            self._send(w, ("stop",))
        self._wait(lambda w: w.stopped, "finishing their rings")
        for w in self._live():
            self._send(w, ("end", None))
        self._wait(lambda w: w.final, "draining their flows")

    def _wait(self, done: Callable[[_Worker], bool], what: str) -> None:
        deadline = time.monotonic() + STOP_TIMEOUT
        while not all(done(w) for w in self._live()):
            if time.monotonic() > deadline:
                self.stats.errors.append(f"capture workers stuck {what}; killed")
                return
            self._pump(0.2)

    def _live(self) -> list[_Worker]:
        return [w for w in self._workers if not w.gone]

    # -- messages ------------------------------------------------------------------------

    def _send(self, w: _Worker, msg: tuple[Any, ...]) -> None:
        try:
            w.inbox.send(msg)
        except OSError:  # it is gone; its sentinel says how
            self._lost(w)

    def _pump(self, timeout: float) -> None:
        live = self._live()
        conns: dict[object, _Worker] = {w.results: w for w in live}
        sentinels: dict[object, _Worker] = {w.process.sentinel: w for w in live}
        waitables: list[Connection | int] = [w.results for w in live]
        waitables += [w.process.sentinel for w in live]
        for obj in wait(waitables, timeout):
            if obj in conns:
                self._receive(conns[obj])
                continue
            w = sentinels[obj]
            while not w.gone and w.results.poll():  # its last words first
                self._receive(w)
            if not w.final:
                self._lost(w)
            w.gone = True

    def _receive(self, w: _Worker) -> None:
        try:
            msg = w.results.recv()
        except (EOFError, OSError):
            self._lost(w)
            return
        kind = msg[0]
        if kind == "ready":
            w.ready = True
            self.stats.workers[w.index].pid = msg[2]
        elif kind == "started":
            w.started = True
        elif kind == "stats":
            self.stats.workers[w.index] = msg[2]
        elif kind in ("hits", "stopped", "final"):
            self._hits(w, msg[2], msg[3])
            if kind == "stopped":
                w.stopped = True
                self.stats.workers[w.index] = msg[4]
            elif kind == "final":
                w.final = w.stopped = True
                self.stats.workers[w.index] = msg[4]
                merge_detect_stats(self.stats.detect, msg[5])
        elif kind == "error":
            self.stats.errors.append(f"capture worker {w.index}: {msg[-1].rstrip()}")
            w.gone = True
        else:
            self.stats.errors.append(f"capture worker {w.index} sent {kind!r}")

    def _hits(self, source: _Worker, hits: list[FlowHit], knowledge: Knowledge | None) -> None:
        for hit in hits:
            count_hit(self.stats.summary, hit)
            self.sink(hit)
        if not knowledge:
            return
        if self.on_learn is not None:
            for addr, item in knowledge.learned:
                self.on_learn(addr_text(*addr), f"{item.why} at {iso(item.since)}")
            for key, item in knowledge.pairs:
                self.on_learn(addr_text(key[2], key[3]), f"{item.why} at {iso(item.since)}")
        for w in self._live():
            if w is not source and not w.final:  # a drained worker may have exited already
                self._send(w, ("knowledge", knowledge))

    def _lost(self, w: _Worker) -> None:
        if w.gone:
            return
        w.gone = True
        if w.final:  # it delivered everything and exited, as it should: nothing was lost
            return
        w.process.join(1)
        code = w.process.exitcode
        how = "stopped answering" if code is None else f"exited with status {code}"
        if code is not None and code < 0:
            how = f"was killed by {signal.Signals(-code).name}"
        self.stats.errors.append(f"capture worker {w.index} (pid {w.process.pid}) {how}")

    # -- signals and clean-up ----------------------------------------------------------------

    def _install_signals(self) -> dict[int, Any]:
        if threading.current_thread() is not threading.main_thread():
            return {}

        def on_signal(signum: int, frame: FrameType | None) -> None:
            self._stop.set()
            if signum == signal.SIGINT:
                self._interrupts += 1
                if self._interrupts > 1:
                    raise KeyboardInterrupt  # Ctrl-C twice: abort without the flush

        return {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}

    def _close(self) -> None:
        """Workers that are still running after an orderly stop (or an abort) are killed:
        they ignore SIGTERM by design."""
        deadline = time.monotonic() + 5
        for w in self._workers:
            w.process.join(max(0.0, deadline - time.monotonic()) if w.final else 0)
            if w.process.is_alive():
                w.process.kill()
                w.process.join()
            with contextlib.suppress(OSError):
                w.inbox.close()
                w.results.close()
        self._workers.clear()


def run_capture(
    iface: str, matcher: Matcher, sink: Sink, *, workers: int = 1, bpf: str | None = None,
    stop: threading.Event | None = None, handle_signals: bool = True, **options: Any,
) -> CaptureStats:  # fmt: skip
    """Capture on `iface` until `stop` is set (or SIGTERM/SIGINT); see `LiveCapture`.

    `options`: `ring` (`RingConfig`), `source`, `on_learn`, `on_stats`, `on_ready`,
    `stats_interval`, `start_method`.
    """
    cap = LiveCapture(iface, matcher, sink, workers=workers, bpf=bpf, stop=stop, **options)
    return cap.run(handle_signals=handle_signals)
