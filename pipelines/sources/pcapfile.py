"""pcap / pcapng file source: reads a capture (optionally gzip-compressed) in bounded chunks.

Memory stays bounded whatever the file size: one chunk buffer (plus the leftover of a record cut
by the chunk boundary) is alive at a time. The source only locates records; decoding is done by
`pipelines.decoders` on the whole chunk.
"""

from __future__ import annotations

import gzip
import io
import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import numpy as np

from pipelines.batch import RECORD_DTYPE, U8, RecordChunk, Records
from pipelines.sources import walk

CHUNK_BYTES = 4 << 20
PCAP_MAGICS = {
    b"\xd4\xc3\xb2\xa1": (False, 1e-6),
    b"\xa1\xb2\xc3\xd4": (True, 1e-6),
    b"\x4d\x3c\xb2\xa1": (False, 1e-9),
    b"\xa1\xb2\x3c\x4d": (True, 1e-9),
}
PCAPNG_SHB = b"\x0a\x0d\x0d\x0a"


class CaptureError(Exception):
    """The file cannot be read as a capture (not a capture, corrupt header, ...)."""


@dataclass(slots=True)
class SourceStats:
    """What the source saw; `truncated_tail` is a last record cut short (a killed capture)."""

    bytes_read: int = 0
    records: int = 0
    truncated_tail: int = 0
    linktypes: set[int] = field(default_factory=set)


def _open(path: Path) -> BinaryIO:
    with open(path, "rb") as probe:
        head = probe.read(2)
    if head == b"\x1f\x8b":
        return gzip.open(path, "rb")  # type: ignore[return-value]
    return open(path, "rb")


