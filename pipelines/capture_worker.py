"""One live-capture worker process: its own TPACKET_V3 ring in the fanout group, its own
detection (`FlowWorker`, the same class the parallel file scan runs), hits to the parent.

Messages (tuples, first item the kind):

- parent → worker: `start` (let packets in), `knowledge` (what other workers learned),
  `matcher` (a newer block list), `stop` (no new packets; process the ring), `end` (knowledge
  still in flight; then end every flow).
- worker → parent: `ready` (ring open, in the group, blocked), `started` (packets come in),
  `hits` (hits and knowledge after a batch), `stats` (periodic `WorkerStats`), `stopped` (ring
  processed), `final` (flows drained; last hits, stats and detector counters), `error` (a
  traceback; the worker exits 1).

The worker ignores SIGINT and SIGTERM: the parent decides when to stop (Ctrl-C and service
managers signal the whole process group), so every worker stops the same orderly way.
"""

from __future__ import annotations

import os
import select
import signal
import sys
import time
import traceback
from dataclasses import dataclass, replace
from multiprocessing.connection import Connection
from typing import Any

import numpy as np

from blacklist.allow import AllowIndex
from blacklist.matcher import Matcher
from pipelines.batch import RECORD_DTYPE, STATUS_NAMES, PacketBatch
from pipelines.capture_stats import WorkerStats
from pipelines.decoders.packet import decode
from pipelines.gctune import tune_gc
from pipelines.parallel import FlowWorker, Outbox, warm_up
from pipelines.sources import afpacket_walk as aw
from pipelines.sources.afpacket import RingConfig, RingError, RxRing
from pipelines.sources.bpf import Insn

TICK = 1.0  # seconds without packets after which flows are expired on wall-clock time
STOP_DEADLINE = 10.0  # seconds a stopping worker may spend on what is left in its ring


@dataclass(frozen=True, slots=True)
class WorkerSpec:
    """What a worker needs to start (pickled into the process)."""

    index: int
    iface: str
    source: str
    ring: RingConfig
    fanout_group: int
    bpf: tuple[Insn, ...] | None
    matcher: Matcher
    stats_interval: float = 1.0


