"""The shared-memory ring that carries chunks from the parent to every worker.

**Chunks.** The chunk bytes, records, decoded packets and shard column go once into a slot of a
small ring of `multiprocessing.shared_memory` buffers (`ring` slots, reused only after every
worker has released the chunk in it, so memory is bounded by `ring` chunks whatever the capture
size). Every worker sees every chunk and masks the packets of other shards, so it runs the very
same `FlowStage` as the in-process scan with the same batch times: flows appear, expire and are
decided on the same packets as with `--workers 1`.

The parent owns the slots (`Ring` of `Slot`s: created, written, counted, unlinked); a worker only
maps them (`Attached`), by the name each chunk message carries with its `Layout`.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from dataclasses import dataclass
from multiprocessing import shared_memory

import numpy as np
import numpy.typing as npt

from pipelines.batch import PACKET_DTYPE, RECORD_DTYPE, U8, PacketBatch, Packets, Records
from pipelines.shard import Shards

DEFAULT_RING = 4  # chunks in flight: slack between workers, and the knowledge delay bound
_ALIGN = 64
_SHM_PREFIX = "minewatch"


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


def chunk_buf_len(batch: PacketBatch) -> int:
    """Bytes of the chunk buffer its packets use (the slot copies no more)."""
    rec = batch.records
    return int((rec["off"] + rec["caplen"]).max()) if len(batch.packets) else 0


def slot_size(batch: PacketBatch) -> int:
    """Bytes a slot needs for `batch`."""
    return Layout.plan(len(batch.packets), chunk_buf_len(batch))[1]


class Slot:
    """One shared-memory buffer of the ring (parent side); `refs` workers still read the chunk
    in it."""

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
        buf_len = chunk_buf_len(batch)
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


class Attached:
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


class Ring:
    """The parent's slots: at most `size` chunks in flight, a slot written again only once every
    worker has released the chunk in it (`sent` ... `release` per worker)."""

    def __init__(self, size: int, chunk_bytes: int) -> None:
        self.size = size
        self.chunk_bytes = chunk_bytes
        self.slots: list[Slot] = []
        self.next = 0  # where to look for a free slot first: slots are used in turn
        self.inflight: dict[int, Slot] = {}  # chunk sequence number → its slot

    def free_slot(self, need: int) -> Slot | None:
        """A slot of at least `need` bytes no worker reads, or None while every slot is busy."""
        for k in range(len(self.slots)):
            slot = self.slots[(self.next + k) % len(self.slots)]
            if slot.refs == 0:
                self.next = (slot.index + 1) % self.size
                if slot.size < need:  # a chunk larger than any before: replace the slot
                    slot.close()
                    slot = self.slots[slot.index] = Slot(slot.index, need + need // 2)
                return slot
        if len(self.slots) < self.size:
            slot = Slot(len(self.slots), max(need, self.chunk_bytes * 3 // 2))
            self.slots.append(slot)
            self.next = len(self.slots) % self.size
            return slot
        return None

    def sent(self, seq: int, slot: Slot, readers: int) -> None:
        """Chunk `seq` in `slot` went to `readers` workers."""
        slot.refs = readers
        self.inflight[seq] = slot

    def release(self, seq: int) -> None:
        """One worker is done with chunk `seq`."""
        slot = self.inflight[seq]
        slot.refs -= 1
        if slot.refs == 0:
            del self.inflight[seq]

    def close(self) -> None:
        """Unlink every slot (idempotent)."""
        for slot in self.slots:
            slot.close()
        self.slots.clear()
        self.inflight.clear()
