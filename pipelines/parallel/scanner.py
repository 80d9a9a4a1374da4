"""The parent side of `minewatch scan --workers N`: reads captures, deals chunks, collects hits.

**Sharding.** The parent decodes each chunk (compiled, cheap) and gives every packet a shard:
a hash of its subscriber address (`pipelines.shard`), so one subscriber's DNS lookups, pool
connections and later TLS flows meet in one worker, whose pair cache and per-flow state see them
together. Both directions of a flow have the same subscriber, so a flow never spans workers.

**Files.** At the end of each capture the parent waits until every worker has finished all its
chunks, hands every worker the knowledge still in flight, then tells them to drain their flow
tables (flows do not span files) and waits for their hits before reading the next file.

**Failures.** A worker that raises sends its traceback and exits; a worker that dies is seen
through its process sentinel. Either way the scan stops with `WorkerError` naming the worker
and the capture; the other workers are terminated and the shared memory is unlinked.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any, NoReturn

from blacklist.matcher import Matcher
from detector.context import DetectStats
from detector.engine import Sink
from detector.hits import FlowHit
from detector.memory import OnLearn
from pipelines.batch import PacketBatch, addr_text
from pipelines.parallel.knowledge import Knowledge, merge_detect_stats
from pipelines.parallel.procs import StartMethod, WorkerError, exit_reason, mp_context
from pipelines.parallel.ring import DEFAULT_RING, Ring, Slot, slot_size
from pipelines.parallel.worker import worker_main
from pipelines.scan import Progress, ScanStats, count_hit, read_batches
from pipelines.shard import MAX_SHARDS, Sharder, shard_packets
from pipelines.sources.pcapfile import CHUNK_BYTES, CaptureError

STALL_TIMEOUT = 600.0  # seconds without any result while waiting for one: a stuck worker


@dataclass(eq=False)
class _Worker:
    """The parent's end of one worker process, and the knowledge waiting to be sent to it."""

    index: int
    process: BaseProcess
    inbox: Connection  # parent → worker
    results: Connection  # worker → parent
    pending: Knowledge = field(default_factory=Knowledge)
    stopped: bool = False  # sent its final stats (its exit is expected)

    def take_pending(self) -> Knowledge | None:
        if not self.pending:
            return None
        k, self.pending = self.pending, Knowledge()
        return k


