"""The worker side: one shard's detection (`FlowWorker`) and the scan worker process around it.

`FlowWorker` holds everything a worker does apart from the transport, so a live-capture worker
(one PACKET_FANOUT socket per process, `pipelines.capture_worker`) feeds its own batches through
the same class. `worker_main` is the file-scan transport: chunks from the shared-memory ring,
results through a pipe. Messages (tuples, first item the kind):

- parent → worker: `file` (a capture begins), `chunk` (a ring slot to process, with knowledge
  learned elsewhere), `end` (knowledge still in flight; then end every flow), `matcher` (a newer
  block list), `stop`.
- worker → parent: `done` (a chunk's hits and knowledge; its slot is released), `ended` (the
  capture's last hits, flow count and knowledge), `stats` (detector counters, the last message),
  `error` (a traceback; the worker exits 1).

Workers ignore SIGINT: Ctrl-C reaches the parent, which shuts them down.
"""

from __future__ import annotations

import contextlib
import os
import queue
import signal
import sys
import threading
import traceback
from multiprocessing.connection import Connection
from typing import Any

import numpy as np

from blacklist.allow import AllowIndex
from blacklist.matcher import Matcher
from detector.context import DetectContext
from detector.engine import Engine
from detector.hits import FlowHit
from pipelines.batch import PACKET_DTYPE, RECORD_DTYPE, ST_OK, PacketBatch
from pipelines.gctune import tune_gc
from pipelines.parallel.knowledge import Knowledge, SharedLearned, SharedPairs
from pipelines.parallel.ring import Attached
from pipelines.scan import FlowStage

ST_OTHER_SHARD = 255  # decode status given, in a worker's copy, to the packets of other shards
UID_SHIFT = 40  # worker w numbers its flows from (w << UID_SHIFT) + 1


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
    """Entry point of a scan worker process (messages in the module docstring)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and stops us
    tune_gc()
    out = Outbox(outbox_conn)
    slots = Attached()
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
