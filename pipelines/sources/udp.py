"""UDP receive loop for flow export (NetFlow v5/v9, IPFIX, sFlow): receive and enqueue only.

A thread blocks in `recvfrom_into` (the GIL is released while it waits) and packs datagrams back
to back into one of a few preallocated buffers; a full buffer, or one that waited `flush_after`
seconds, is handed to the decoding stage as a `DatagramBatch`. Decoding never runs here, so a
burst is absorbed by the socket buffer (made large, `SO_RCVBUFFORCE` when we may) and by the spare
buffers. When every buffer is still being decoded the thread stops reading and the kernel drops;
those drops are read back from /proc/net/udp{,6} (the socket's `drops` column) and reported, so
loss is never silent. `SO_REUSEPORT` lets several collector processes share one port; the kernel
keeps each exporter on one socket, so per-exporter template state stays in one process.
"""

from __future__ import annotations

import contextlib
import mmap
import os
import queue
import select
import socket
import threading
import time
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from pipelines.sources.mmsg import MmsgReader
from pipelines.sources.mmsg import available as mmsg_available

MAX_DATAGRAM = 65_535
BATCH_BYTES = 4 << 20  # recvfrom_into path: datagrams packed back to back
# recvmmsg path: one slot per datagram, large enough for any UDP payload. Only the pages a
# datagram is written to become resident (see `slot_buffer`), so a 64 MiB buffer of 1024 slots
# holding 1.5 KB datagrams costs ~4 MiB of memory, and a batch carries up to 1024 datagrams.
SLOT = 1 << 16
SLOTS = 1024
RCVBUF = 64 << 20


@dataclass(slots=True)
class DatagramBatch:
    """Datagrams received back to back: `buf[offsets[i] : offsets[i] + lengths[i]]`."""

    buf: npt.NDArray[np.uint8]
    offsets: npt.NDArray[np.int64]
    lengths: npt.NDArray[np.int64]
    sender_index: npt.NDArray[np.int64]  # per datagram: index into sender_names
    sender_names: list[str]  # distinct exporter addresses (text) of the batch
    received: float  # wall clock when the batch was handed over
    kind: str = ""  # the listener's kind ("netflow", "sflow")
    _owner: UdpReceiver | None = field(default=None, repr=False)

    def __len__(self) -> int:
        return len(self.lengths)

    @property
    def senders(self) -> list[str]:
        """Exporter address per datagram (convenience; the index is what loops should use)."""
        return [self.sender_names[i] for i in self.sender_index.tolist()]

    def datagram(self, i: int) -> bytes:
        off = int(self.offsets[i])
        return self.buf[off : off + int(self.lengths[i])].tobytes()

    def release(self) -> None:
        """Give the buffer back to the receiver (call when decoding is done)."""
        if self._owner is not None:
            self._owner._free.put(self.buf)
            self._owner = None


@dataclass(slots=True)
class ReceiverStats:
    datagrams: int = 0
    bytes: int = 0
    batches: int = 0
    waits_for_buffer: int = 0  # times every buffer was busy (the kernel may drop meanwhile)
    truncated: int = 0  # datagrams larger than a receive slot (cut; the decoders count them)
    kernel_drops: int = 0  # from /proc/net/udp*, this socket only
    rcvbuf: int = 0  # granted socket receive buffer (bytes)


def slot_buffer(size: int) -> npt.NDArray[np.uint8]:
    """A receive buffer whose untouched pages stay unallocated.

    numpy asks for transparent huge pages on large arrays (`madvise(MADV_HUGEPAGE)`), and then
    one datagram in each 64 KiB slot makes every 2 MiB page of the buffer resident: eight
    64 MiB buffers held ~500 MiB where the datagrams need ~32. A private anonymous mapping with
    `MADV_NOHUGEPAGE` keeps to 4 KiB pages."""
    mem = mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    advice = getattr(mmap, "MADV_NOHUGEPAGE", None)
    if advice is not None:
        mem.madvise(advice)
    return np.frombuffer(mem, dtype=np.uint8)


def parse_listen(url: str) -> tuple[str, str, int]:
    """`netflow://HOST:PORT` or `sflow://[v6]:PORT` → (kind, host, port)."""
    kind, sep, rest = url.partition("://")
    if not sep or kind not in ("netflow", "ipfix", "sflow"):
        raise ValueError(f"{url!r}: expected netflow://HOST:PORT or sflow://HOST:PORT")
    host, colon, port_text = rest.rpartition(":")
    if not colon or not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ValueError(f"{url!r}: expected a port number after the host")
    host = host.strip("[]") or "0.0.0.0"
    return ("netflow" if kind == "ipfix" else kind), host, int(port_text)


