"""`minewatch scan --workers N`: one parent reading captures, N worker processes detecting.

```
parent: file ──chunks──▶ walker ──▶ decoder ──▶ shard per packet ──▶ shared-memory ring slot
                                                                        │ ("chunk", slot, now)
workers 0..N-1: own packets of the chunk ──▶ FlowStage (flow table ▶ engine) ──▶ hits, learned
parent: hits ──▶ sinks (printer, store) · learned endpoints/pairs ──▶ the other workers
```

**Sharding.** The parent decodes each chunk (compiled, cheap) and gives every packet a shard:
a hash of its subscriber address (`pipelines.shard`), so one subscriber's DNS lookups, pool
connections and later TLS flows meet in one worker, whose pair cache and per-flow state see them
together. Both directions of a flow have the same subscriber, so a flow never spans workers.

**Chunks.** The chunk bytes, records, decoded packets and shard column go once into a slot of a
small ring of `multiprocessing.shared_memory` buffers (`ring` slots, reused only after every
worker has released the chunk in it, so memory is bounded by `ring` chunks whatever the capture
size). Every worker sees every chunk and masks the packets of other shards, so it runs the very
same `FlowStage` as the in-process scan with the same batch times: flows appear, expire and are
decided on the same packets as with `--workers 1`.

**Files.** At the end of each capture the parent waits until every worker has finished all its
chunks, hands every worker the knowledge still in flight, then tells them to drain their flow
tables (flows do not span files) and waits for their hits before reading the next file.

**Shared knowledge and its guarantee.** Each worker's memories are its own (the pair cache of
its subscribers, the endpoints it learned from DNS answers for pool domains). New entries are
also sent to the parent with the chunk's results and forwarded to the other workers with their
next message; a worker applies them before it touches the next chunk. Exactly:

- within one worker, what it learns counts at once, exactly as in the single process;
- an entry learned by worker A while processing chunk *k* is known to every other worker before
  it processes chunk *k + ring* (the parent cannot refill chunk *k*'s slot before A's results for
  *k* are in), often earlier;
- before the end-of-file drain, every worker knows everything learned in that file and before,
  so evidence checked when flows end ("dns-learned", "pair-cache" on ended flows) is as complete
  as in the single process.

Evidence from memories is checked when a flow appears and again when it ends (judged at the
flow's own time, so it does not matter which flows a worker finishes together), and the check
at the end alone yields the same hit. So the hits can differ from `--workers 1` only for a flow
that ends in one shard inside that window (at most `ring` chunks) after another shard learned
the entry it needed: in practice a flow to a freshly resolved pool address that also ends, by
FIN/RST + 30 s or 300 s idle, within a few MiB of traffic. (Measured: the same hits and summary
on the samples, the real captures, and the benchmark corpora x10/x30.)

**Failures.** A worker that raises sends its traceback and exits; a worker that dies is seen
through its process sentinel. Either way the scan stops with `WorkerError` naming the worker
and the capture; the other workers are terminated and the shared memory is unlinked. Workers
ignore SIGINT: Ctrl-C reaches the parent, which shuts them down.

`FlowWorker` holds everything a worker does apart from the transport, so a live-capture worker
(one PACKET_FANOUT socket per process) can feed its own batches through the same class.
"""

from __future__ import annotations

import contextlib
import dataclasses
import multiprocessing as mp
import os
import queue
import secrets
import signal
import sys
import threading
import time
import traceback
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from multiprocessing import forkserver, shared_memory
from multiprocessing.connection import Connection, wait
from multiprocessing.context import ForkServerContext, SpawnContext
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any, Literal, NoReturn

import numpy as np
import numpy.typing as npt

