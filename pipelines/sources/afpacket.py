"""Live capture source: an AF_PACKET socket with a TPACKET_V3 mmap ring in a fanout group.

One `RxRing` per worker process. The kernel writes packets straight into the ring (no copy per
packet, no system call per packet) and hands over whole blocks; `take` walks every handed-over
block in one compiled pass into `RECORD_DTYPE` rows that point into the ring, so the chunk goes
to the same decoder as a pcap chunk. The blocks stay ours until `release`: the caller decodes and
feeds the batch, and every byte a detector keeps is copied out before that (`Engine.process`
turns candidate payloads into `bytes` inside the call). `buf` is therefore valid until `release`,
the same contract as a file chunk's `buf` until the next chunk.

Set-up order matters and is why the socket is opened with protocol 0:

1. socket(AF_PACKET, SOCK_RAW, 0) — receives nothing until bound;
2. PACKET_VERSION = TPACKET_V3, PACKET_RX_RING, mmap;
3. a drop-everything filter, then bind to (iface, ETH_P_ALL) and join the PACKET_FANOUT group
   (hash | defrag: the kernel's symmetric flow hash, so both directions of a flow meet in one
   worker, and fragments are reassembled before hashing);
4. `start` swaps in the user's filter (or none): no packet enters a ring before every worker of
   the group has joined, so the fanout never remaps flows while they are being captured.

(`feature_req_word` stays 0: we need no RX hash in the headers.) Kernel behaviours to know:
the defrag flag means the socket sees reassembled IP datagrams (fewer packets than on the
wire, and fragments that never complete are never delivered); an outer 802.1Q tag is removed
into the header's `tp_vlan_tci` (the frame decodes the same without it); GRO/LRO on the
mirror NIC merges segments before we see them (turn them off with ethtool for exact counts).

`stop_intake` puts the drop-everything filter back, so that what is left in the ring can be
processed to the end while nothing new comes in. Kernel counters (PACKET_STATISTICS, which
resets on every read) are accumulated into `RingStats` by `read_kernel_stats`.

Memory ordering: the kernel publishes a block with a write barrier before its status; we read
the status, then the data, and write the status back last. That is sound on x86-64 (TSO); a
port to a weakly ordered CPU needs explicit barriers around the status accesses.
"""

from __future__ import annotations

import contextlib
import mmap
import socket
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipelines.batch import RECORD_DTYPE, U8, RecordChunk
from pipelines.sources import afpacket_walk as aw
from pipelines.sources import bpf

SOL_PACKET = 263
PACKET_ADD_MEMBERSHIP = 1
PACKET_MR_PROMISC = 1
PACKET_RX_RING = 5
PACKET_STATISTICS = 6
PACKET_VERSION = 10
PACKET_FANOUT = 18
TPACKET_V3 = 2
ETH_P_ALL = 0x0003
PACKET_FANOUT_HASH = 0
PACKET_FANOUT_FLAG_DEFRAG = 0x8000

TPACKET_REQ3 = struct.Struct("7I")  # block_size, block_nr, frame_size, frame_nr, tov, priv, feat
TPACKET_STATS_V3 = struct.Struct("3I")  # tp_packets (drops included), tp_drops, tp_freeze_q_cnt
PACKET_MREQ = struct.Struct("iHH8s")  # mr_ifindex, mr_type, mr_alen, mr_address

# ARPHRD_* of the interface → LINKTYPE_* of its SOCK_RAW frames
LINKTYPES = {1: 1, 772: 1, 65534: 101}  # Ethernet, loopback (Ethernet framing), none (raw IP)


class RingError(OSError):
    """The capture socket or its ring cannot be set up (no such interface, no permission,
    a ring the kernel refuses, ...)."""