class _Loop:
    def __init__(self, spec: WorkerSpec, inbox: Connection, out: Outbox) -> None:
        self.spec = spec
        self.inbox = inbox
        self.out = out
        self.worker = FlowWorker(spec.matcher, spec.index)
        self.ring = RxRing(
            spec.iface, spec.ring, fanout_group=spec.fanout_group, bpf_insns=spec.bpf
        )
        self.stats = WorkerStats(spec.index, os.getpid(), self.ring.stats)
        self.status = np.zeros(len(STATUS_NAMES), dtype=np.int64)
        self.poller = select.poll()
        self.last_now = time.time()
        self.stopping = False
        self.ended = False

    # -- messages -------------------------------------------------------------------------

    def handle(self, msg: tuple[Any, ...]) -> None:
        kind = msg[0]
        if kind == "knowledge":
            self.worker.absorb(msg[1])
        elif kind == "matcher":
            self.worker.ctx.swap_matcher(msg[1], AllowIndex(msg[1].entries))
        elif kind == "stop":
            self.stopping = True
        elif kind == "end":
            self.worker.absorb(msg[1])
            self.ended = True
        elif kind != "start":
            raise ValueError(f"unknown message {kind!r}")

    def read_inbox(self, timeout: float = 0.0) -> bool:
        """Handle waiting messages; False when the parent is gone."""
        try:
            while self.inbox.poll(timeout):
                self.handle(self.inbox.recv())
                timeout = 0.0
        except EOFError:
            return False
        return True

    def wait_for(self, kind: str) -> bool:
        while True:
            try:
                msg = self.inbox.recv()
            except EOFError:
                return False
            self.handle(msg)
            if msg[0] == kind:
                return True

    # -- packets --------------------------------------------------------------------------

    def pump(self) -> int:
        """Feed the batches the kernel has handed over, at most about one ring's worth (the
        inbox and the counters get their turn between rounds); returns the packets fed."""
        total = 0
        cfg = self.spec.ring
        for _ in range(-(-cfg.block_nr // cfg.batch_blocks)):
            chunk = self.ring.take()
            if chunk is None:
                break
            try:
                if len(chunk.records):
                    packets = decode(chunk.buf, chunk.records)
                    self.status += np.bincount(packets["status"], minlength=len(self.status))
                    now = float(chunk.records["ts"].max())
                    self.worker.feed(PacketBatch(chunk.buf, chunk.records, packets), now)
                    self.last_now = max(self.last_now, now)
                    self.stats.batches += 1
                    total += len(packets)
            finally:
                del chunk
                self.ring.release()
            self.send_hits()
        self.stats.packets += total
        return total

    def tick(self) -> None:
        """No packets for a while: end the flows that idled out by the wall clock, and check
        that the interface still exists."""
        now = time.time()
        if now - self.last_now < TICK:
            return
        self.worker.expire(now)
        self.last_now = now
        self.stats.ticks += 1
        self.send_hits()
        if not self.ring.iface_exists():  # deleted: a down event came first, then silence
            raise RingError(f"{self.spec.iface}: the interface is gone")

    def send_hits(self, kind: str = "hits") -> None:
        """Hits and knowledge so far; `stopped` and `final` also carry the counters (and the
        detector's), and are sent even when empty."""
        hits = self.worker.take_hits()
        knowledge = self.worker.take_knowledge()
        self.stats.hits += len(hits)
        if kind == "hits":
            if hits or knowledge:
                self.out.send((kind, self.spec.index, hits, knowledge))
            return
        extra: tuple[Any, ...] = (self.snapshot(),)
        if kind == "final":
            extra += (self.worker.ctx.stats,)
        self.out.send((kind, self.spec.index, hits, knowledge, *extra))

    def snapshot(self) -> WorkerStats:
        self.ring.read_kernel_stats()
        self.stats.flows = self.worker.flows
        self.stats.status = {
            STATUS_NAMES[i]: int(c) for i, c in enumerate(self.status.tolist()) if c
        }
        return replace(self.stats, ring=replace(self.ring.stats), status=dict(self.stats.status))

    # -- phases ---------------------------------------------------------------------------

    def run(self) -> None:
        spec = self.spec
        warm_up(spec.matcher)
        _warm_ring()
        self.ring.open()
        self.worker.begin(spec.source)
        self.poller.register(self.ring.fileno(), select.POLLIN | select.POLLERR)
        self.poller.register(self.inbox.fileno(), select.POLLIN)
        self.out.send(("ready", spec.index, os.getpid()))
        if not self.wait_for("start"):
            return
        self.ring.start()
        self.out.send(("started", spec.index))
        self.last_now = time.time()
        next_stats = time.monotonic() + spec.stats_interval
        while not self.stopping:
            if not self.pump():
                self.tick()
                self.wait(min(spec.ring.retire_ms, 200))
            if not self.read_inbox():
                return  # the parent is gone: nobody to report to
            if time.monotonic() >= next_stats:
                self.out.send(("stats", spec.index, self.snapshot()))
                next_stats = time.monotonic() + spec.stats_interval
        self.finish_ring()
        self.send_hits("stopped")
        while not self.ended:
            if not self.read_inbox(0.5):
                return
        self.worker.end()
        self.send_hits("final")

    def wait(self, timeout_ms: int) -> None:
        """Sleep until a block is handed over, a message comes, or `timeout_ms`. A socket error
        (the interface went down) is read and counted, so that poll does not spin on it; `tick`
        notices an interface that no longer exists."""
        for fd, events in self.poller.poll(timeout_ms):
            if fd == self.ring.fileno() and events & select.POLLERR:
                self.ring.clear_error()
                self.stats.link_errors += 1

    def finish_ring(self) -> None:
        """Let nothing new in, then process what the kernel still hands over: the block being
        filled is handed over by the retire timer, so wait a little longer than that."""
        self.ring.stop_intake()
        quiet = 2 * self.spec.ring.retire_ms / 1000 + 0.05
        start = last = time.monotonic()
        while time.monotonic() - start < STOP_DEADLINE:
            if self.pump():
                last = time.monotonic()
            elif time.monotonic() - last > quiet:
                break
            else:
                self.wait(self.spec.ring.retire_ms)
                self.read_inbox()

    def close(self) -> None:
        self.ring.close()


def _warm_ring() -> None:
    """Load the compiled walker and decoder now rather than on the first live batch."""
    ring = np.zeros(2 * aw.BLOCK_DESC_LEN, dtype=np.uint8)
    recs = np.zeros(2 * aw.max_packets(aw.BLOCK_DESC_LEN), dtype=RECORD_DTYPE)
    aw.walk_ready(ring, aw.BLOCK_DESC_LEN, 2, 0, 1, 1, recs["off"], recs["caplen"],
                  recs["wirelen"], recs["ts"], recs["linktype"])  # fmt: skip
    decode(ring, recs[:1])


def capture_worker_main(spec: WorkerSpec, inbox: Connection, outbox_conn: Connection) -> None:
    """Entry point of a capture worker process."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    tune_gc()
    out = Outbox(outbox_conn)
    code = 0
    loop: _Loop | None = None
    try:
        loop = _Loop(spec, inbox, out)
        loop.run()
    except RingError as exc:  # set-up refused: the message says it all
        out.send(("error", spec.index, str(exc)))
        code = 1
    except BaseException:
        out.send(("error", spec.index, traceback.format_exc()))
        code = 1
    finally:
        if loop is not None:
            loop.close()
        out.close()
    if code:
        sys.exit(code)