from blacklist.allow import AllowIndex
from blacklist.matcher import Matcher
from detector.context import DetectContext, DetectStats
from detector.engine import Engine, Sink
from detector.hits import FlowHit
from detector.memory import Addr, LearnedEndpoints, OnLearn, PairCache, Remembered
from pipelines.batch import (
    PACKET_DTYPE,
    RECORD_DTYPE,
    ST_OK,
    U8,
    PacketBatch,
    Packets,
    Records,
    addr_text,
)
from pipelines.scan import FlowStage, Progress, ScanStats, count_hit, read_batches
from pipelines.shard import MAX_SHARDS, Sharder, Shards, shard_packets
from pipelines.sources.pcapfile import CHUNK_BYTES, CaptureError

ST_OTHER_SHARD = 255  # decode status given, in a worker's copy, to the packets of other shards
STALL_TIMEOUT = 600.0  # seconds without any result while waiting for one: a stuck worker
DEFAULT_RING = 4  # chunks in flight: slack between workers, and the knowledge delay bound
UID_SHIFT = 40  # worker w numbers its flows from (w << UID_SHIFT) + 1
_ALIGN = 64
_SHM_PREFIX = "minewatch"


class WorkerError(RuntimeError):
    """A scan worker failed or died: the scan is incomplete."""


StartMethod = Literal["forkserver", "spawn"]


def mp_context(start_method: StartMethod | None = None) -> ForkServerContext | SpawnContext:
    """Workers start from a fork server that has imported this module (fast, and no fork of a
    process that already runs numba code or threads), else by spawning a fresh interpreter."""
    if start_method is None:
        start_method = "forkserver" if "forkserver" in mp.get_all_start_methods() else "spawn"
    if start_method == "spawn":
        return mp.get_context("spawn")
    ctx = mp.get_context("forkserver")
    ctx.set_forkserver_preload([__name__])
    return ctx


def prestart(start_method: StartMethod | None = None) -> None:
    """Start the fork server now, so that its imports overlap with the caller's own start-up
    (building the block list); `ParallelScanner` would otherwise start it on first use."""
    if isinstance(mp_context(start_method), ForkServerContext):
        forkserver.ensure_running()