class ParallelScanner:
    """Scans files with `workers` detection processes; same interface as `Scanner`.

    One `scan` per instance (workers and their memories end with it). Use it as a context
    manager or call `close`: workers and shared memory are released there whatever happened.
    `sharder` decides the worker of each packet (default: subscriber address hash); `ring`
    bounds the chunks in flight; `stall_timeout` turns a worker that stops answering into a
    `WorkerError` instead of a hang. `swap_matcher` may be called between files or from the
    progress callback (the scanning thread).
    """

    def __init__(
        self, matcher: Matcher, sink: Sink, progress: Progress | None = None, *,
        workers: int = 2, ring: int | None = None, chunk_bytes: int = CHUNK_BYTES,
        sharder: Sharder = shard_packets,
        start_method: StartMethod | None = None,
        stall_timeout: float | None = STALL_TIMEOUT,
        on_learn: OnLearn | None = None,
    ) -> None:  # fmt: skip
        self.on_learn = on_learn
        if not 1 <= workers <= MAX_SHARDS:
            raise ValueError(f"workers must be in 1..{MAX_SHARDS}, not {workers}")
        self.matcher = matcher
        self.stats = ScanStats()
        self.detect_stats = DetectStats()
        self.n = workers
        self.ring = ring if ring is not None else DEFAULT_RING
        if self.ring < 1:
            raise ValueError("ring must hold at least one chunk")
        self.chunk_bytes = chunk_bytes
        self.sharder = sharder
        self.stall_timeout = stall_timeout
        self.progress = progress
        self._sink = sink
        self._mp = mp_context(start_method)
        self._workers: list[_Worker] = []
        self._ring = Ring(self.ring, chunk_bytes)
        self._seq = 0
        self._ended = 0
        self._failed = False
        self._scanned = False
        self._current = "(start-up)"

    # -- lifecycle ------------------------------------------------------------------------

    def __enter__(self) -> ParallelScanner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def worker_pids(self) -> list[int]:
        return [w.process.pid for w in self._workers if w.process.pid is not None]

    def start(self) -> None:
        """Start the workers (also done by `scan`); they load while the parent reads."""
        if self._workers:
            return
        for i in range(self.n):
            inbox_r, inbox_w = self._mp.Pipe(duplex=False)
            res_r, res_w = self._mp.Pipe(duplex=False)
            proc = self._mp.Process(
                target=worker_main, args=(i, self.matcher, inbox_r, res_w),
                name=f"minewatch-worker-{i}", daemon=True,
            )  # fmt: skip
            try:
                proc.start()
            except Exception as exc:  # e.g. the child died while being prepared (EPIPE)
                for conn in (inbox_r, inbox_w, res_r, res_w):
                    conn.close()
                self._failed = True
                raise WorkerError(f"scan worker {i} could not be started: {exc!r}") from exc
            finally:
                inbox_r.close()  # the worker's ends: a dead worker means EOF/EPIPE, not a hang
                res_w.close()
            self._workers.append(_Worker(i, proc, inbox_w, res_r))

    def close(self) -> None:
        """Stop the workers (terminate if still running), unlink the shared memory."""
        for w in self._workers:
            if w.process.is_alive() and w.process.pid is not None:
                w.process.terminate()
                with contextlib.suppress(OSError):  # a stopped (SIGSTOP) worker must see it too
                    os.kill(w.process.pid, signal.SIGCONT)
        deadline = time.monotonic() + 5
        for w in self._workers:
            w.process.join(max(0.0, deadline - time.monotonic()))
            if w.process.is_alive():
                w.process.kill()
                w.process.join()
            w.inbox.close()
            w.results.close()
        self._workers.clear()
        self._ring.close()

    def swap_matcher(self, matcher: Matcher) -> None:
        """Install a newer block list in every worker (each applies it before its next chunk)."""
        self.matcher = matcher
        for w in self._workers:
            self._send(w, ("matcher", matcher))

    # -- scanning ------------------------------------------------------------------------

    def scan(self, paths: Iterable[str | Path]) -> ScanStats:
        if self._scanned:
            raise RuntimeError("a ParallelScanner scans once; make a new one")
        self._scanned = True
        start = time.perf_counter()
        try:
            self.start()
            for path in paths:
                try:
                    self.scan_file(Path(path))
                except (CaptureError, OSError) as exc:
                    if self._failed:  # not the file's fault
                        raise
                    if isinstance(exc, CaptureError):
                        self.stats.errors.append(str(exc))
                    else:
                        self.stats.errors.append(f"{path}: {exc.strerror or exc}")
            self._stop()
        finally:
            self.close()
        self.stats.seconds = time.perf_counter() - start
        return self.stats

    def scan_file(self, path: Path) -> None:
        self._current = str(path)
        self._broadcast(("file", path.name))
        batches = read_batches(path, self.stats, self.progress, self.chunk_bytes)
        try:
            for batch, now in batches:
                try:
                    self._dispatch(batch, now)
                except BaseException:
                    self._failed = True  # the ring's accounting may be off: no orderly end
                    raise
        finally:
            batches.close()
            if not self._failed:  # also after a read error: the file's flows still end
                self._end_file()

    def _dispatch(self, batch: PacketBatch, now: float) -> None:
        shard = self.sharder(batch.packets, self.n)
        slot = self._free_slot(batch)
        layout = slot.write(batch, shard)
        seq = self._seq
        self._seq += 1
        self._ring.sent(seq, slot, self.n)
        for w in self._workers:
            self._send(w, ("chunk", seq, slot.index, slot.name, layout, now, w.take_pending()))
        self._pump(block=False)

    def _free_slot(self, batch: PacketBatch) -> Slot:
        need = slot_size(batch)
        while (slot := self._ring.free_slot(need)) is None:
            self._pump(block=True)
        return slot

    def _end_file(self) -> None:
        while self._ring.inflight:
            self._pump(block=True)
        self._ended = 0
        for w in self._workers:
            self._send(w, ("end", w.take_pending()))
        while self._ended < len(self._workers):
            self._pump(block=True)

    def _stop(self) -> None:
        for w in self._workers:
            self._send(w, ("stop",))
        while not all(w.stopped for w in self._workers):
            self._pump(block=True)
        for w in self._workers:
            w.process.join(10)

    # -- messages --------------------------------------------------------------------------

    def _broadcast(self, msg: tuple[Any, ...]) -> None:
        for w in self._workers:
            self._send(w, msg)

    def _send(self, w: _Worker, msg: tuple[Any, ...]) -> None:
        try:
            w.inbox.send(msg)
        except OSError:  # EPIPE: it is gone; its last words (an error report) first, then how
            w.process.join(1)
            while self._receive(w):
                pass
            self._lost(w)

    def _pump(self, block: bool) -> None:
        """Handle what the workers sent; with `block`, wait until something arrives."""
        try:
            live = [w for w in self._workers if not w.stopped]
            by_obj: dict[object, _Worker] = {w.results: w for w in live}
            sentinels: dict[object, _Worker] = {w.process.sentinel: w for w in live}
            by_obj.update(sentinels)
            waitables: list[Connection | int] = [w.results for w in live]
            waitables += [w.process.sentinel for w in live]
            ready = wait(waitables, timeout=self.stall_timeout if block else 0)
            if block and not ready:
                pids = ", ".join(str(w.process.pid) for w in live)
                raise WorkerError(
                    f"scan workers (pids {pids}) sent nothing for {self.stall_timeout:.0f} s "
                    f"while scanning {self._current}; stopping them"
                )
            for obj in ready:
                w = by_obj[obj]
                if obj not in sentinels:
                    self._receive(w)
                    continue
                while not w.stopped and self._receive(w):  # its last words first (an error)
                    pass
                if not w.stopped:
                    self._lost(w)
        except BaseException:
            self._failed = True
            raise

    def _receive(self, w: _Worker) -> bool:
        """Handle one message of `w` if there is one; False when there is none (or EOF)."""
        try:
            if not w.results.poll():
                return False
            msg = w.results.recv()
        except (EOFError, OSError):
            self._lost(w)
        self._handle(w, msg)
        return True

    def _handle(self, w: _Worker, msg: tuple[Any, ...]) -> None:
        kind = msg[0]
        if kind == "done":
            _, seq, hits, knowledge = msg
            self._hits(hits)
            self._share(w, knowledge)
            self._ring.release(seq)
        elif kind == "ended":
            _, hits, flows, knowledge = msg
            self._hits(hits)
            self._share(w, knowledge)
            self.stats.flows += flows
            self._ended += 1
        elif kind == "stats":
            merge_detect_stats(self.detect_stats, msg[1])
            w.stopped = True
        elif kind == "error":
            self._failed = True
            raise WorkerError(
                f"scan worker {w.index} (pid {w.process.pid}) failed while scanning "
                f"{self._current}; the scan is incomplete:\n{msg[1].rstrip()}"
            )
        else:
            raise WorkerError(f"scan worker {w.index} sent an unknown message {kind!r}")

    def _hits(self, hits: list[FlowHit]) -> None:
        for hit in hits:
            count_hit(self.stats, hit)
            self._sink(hit)

    def _share(self, source: _Worker, knowledge: Knowledge | None) -> None:
        if knowledge and self.on_learn is not None:
            for addr, item in knowledge.learned:
                self.on_learn(addr_text(*addr), item.label())
            for key, item in knowledge.pairs:
                self.on_learn(addr_text(key[2], key[3]), item.label())
        if knowledge:
            for w in self._workers:
                if w is not source:
                    w.pending.extend(knowledge)

    def _lost(self, w: _Worker) -> NoReturn:
        self._failed = True
        w.process.join(1)
        raise WorkerError(
            f"scan worker {w.index} (pid {w.process.pid}) {exit_reason(w.process)} while "
            f"scanning {self._current}; the scan is incomplete"
        )