@dataclass(frozen=True, slots=True)
class RingConfig:
    """Ring geometry and reading policy of one worker.

    `block_size` × `block_nr` is the memory the kernel may fill while the worker is busy (the
    burst it absorbs without drops); `retire_ms` is how long a block that is not full waits
    before it is handed over anyway (the latency at low rates). `batch_blocks` bounds how many
    blocks one batch holds back from the kernel.
    """

    block_size: int = 1 << 20
    block_nr: int = 64
    frame_size: int = 1 << 11
    retire_ms: int = 50
    batch_blocks: int = 8
    promisc: bool = True

    def check(self) -> None:
        page = mmap.PAGESIZE
        if self.block_size < page or self.block_size % page:
            raise ValueError(f"block_size must be a multiple of the page size ({page})")
        if self.frame_size < 64 or self.frame_size % 16 or self.block_size % self.frame_size:
            raise ValueError("frame_size must be a multiple of 16 that divides block_size")
        if self.block_nr < 2:
            raise ValueError("a ring needs at least 2 blocks (one read, one filled)")
        if not 1 <= self.retire_ms <= 60_000 or self.batch_blocks < 1:
            raise ValueError("retire_ms must be in 1..60000 and batch_blocks at least 1")

    @property
    def ring_bytes(self) -> int:
        return self.block_size * self.block_nr


@dataclass(slots=True)
class RingStats:
    """Counters of one ring. `kernel_*` are the kernel's own (PACKET_STATISTICS) as of the
    last `read_kernel_stats`; `kernel_packets` counts what reached the socket, drops included."""

    packets: int = 0  # located in handed-over blocks
    bytes: int = 0  # captured bytes of those
    blocks: int = 0
    blocks_timeout: int = 0  # handed over by the retire timer, not full
    blocks_losing: int = 0  # filled while the kernel was dropping
    blocks_bad: int = 0  # a broken packet chain: the rest of that block is skipped
    kernel_packets: int = 0
    kernel_drops: int = 0
    kernel_freezes: int = 0  # times the kernel found no free block (the ring was full)


def fanout_arg(group: int) -> int:
    """PACKET_FANOUT value: 16-bit group id, hash mode, defragment before hashing."""
    return (group & 0xFFFF) | ((PACKET_FANOUT_HASH | PACKET_FANOUT_FLAG_DEFRAG) << 16)


def iface_linktype(iface: str) -> int:
    """The LINKTYPE_* of an interface's raw frames (from its ARPHRD type)."""
    try:
        hw = int(Path("/sys/class/net", iface, "type").read_text())
    except (OSError, ValueError) as exc:
        raise RingError(f"no such network interface: {iface!r}") from exc
    if hw not in LINKTYPES:
        raise RingError(f"{iface}: unsupported hardware type {hw} (Ethernet, loopback, tun only)")
    return LINKTYPES[hw]