def open_socket(host: str, port: int, rcvbuf: int = RCVBUF) -> socket.socket:
    """A bound UDP socket with SO_REUSEPORT and the largest receive buffer we are granted."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    force = getattr(socket, "SO_RCVBUFFORCE", 33)
    try:  # root (CAP_NET_ADMIN) may exceed net.core.rmem_max
        sock.setsockopt(socket.SOL_SOCKET, force, rcvbuf)
    except OSError:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.bind((host, port))
    return sock


def kernel_drops(sock: socket.socket) -> int:
    """Datagrams the kernel dropped on this socket (receive buffer full), from /proc/net/udp*."""
    inode = str(os.fstat(sock.fileno()).st_ino)
    total = 0
    for name in ("/proc/net/udp", "/proc/net/udp6"):
        with contextlib.suppress(OSError), open(name) as fh:
            next(fh, None)
            for line in fh:
                cols = line.split()
                if len(cols) >= 13 and cols[9] == inode:
                    total += int(cols[-1])
    return total


class UdpReceiver:
    """Receives on one socket in a thread; `batches` yields what arrived."""

    def __init__(
        self,
        sock: socket.socket,
        *,
        buffers: int = 8,
        batch_bytes: int = BATCH_BYTES,
        flush_after: float = 0.05,
        ready: queue.SimpleQueue[DatagramBatch | None] | None = None,
        kind: str = "",
        slot: int = SLOT,
        use_mmsg: bool | None = None,
    ) -> None:
        self.sock = sock
        self.kind = kind
        self.slot = slot
        self.use_mmsg = mmsg_available() if use_mmsg is None else use_mmsg
        self.batch_bytes = slot * SLOTS if self.use_mmsg else max(batch_bytes, 2 * MAX_DATAGRAM)
        self.flush_after = flush_after
        self.stats = ReceiverStats(rcvbuf=sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF))
        self._free: queue.SimpleQueue[npt.NDArray[np.uint8]] = queue.SimpleQueue()
        for _ in range(buffers):
            self._free.put(slot_buffer(self.batch_bytes))
        # several receivers may share one queue (one decoding loop for every listener)
        self._ready: queue.SimpleQueue[DatagramBatch | None] = ready or queue.SimpleQueue()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="udp-receive", daemon=True)

    def start(self) -> UdpReceiver:
        self.sock.settimeout(self.flush_after)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop receiving; what was received is still delivered by `batches`."""
        self._stop.set()
        self._thread.join()

    def get(self, timeout: float | None = None) -> DatagramBatch | None:
        """The next batch, or None on timeout or after `stop` once everything was delivered."""
        try:
            return self._ready.get(timeout=timeout)
        except queue.Empty:
            return None

    def _take_buffer(self) -> npt.NDArray[np.uint8] | None:
        try:
            return self._free.get_nowait()
        except queue.Empty:
            self.stats.waits_for_buffer += 1
        while not self._stop.is_set():
            try:
                return self._free.get(timeout=0.1)
            except queue.Empty:
                continue
        return None

    def _run(self) -> None:
        recv = self.sock.recvfrom_into
        readers: dict[int, MmsgReader] = {}  # one per buffer: its slots are set up once
        try:
            while not self._stop.is_set():
                buf = self._take_buffer()
                if buf is None:
                    break
                if self.use_mmsg:
                    reader = readers.get(buf.ctypes.data)
                    if reader is None:
                        reader = readers[buf.ctypes.data] = MmsgReader(self.sock, buf, self.slot)
                    self._fill_mmsg(buf, reader)
                    self.stats.truncated = sum(r.truncated for r in readers.values())
                else:
                    self._fill(buf, recv)
        finally:
            self.stats.kernel_drops = kernel_drops(self.sock)
            self._ready.put(None)

    def _fill(self, buf: npt.NDArray[np.uint8], recv: object) -> None:
        view = memoryview(buf)  # type: ignore[arg-type]
        offsets: list[int] = []
        lengths: list[int] = []
        senders: list[str] = []
        pos = 0
        deadline = time.monotonic() + self.flush_after
        limit = self.batch_bytes - MAX_DATAGRAM
        while pos <= limit and not self._stop.is_set():
            try:
                n, addr = recv(view[pos:])  # type: ignore[operator]
            except TimeoutError:
                if offsets:
                    break
                deadline = time.monotonic() + self.flush_after
                continue
            offsets.append(pos)
            lengths.append(n)
            senders.append(addr[0])
            pos += n
            if time.monotonic() >= deadline:
                break
        if not offsets:
            self._free.put(buf)
            return
        names: dict[str, int] = {}
        index = np.fromiter((names.setdefault(a, len(names)) for a in senders), np.int64)
        self._hand_over(buf, np.array(offsets, np.int64), np.array(lengths, np.int64), index,
                        list(names))  # fmt: skip

    def _fill_mmsg(self, buf: npt.NDArray[np.uint8], reader: MmsgReader) -> None:
        """Fill the slots of `buf`, many datagrams per system call, until full or the batch
        is `flush_after` old (waiting in poll, which releases the GIL)."""
        poller = select.poll()
        poller.register(self.sock.fileno(), select.POLLIN)
        parts: list[npt.NDArray[np.int64]] = []
        n = 0
        deadline = time.monotonic() + self.flush_after
        while n < reader.slots and not self._stop.is_set():
            got = reader.receive(n)
            if len(got):
                parts.append(got)
                n += len(got)
                if time.monotonic() >= deadline:
                    break
                continue
            left = deadline - time.monotonic()
            if n and left <= 0:
                break
            if not poller.poll(max(left, 0.0) * 1000 if n else self.flush_after * 1000):
                if n:
                    break
                deadline = time.monotonic() + self.flush_after  # idle: keep the batch fresh
        if not n:
            self._free.put(buf)
            return
        index, names = reader.senders(n)
        offsets = np.arange(n, dtype=np.int64) * self.slot
        self._hand_over(buf, offsets, np.concatenate(parts), index, names)

    def _hand_over(
        self, buf: npt.NDArray[np.uint8], offsets: npt.NDArray[np.int64],
        lengths: npt.NDArray[np.int64], index: npt.NDArray[np.int64], names: list[str],
    ) -> None:  # fmt: skip
        self.stats.datagrams += len(offsets)
        self.stats.bytes += int(lengths.sum())
        self.stats.batches += 1
        self._ready.put(
            DatagramBatch(buf, offsets, lengths, index, names, time.time(), self.kind, self)
        )

    def refresh_drops(self) -> int:
        self.stats.kernel_drops = kernel_drops(self.sock)
        return self.stats.kernel_drops