def default_workers() -> int:
    """CPUs this process may run on (`--workers 0`)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


# -- knowledge shared between workers ---------------------------------------------------------


@dataclass(slots=True)
class Knowledge:
    """Memory entries one worker learned that the others should have too."""

    learned: list[tuple[Addr, Remembered]] = field(default_factory=list)
    pairs: list[tuple[tuple[int, ...], Remembered]] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.learned or self.pairs)

    def extend(self, other: Knowledge) -> None:
        self.learned.extend(other.learned)
        self.pairs.extend(other.pairs)


class SharedLearned(LearnedEndpoints):
    """Learned endpoints that also note what they learn locally, to be forwarded (the latest
    entry per address since the outbox was last emptied)."""

    def __init__(self) -> None:
        super().__init__()
        self.outbox: dict[Addr, Remembered] = {}

    def learn(self, addr: Addr, now: float, ttl: float, why: str) -> None:
        super().learn(addr, now, ttl, why)
        self.outbox[addr] = self.items[addr]


class SharedPairs(PairCache):
    """The pair cache, noting locally confirmed pairs to be forwarded (latest per pair)."""

    def __init__(self) -> None:
        super().__init__()
        self.outbox: dict[tuple[int, ...], Remembered] = {}

    def remember(
        self, client: Addr, server: Addr, now: float, why: str, variant: str, origin: int
    ) -> None:
        super().remember(client, server, now, why, variant, origin)
        key = (*client, *server)
        self.outbox[key] = self.items[key]


# -- the worker side ----------------------------------------------------------------------------


class FlowWorker:
    """One shard's detection: an engine with its own context and memories, a flow stage per
    capture, the hits it produced and the knowledge it learned since they were last taken.

    Independent of how batches arrive: the parallel file scan feeds it from shared memory; a
    live-capture worker can feed it the batches of its own socket.
    """

    def __init__(self, matcher: Matcher, index: int = 0) -> None:
        self.index = index
        self.learned = SharedLearned()
        self.pairs = SharedPairs()
        self.ctx = DetectContext(
            matcher, pairs=self.pairs, learned=self.learned, allow=AllowIndex(matcher.entries)
        )
        self.hits: list[FlowHit] = []
        self.engine = Engine(self.ctx, self.hits.append)
        self.first_uid = (index << UID_SHIFT) + 1
        self.stage: FlowStage | None = None
        self.flows = 0  # new flows of the current capture

    def begin(self, source: str) -> None:
        """Start a capture (a file, or a live stream's name)."""
        self.stage = FlowStage(self.engine, source, self.first_uid)
        self.flows = 0

    def feed(self, batch: PacketBatch, now: float) -> None:
        if self.stage is None:
            raise RuntimeError("FlowWorker.feed before begin")
        self.flows += self.stage.feed(batch, now)

    def expire(self, now: float) -> None:
        """End the flows idle at `now` (wall clock on a quiet live link)."""
        if self.stage is not None:
            self.stage.expire(now)

    def end(self) -> None:
        """End the capture: every flow still open is decided now."""
        if self.stage is not None:
            self.stage.drain()
            self.first_uid = self.stage.table.next_uid  # uids stay unique across captures
            self.stage = None

    def absorb(self, knowledge: Knowledge | None) -> None:
        """Take in what other workers learned (not forwarded again)."""
        if not knowledge:
            return
        for addr, item in knowledge.learned:
            self.learned.put(addr, item)
        for key, item in knowledge.pairs:
            self.pairs.put(key, item)

    def take_hits(self) -> list[FlowHit]:
        hits, self.hits[:] = list(self.hits), []
        return hits

    def take_knowledge(self) -> Knowledge | None:
        if not (self.learned.outbox or self.pairs.outbox):
            return None
        out = Knowledge(list(self.learned.outbox.items()), list(self.pairs.outbox.items()))
        self.learned.outbox.clear()
        self.pairs.outbox.clear()
        return out


@dataclass(frozen=True, slots=True)
class Layout:
    """Where one chunk lies in its shared-memory slot."""

    n: int  # packets
    buf_len: int
    rec_off: int
    pk_off: int
    shard_off: int

    @staticmethod
    def plan(n: int, buf_len: int) -> tuple[Layout, int]:
        def up(x: int) -> int:
            return -(-x // _ALIGN) * _ALIGN

        rec_off = up(buf_len)
        pk_off = up(rec_off + n * RECORD_DTYPE.itemsize)
        shard_off = up(pk_off + n * PACKET_DTYPE.itemsize)
        return Layout(n, buf_len, rec_off, pk_off, shard_off), shard_off + 2 * n

    def views(self, mem: U8) -> tuple[U8, Records, Packets, Shards]:
        n = self.n
        buf = mem[: self.buf_len]
        rec = mem[self.rec_off : self.rec_off + n * RECORD_DTYPE.itemsize].view(RECORD_DTYPE)
        pk = mem[self.pk_off : self.pk_off + n * PACKET_DTYPE.itemsize].view(PACKET_DTYPE)
        shard = mem[self.shard_off : self.shard_off + 2 * n].view(np.int16)
        return buf, rec, pk, shard


class _Attached:
    """A worker's mapping of the ring slots (re-attached when the parent replaces a slot)."""

    def __init__(self) -> None:
        self.slots: dict[int, tuple[str, shared_memory.SharedMemory, npt.NDArray[np.uint8]]] = {}

    def mem(self, index: int, name: str) -> npt.NDArray[np.uint8]:
        have = self.slots.get(index)
        if have is not None and have[0] == name:
            return have[2]
        if have is not None:
            self._close(index)
        shm = shared_memory.SharedMemory(name=name)
        mem: npt.NDArray[np.uint8] = np.ndarray((shm.size,), dtype=np.uint8, buffer=shm.buf)
        self.slots[index] = (name, shm, mem)
        return mem

    def _close(self, index: int) -> None:
        _name, shm, mem = self.slots.pop(index)
        del mem
        with contextlib.suppress(BufferError):  # a view still alive: the mapping goes at exit
            shm.close()

    def close(self) -> None:
        for index in list(self.slots):
            self._close(index)


class Outbox:
    """Sends from a thread, so the worker never blocks on a full pipe while the parent may be
    blocked sending to it."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.queue: queue.SimpleQueue[tuple[Any, ...] | None] = queue.SimpleQueue()
        self.thread = threading.Thread(target=self._run, name="minewatch-outbox", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while (msg := self.queue.get()) is not None:
            try:
                self.conn.send(msg)
            except OSError:  # the parent is gone
                return
            except Exception:  # e.g. a hit that does not pickle: report it, then die loudly
                with contextlib.suppress(Exception):
                    self.conn.send(("error", traceback.format_exc()))
                os._exit(1)

    def send(self, msg: tuple[Any, ...]) -> None:
        self.queue.put(msg)

    def close(self) -> None:
        self.queue.put(None)
        self.thread.join(timeout=30)


def warm_up(matcher: Matcher) -> None:
    """Run one made-up packet through a throw-away worker: the compiled kernels load now (while
    the parent reads its first chunk) instead of on the first real chunk."""
    pk = np.zeros(1, dtype=PACKET_DTYPE)
    pk["status"], pk["family"], pk["proto"], pk["tcp_flags"] = ST_OK, 4, 6, 0x02
    pk["src_lo"], pk["dst_lo"], pk["sport"], pk["dport"] = 0xFFFF_0A00_0001, 0xFFFF_0A00_0002, 1, 2
    worker = FlowWorker(matcher)
    worker.begin("warm-up")
    worker.feed(PacketBatch(np.zeros(64, dtype=np.uint8), np.zeros(1, RECORD_DTYPE), pk), 0.0)
    worker.end()


def worker_main(index: int, matcher: Matcher, inbox: Connection, outbox_conn: Connection) -> None:
    """Entry point of a scan worker process (messages in `ParallelScanner`)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and stops us
    out = Outbox(outbox_conn)
    slots = _Attached()
    code = 0
    try:
        warm_up(matcher)
        worker = FlowWorker(matcher, index)
        while True:
            try:
                msg = inbox.recv()
            except EOFError:  # the parent is gone: nothing left to report to
                break
            kind = msg[0]
            if kind == "chunk":
                _, seq, slot, name, layout, now, knowledge = msg
                worker.absorb(knowledge)
                buf, rec, shared_pk, shard = layout.views(slots.mem(slot, name))
                pk = shared_pk.copy()
                pk["status"][shard != index] = ST_OTHER_SHARD
                worker.feed(PacketBatch(buf, rec, pk), now)
                del buf, rec, shared_pk, shard
                out.send(("done", seq, worker.take_hits(), worker.take_knowledge()))
            elif kind == "file":
                worker.begin(msg[1])
            elif kind == "end":
                worker.absorb(msg[1])
                worker.end()
                out.send(("ended", worker.take_hits(), worker.flows, worker.take_knowledge()))
            elif kind == "matcher":  # the allowlist index comes with its list
                worker.ctx.swap_matcher(msg[1], AllowIndex(msg[1].entries))
            elif kind == "stop":
                out.send(("stats", worker.ctx.stats))
                break
            else:
                raise ValueError(f"unknown message {kind!r}")
    except BaseException:
        out.send(("error", traceback.format_exc()))
        code = 1
    finally:
        out.close()
        slots.close()
    if code:
        sys.exit(code)


# -- the parent side ----------------------------------------------------------------------------


class _Slot:
    """One shared-memory buffer of the ring; `refs` workers still read the chunk in it."""

    def __init__(self, index: int, size: int) -> None:
        self.index = index
        self.refs = 0
        self.shm = shared_memory.SharedMemory(
            name=f"{_SHM_PREFIX}_{os.getpid()}_{secrets.token_hex(4)}_{index}",
            create=True, size=size,
        )  # fmt: skip
        self.mem: npt.NDArray[np.uint8] = np.ndarray((size,), dtype=np.uint8, buffer=self.shm.buf)
        self.closed = False

    @property
    def name(self) -> str:
        return self.shm.name

    @property
    def size(self) -> int:
        return len(self.mem)

    def write(self, batch: PacketBatch, shard: npt.NDArray[np.int16]) -> Layout:
        n = len(batch.packets)
        rec = batch.records
        buf_len = int((rec["off"] + rec["caplen"]).max()) if n else 0
        layout, _ = Layout.plan(n, buf_len)
        mem = self.mem
        mem[:buf_len] = batch.buf[:buf_len]
        cols = ((layout.rec_off, rec), (layout.pk_off, batch.packets), (layout.shard_off, shard))
        for off, col in cols:
            raw = np.ascontiguousarray(col).view(np.uint8)  # as bytes: 3x faster than by field
            mem[off : off + len(raw)] = raw
        return layout

    def close(self) -> None:
        """Unmap and unlink (idempotent)."""
        if self.closed:
            return
        self.closed = True
        self.mem = np.zeros(0, dtype=np.uint8)  # drop our view of the mapping
        with contextlib.suppress(BufferError):
            self.shm.close()
        with contextlib.suppress(FileNotFoundError):
            self.shm.unlink()


@dataclass(eq=False)
class _Worker:
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


def merge_detect_stats(into: DetectStats, other: DetectStats) -> None:
    for f in dataclasses.fields(DetectStats):
        value = getattr(other, f.name)
        if isinstance(value, Counter):
            getattr(into, f.name).update(value)
        else:
            setattr(into, f.name, getattr(into, f.name) + value)


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
        self._slots: list[_Slot] = []
        self._next_slot = 0
        self._inflight: dict[int, _Slot] = {}
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
        for slot in self._slots:
            slot.close()
        self._slots.clear()
        self._inflight.clear()

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
        slot.refs = self.n
        self._inflight[seq] = slot
        for w in self._workers:
            self._send(w, ("chunk", seq, slot.index, slot.name, layout, now, w.take_pending()))
        self._pump(block=False)

    def _free_slot(self, batch: PacketBatch) -> _Slot:
        n = len(batch.packets)
        rec = batch.records
        buf_len = int((rec["off"] + rec["caplen"]).max()) if n else 0
        _, need = Layout.plan(n, buf_len)
        while True:
            for k in range(len(self._slots)):
                slot = self._slots[(self._next_slot + k) % len(self._slots)]
                if slot.refs == 0:
                    self._next_slot = (slot.index + 1) % self.ring
                    if slot.size < need:  # a chunk larger than any before: replace the slot
                        slot.close()
                        slot = self._slots[slot.index] = _Slot(slot.index, need + need // 2)
                    return slot
            if len(self._slots) < self.ring:
                slot = _Slot(len(self._slots), max(need, self.chunk_bytes * 3 // 2))
                self._slots.append(slot)
                self._next_slot = len(self._slots) % self.ring
                return slot
            self._pump(block=True)

    def _end_file(self) -> None:
        while self._inflight:
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
            slot = self._inflight[seq]
            slot.refs -= 1
            if slot.refs == 0:
                del self._inflight[seq]
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
        code = w.process.exitcode
        if code is None:
            how = "stopped answering"
        elif code < 0:
            try:
                how = f"was killed by {signal.Signals(-code).name}"
            except ValueError:
                how = f"was killed by signal {-code}"
        else:
            how = f"exited with status {code}"
        raise WorkerError(
            f"scan worker {w.index} (pid {w.process.pid}) {how} while scanning {self._current}; "
            "the scan is incomplete"
        )