class RxRing:
    """One TPACKET_V3 receive ring on `iface`. Construction is inert; `open` sets it up."""

    def __init__(
        self, iface: str, config: RingConfig | None = None, *,
        fanout_group: int | None = None, bpf_insns: Sequence[bpf.Insn] | None = None,
    ) -> None:  # fmt: skip
        self.iface = iface
        self.config = config or RingConfig()
        self.config.check()
        self.fanout_group = fanout_group
        self.bpf_insns = tuple(bpf_insns) if bpf_insns else None
        self.stats = RingStats()
        self.linktype = 1
        self.ifindex = 0
        self.sock: socket.socket | None = None
        self._map: mmap.mmap | None = None
        self.mem: U8 = np.zeros(0, dtype=np.uint8)
        self._words = np.zeros(0, dtype=np.uint32)
        self._next = 0  # the next block the kernel hands over
        self._held = 0  # blocks taken and not yet released
        cap = self.config.batch_blocks * aw.max_packets(self.config.block_size)
        self._recs = np.zeros(cap, dtype=RECORD_DTYPE)

    def fileno(self) -> int:
        if self.sock is None:
            raise RuntimeError("ring not open")
        return self.sock.fileno()

    def open(self) -> None:
        cfg = self.config
        self.linktype = iface_linktype(self.iface)
        try:
            self.ifindex = index = socket.if_nametoindex(self.iface)
            self.sock = sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
            sock.setsockopt(SOL_PACKET, PACKET_VERSION, TPACKET_V3)
            frames = cfg.block_size // cfg.frame_size * cfg.block_nr
            req = TPACKET_REQ3.pack(
                cfg.block_size, cfg.block_nr, cfg.frame_size, frames, cfg.retire_ms, 0, 0
            )
            sock.setsockopt(SOL_PACKET, PACKET_RX_RING, req)
            self._map = mmap.mmap(
                sock.fileno(), cfg.ring_bytes, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE
            )
            self.mem = np.frombuffer(self._map, dtype=np.uint8)
            self._words = self.mem.view(np.uint32)
            bpf.attach(sock, bpf.DROP_ALL)  # nothing enters before `start`
            sock.bind((self.iface, ETH_P_ALL))
            if cfg.promisc:  # a mirror port delivers frames addressed to other hosts
                mreq = PACKET_MREQ.pack(index, PACKET_MR_PROMISC, 0, b"")
                sock.setsockopt(SOL_PACKET, PACKET_ADD_MEMBERSHIP, mreq)
            if self.fanout_group is not None:
                arg = struct.pack("I", fanout_arg(self.fanout_group))  # > INT_MAX
                try:
                    sock.setsockopt(SOL_PACKET, PACKET_FANOUT, arg)
                except OSError as exc:
                    exc.strerror = f"joining fanout group {self.fanout_group & 0xFFFF} (in use "
                    exc.strerror += f"by another capture of another kind?): {exc.strerror}"
                    raise
        except OSError as exc:
            self.close()
            what = exc.strerror or str(exc)
            raise RingError(f"{self.iface}: cannot set up the capture ring: {what}") from exc
        self.read_kernel_stats()
        self.stats.kernel_packets = self.stats.kernel_drops = self.stats.kernel_freezes = 0

    def start(self) -> None:
        """Let packets in (through the user's filter, if any)."""
        sock = self._sock()
        if self.bpf_insns:
            bpf.attach(sock, self.bpf_insns)
        else:
            bpf.detach(sock)

    def stop_intake(self) -> None:
        """Let no new packet in; what the ring holds can still be taken."""
        bpf.attach(self._sock(), bpf.DROP_ALL)

    def take(self) -> RecordChunk | None:
        """Records of the blocks handed over so far (up to `batch_blocks`), or None.

        The blocks are held until `release`; call it once the chunk has been fed."""
        if self._held:
            raise RuntimeError("release the previous chunk first")
        cfg, recs = self.config, self._recs
        n, taken, bad, tmo, losing = aw.walk_ready(
            self.mem, cfg.block_size, cfg.block_nr, self._next, cfg.batch_blocks, self.linktype,
            recs["off"], recs["caplen"], recs["wirelen"], recs["ts"], recs["linktype"],
        )  # fmt: skip
        if not taken:
            return None
        self._held = taken
        st = self.stats
        st.blocks += taken
        st.blocks_bad += bad
        st.blocks_timeout += tmo
        st.blocks_losing += losing
        st.packets += n
        st.bytes += int(recs["caplen"][:n].sum())
        return RecordChunk(self.mem, recs[:n])

    def release(self) -> None:
        """Hand the held blocks back to the kernel, in ring order."""
        cfg = self.config
        for _ in range(self._held):
            self._words[(self._next * cfg.block_size + aw.B_STATUS) // 4] = aw.TP_STATUS_KERNEL
            self._next = (self._next + 1) % cfg.block_nr
        self._held = 0

    def clear_error(self) -> int:
        """Read and clear the socket's pending error (ENETDOWN when the interface went down:
        the kernel then stops delivering until it is up again, the ring and group stay)."""
        return int(self._sock().getsockopt(socket.SOL_SOCKET, socket.SO_ERROR))

    def iface_exists(self) -> bool:
        """Is the interface we are bound to still there (not deleted, nor replaced by a new one
        of the same name: the socket stays bound to the old index and would see nothing)?"""
        try:
            return socket.if_nametoindex(self.iface) == self.ifindex
        except OSError:
            return False

    def read_kernel_stats(self) -> RingStats:
        """Add the kernel's counters since the last read (the kernel resets them on read)."""
        raw = self._sock().getsockopt(SOL_PACKET, PACKET_STATISTICS, TPACKET_STATS_V3.size)
        packets, drops, freezes = TPACKET_STATS_V3.unpack(raw)
        self.stats.kernel_packets += packets
        self.stats.kernel_drops += drops
        self.stats.kernel_freezes += freezes
        return self.stats

    def close(self) -> None:
        """Close the socket (leaving the fanout group) and unmap the ring (idempotent)."""
        self.mem = np.zeros(0, dtype=np.uint8)
        self._words = np.zeros(0, dtype=np.uint32)
        if self._map is not None:
            with contextlib.suppress(BufferError):  # a chunk view still alive: unmapped at exit
                self._map.close()
            self._map = None
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def _sock(self) -> socket.socket:
        if self.sock is None:
            raise RuntimeError("ring not open")
        return self.sock