class PcapFileSource:
    """Iterates `RecordChunk`s over one pcap or pcapng file."""

    def __init__(self, path: str | os.PathLike[str], chunk_bytes: int = CHUNK_BYTES) -> None:
        self.path = Path(path)
        self.chunk_bytes = chunk_bytes
        self.stats = SourceStats()
        self.size = self.path.stat().st_size
        self.is_pcapng = False

    def __iter__(self) -> Iterator[RecordChunk]:
        try:
            stream = _open(self.path)
        except OSError as exc:
            raise CaptureError(f"{self.path}: cannot open: {exc.strerror or exc}") from exc
        with stream:
            try:
                magic = stream.read(4)
                stream.seek(0)
            except (OSError, EOFError, gzip.BadGzipFile) as exc:
                raise CaptureError(f"{self.path}: cannot read: {exc}") from exc
            if magic in PCAP_MAGICS:
                yield from self._pcap(stream)
            elif magic == PCAPNG_SHB:
                self.is_pcapng = True
                yield from self._pcapng(stream)
            else:
                raise CaptureError(
                    f"{self.path}: not a pcap or pcapng file (magic {magic.hex() or 'empty'})"
                )

    # -- chunk plumbing -------------------------------------------------------------------

    def _fill(self, stream: BinaryIO, buf: U8, filled: int) -> int:
        view = memoryview(buf)  # type: ignore[arg-type]
        while filled < len(buf):
            try:
                got = stream.readinto(view[filled:])  # type: ignore[attr-defined]
            except (OSError, EOFError, gzip.BadGzipFile, struct.error) as exc:
                raise CaptureError(f"{self.path}: read failed: {exc}") from exc
            if not got:
                break
            filled += got
            self.stats.bytes_read += got
        return filled

    def _chunks(self, stream: BinaryIO, first: bytes, walker: _Walker) -> Iterator[RecordChunk]:
        size = self.chunk_bytes
        buf = np.empty(size, dtype=np.uint8)
        buf[: len(first)] = np.frombuffer(first, dtype=np.uint8)
        filled = self._fill(stream, buf, len(first))
        pos = 0
        recs = np.empty(size // 16 + 1, dtype=RECORD_DTYPE)
        while True:
            count, pos, code = walker.walk(buf, filled, pos, recs)
            if count:
                self.stats.records += count
                yield RecordChunk(buf, recs[:count].copy())
            if code == walk.WALK_FULL:
                continue
            if code == walk.WALK_CORRUPT:
                raise CaptureError(f"{self.path}: corrupt record header at byte {pos} of chunk")
            if code == walk.WALK_BLOCK:
                pos = walker.block(buf, filled, pos)
                if pos >= 0:
                    continue
                pos = -pos - 1  # block incomplete: needs more data, fall through
            # need data: keep the unread tail, read more
            left = filled - pos
            at_eof = filled < len(buf)
            if at_eof:
                if left:
                    self.stats.truncated_tail += 1
                return
            if left * 2 > size:  # a record larger than half the buffer: grow
                size *= 2
            new = np.empty(size, dtype=np.uint8)
            new[:left] = buf[pos:filled]
            buf = new
            filled = self._fill(stream, buf, left)
            pos = 0

    # -- formats --------------------------------------------------------------------------

    def _pcap(self, stream: BinaryIO) -> Iterator[RecordChunk]:
        head = stream.read(24)
        if len(head) < 24:
            raise CaptureError(f"{self.path}: pcap header truncated")
        big, scale = PCAP_MAGICS[head[:4]]
        order = ">" if big else "<"
        snaplen, network = struct.unpack(order + "II", head[16:24])
        linktype = network & 0x03FF_FFFF  # upper bits carry FCS information
        linktype &= 0xFFFF
        self.stats.linktypes.add(linktype)
        walker = _PcapWalker(big, scale, linktype, snaplen)
        yield from self._chunks(stream, b"", walker)

    def _pcapng(self, stream: BinaryIO) -> Iterator[RecordChunk]:
        walker = _PcapngWalker(self)
        yield from self._chunks(stream, b"", walker)


class _Walker:
    def walk(self, buf: U8, end: int, pos: int, recs: Records) -> tuple[int, int, int]:
        raise NotImplementedError

    def block(self, buf: U8, end: int, pos: int) -> int:
        """Handle a non-packet block; return the next position, or -(pos+1) if incomplete."""
        raise NotImplementedError


class _PcapWalker(_Walker):
    def __init__(self, big: bool, scale: float, linktype: int, snaplen: int) -> None:
        self.big, self.scale, self.linktype = big, scale, linktype
        self.snap_max = max(snaplen, 1 << 18) if snaplen else walk.MAX_RECORD
        self.snap_max = min(self.snap_max, walk.MAX_RECORD)

    def walk(self, buf: U8, end: int, pos: int, recs: Records) -> tuple[int, int, int]:
        return walk.walk_pcap(  # type: ignore[no-any-return]
            buf,
            end,
            pos,
            self.big,
            self.scale,
            self.linktype,
            self.snap_max,
            recs["off"],
            recs["caplen"],
            recs["wirelen"],
            recs["ts"],
            recs["linktype"],
        )


class _PcapngWalker(_Walker):
    """pcapng: packet blocks in numba, section and interface blocks here (they are rare)."""

    def __init__(self, source: PcapFileSource) -> None:
        self.source = source
        self.big = False
        self.if_linktype = np.zeros(0, dtype=np.uint16)
        self.if_scale = np.zeros(0, dtype=np.float64)
        self.if_snaplen = np.zeros(0, dtype=np.uint32)

    def walk(self, buf: U8, end: int, pos: int, recs: Records) -> tuple[int, int, int]:
        return walk.walk_pcapng(  # type: ignore[no-any-return]
            buf,
            end,
            pos,
            self.big,
            self.if_linktype,
            self.if_scale,
            self.if_snaplen,
            len(self.if_linktype),
            recs["off"],
            recs["caplen"],
            recs["wirelen"],
            recs["ts"],
            recs["linktype"],
        )

    def block(self, buf: U8, end: int, pos: int) -> int:
        if pos + 12 > end:
            return -(pos + 1)
        btype = bytes(buf[pos : pos + 4])
        if btype == PCAPNG_SHB:
            bom = bytes(buf[pos + 8 : pos + 12])
            if bom == b"\x1a\x2b\x3c\x4d":
                self.big = True
            elif bom == b"\x4d\x3c\x2b\x1a":
                self.big = False
            else:
                raise CaptureError(f"{self.source.path}: bad pcapng byte-order magic")
            self.if_linktype = np.zeros(0, dtype=np.uint16)
            self.if_scale = np.zeros(0, dtype=np.float64)
            self.if_snaplen = np.zeros(0, dtype=np.uint32)
        order = ">" if self.big else "<"
        blen: int = struct.unpack(order + "I", bytes(buf[pos + 4 : pos + 8]))[0]
        if blen < 12 or blen % 4 or blen > walk.MAX_RECORD:
            raise CaptureError(f"{self.source.path}: corrupt pcapng block length {blen}")
        if pos + blen > end:
            return -(pos + 1)
        (code,) = struct.unpack(order + "I", btype)
        if code == 1:  # interface description block
            self._interface(bytes(buf[pos : pos + blen]), order)
        return pos + blen

    def _interface(self, block: bytes, order: str) -> None:
        if len(block) < 20:
            raise CaptureError(f"{self.source.path}: truncated pcapng interface block")
        linktype, _reserved, snaplen = struct.unpack(order + "HHI", block[8:16])
        scale = 1e-6
        opts = io.BytesIO(block[16:-4])
        while True:
            hdr = opts.read(4)
            if len(hdr) < 4:
                break
            ocode, olen = struct.unpack(order + "HH", hdr)
            value = opts.read((olen + 3) & ~3)[:olen]
            if ocode == 0:
                break
            if ocode == 9 and olen >= 1:  # if_tsresol
                res = value[0]
                scale = 2.0 ** -(res & 0x7F) if res & 0x80 else 10.0**-res
        self.if_linktype = np.append(self.if_linktype, np.uint16(linktype & 0xFFFF))
        self.if_scale = np.append(self.if_scale, scale)
        self.if_snaplen = np.append(self.if_snaplen, np.uint32(snaplen))
        self.source.stats.linktypes.add(linktype)
