"""Columnar packet batches: the one data type between capture sources, decoders and detectors.

A batch is a chunk of raw capture bytes (`buf`) plus one numpy column per packet field. Payloads
are not copied: `payload_off`/`payload_len` point into `buf`, so only the few candidate payloads
that a detector wants to read ever become Python `bytes`.

Addresses live in one 128-bit space (two uint64 words): IPv4 is IPv4-mapped IPv6
(`::ffff:a.b.c.d`, hi = 0, lo = 0xFFFF_xxxx_xxxx), so one code path serves both families.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

V4_MAPPED = np.uint64(0xFFFF_0000_0000)

# Per-packet decode status (column `status`).
ST_OK = 0  # IPv4/IPv6 with a complete TCP/UDP header
ST_NOT_IP = 1  # ARP, LLDP, STP, ... (counted, not an error)
ST_OTHER_L4 = 2  # ICMP, ESP, GRE payloads we do not open, ...
ST_FRAGMENT = 3  # non-first IP fragment: no transport header
ST_MALFORMED = 4  # truncated or inconsistent headers
ST_UNSUPPORTED_LINK = 5  # a link type we cannot decode

STATUS_NAMES = {
    ST_OK: "ok",
    ST_NOT_IP: "not-ip",
    ST_OTHER_L4: "other-l4",
    ST_FRAGMENT: "fragment",
    ST_MALFORMED: "malformed",
    ST_UNSUPPORTED_LINK: "unsupported-link",
}

# Raw capture records as located by a source: where each packet lies in `buf`.
RECORD_DTYPE = np.dtype(
    [
        ("off", np.int64),  # offset of the link-layer frame in buf
        ("caplen", np.uint32),  # bytes captured
        ("wirelen", np.uint32),  # bytes on the wire
        ("ts", np.float64),  # seconds since the epoch
        ("linktype", np.uint16),  # LINKTYPE_* of the interface
    ],
    align=True,
)

# Decoded packet columns.
PACKET_DTYPE = np.dtype(
    [
        ("status", np.uint8),
        ("family", np.uint8),  # 4 or 6 (0 when not IP)
        ("proto", np.uint8),  # 6 TCP, 17 UDP, other IP protocol numbers
        ("tcp_flags", np.uint8),
        ("src_hi", np.uint64),
        ("src_lo", np.uint64),
        ("dst_hi", np.uint64),
        ("dst_lo", np.uint64),
        ("sport", np.uint16),
        ("dport", np.uint16),
        ("ip_len", np.uint32),  # IP datagram length (NetFlow-style byte count)
        ("payload_off", np.int64),  # transport payload offset in buf
        ("payload_len", np.uint32),  # captured payload bytes (bounded by caplen and IP length)
    ],
    align=True,
)

Records = npt.NDArray[np.void]
Packets = npt.NDArray[np.void]
U8 = npt.NDArray[np.uint8]


@dataclass(slots=True)
class RecordChunk:
    """Records located in one chunk of a capture; `buf` is valid until the next chunk is read."""

    buf: U8
    records: Records


@dataclass(slots=True)
class PacketBatch:
    """Decoded packets of one chunk; `buf` holds the bytes `payload_off` points into.

    `sampling` (sampled sources such as sFlow): the 1-in-N rate each packet was sampled at.
    Packets sampled at N > 1 (or an unknown rate, 0), and packets cut short by the sampler's
    header size, are not a stream: the detectors judge each on its own, by what it shows.
    """

    buf: U8
    records: Records
    packets: Packets
    sampling: npt.NDArray[np.uint32] | None = None

    def __len__(self) -> int:
        return len(self.packets)


def addr_text(hi: int, lo: int) -> str:
    """Render one 128-bit address column pair as text (IPv4-mapped → dotted quad)."""
    if hi == 0 and (lo >> 32) == 0xFFFF:
        return socket.inet_ntop(socket.AF_INET, (lo & 0xFFFF_FFFF).to_bytes(4, "big"))
    return socket.inet_ntop(socket.AF_INET6, hi.to_bytes(8, "big") + lo.to_bytes(8, "big"))


def addr_words(text: str) -> tuple[int, int]:
    """Parse an IPv4/IPv6 address into the (hi, lo) words used by the columns."""
    ip = ipaddress.ip_address(text)
    if ip.version == 4:
        return 0, 0xFFFF_0000_0000 | int(ip)
    value = int(ip)
    return value >> 64, value & 0xFFFF_FFFF_FFFF_FFFF
