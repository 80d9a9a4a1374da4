"""Test-only helper: per-flow, per-direction payload streams from a pcap/pcapng file.

The signature tests need what the engine would show a signature: the first few KiB of each
direction of each TCP/UDP flow, in capture order. This is deliberately simple (no IP
reassembly, capture-order TCP with retransmission trimming) because it only feeds tests; the
production capture path lives elsewhere.

Client = the connection initiator: the sender of a bare SYN if one was seen, the receiver of
a SYN-ACK, otherwise the sender of the first packet (which is what the ground-truth file uses).
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import dpkt

SHARED_DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"
MINING_DIR = SHARED_DATA / "pcaps" / "mining"
BENIGN_DIR = SHARED_DATA / "pcaps" / "benign"
GROUND_TRUTH = SHARED_DATA / "groundtruth" / "mining-flows.tsv"

MAX_BYTES = 4096

# libpcap link types we decode.
DLT_NULL = 0
DLT_EN10MB = 1
DLT_RAW_A = 12
DLT_RAW_B = 14
DLT_RAW = 101
DLT_LOOP = 108
DLT_LINUX_SLL = 113
DLT_IPV4 = 228
DLT_IPV6 = 229
DLT_LINUX_SLL2 = 276


def endpoint(ip: bytes, port: int) -> str:
    """Render like the ground-truth file: `a.b.c.d:port`, IPv6 as `[addr]:port`."""
    if len(ip) == 4:
        return f"{socket.inet_ntop(socket.AF_INET, ip)}:{port}"
    return f"[{socket.inet_ntop(socket.AF_INET6, ip)}]:{port}"


@dataclass
class _Direction:
    data: bytearray = field(default_factory=bytearray)
    next_seq: int | None = None

    def add_tcp(self, seq: int, payload: bytes) -> None:
        if self.next_seq is not None:
            delta = (seq - self.next_seq) & 0xFFFFFFFF
            if delta >= 0x80000000:  # starts before what we already have: retransmission
                overlap = 0x100000000 - delta
                if overlap >= len(payload):
                    return
                payload = payload[overlap:]
                seq = (seq + overlap) & 0xFFFFFFFF
        self.next_seq = (seq + len(payload)) & 0xFFFFFFFF
        self.add(payload)

    def add(self, payload: bytes) -> None:
        room = MAX_BYTES - len(self.data)
        if room > 0:
            self.data += payload[:room]


@dataclass
class Flow:
    """One TCP/UDP flow: the two payload streams, first `MAX_BYTES` of each."""

    transport: int
    client: str
    server: str
    c2s: _Direction = field(default_factory=_Direction)
    s2c: _Direction = field(default_factory=_Direction)
    packets: int = 0

    @property
    def client_data(self) -> bytes:
        return bytes(self.c2s.data)

    @property
    def server_data(self) -> bytes:
        return bytes(self.s2c.data)


def _packets(path: Path) -> Iterator[tuple[int, bytes]]:
    with path.open("rb") as fh:
        magic = fh.read(4)
        fh.seek(0)
        pcapng = magic == b"\x0a\x0d\x0d\x0a"
        reader = dpkt.pcapng.Reader(fh) if pcapng else dpkt.pcap.Reader(fh)
        linktype = reader.datalink()
        try:
            for _ts, buf in reader:
                yield linktype, bytes(buf)
        except (dpkt.dpkt.NeedData, dpkt.dpkt.UnpackError, struct.error, ValueError):
            return  # truncated capture file: keep what we read


def _ip_layer(linktype: int, buf: bytes) -> bytes | None:
    """Return the raw IPv4/IPv6 packet inside a link-layer frame, or None."""
    try:
        if linktype == DLT_EN10MB:
            eth = dpkt.ethernet.Ethernet(buf)
            inner = eth.data
            if isinstance(inner, dpkt.ip.IP | dpkt.ip6.IP6):
                return bytes(inner)
            return None
        if linktype == DLT_LINUX_SLL:
            sll = dpkt.sll.SLL(buf)
            inner = sll.data
            return bytes(inner) if isinstance(inner, dpkt.ip.IP | dpkt.ip6.IP6) else None
        if linktype == DLT_LINUX_SLL2:
            sll2 = dpkt.sll2.SLL2(buf)
            inner = sll2.data
            return bytes(inner) if isinstance(inner, dpkt.ip.IP | dpkt.ip6.IP6) else None
        if linktype in (DLT_RAW, DLT_RAW_A, DLT_RAW_B, DLT_IPV4, DLT_IPV6):
            return buf
        if linktype in (DLT_NULL, DLT_LOOP):
            return buf[4:]
    except (dpkt.dpkt.UnpackError, dpkt.dpkt.NeedData, struct.error, ValueError, IndexError):
        return None
    return None


def _transport(ip_raw: bytes) -> tuple[int, bytes, bytes, bytes] | None:
    """(proto, src ip, dst ip, l4 bytes) of an unfragmented IPv4/IPv6 packet, else None."""
    if not ip_raw:
        return None
    version = ip_raw[0] >> 4
    try:
        if version == 4:
            ip4 = dpkt.ip.IP(ip_raw)
            if ip4.offset or ip4.mf:
                return None
            return ip4.p, ip4.src, ip4.dst, bytes(ip4.data)
        if version == 6:
            ip6 = dpkt.ip6.IP6(ip_raw)
            return ip6.p, ip6.src, ip6.dst, bytes(ip6.data)
    except (dpkt.dpkt.UnpackError, dpkt.dpkt.NeedData, struct.error, ValueError, IndexError):
        return None
    return None


def read_flows(path: Path) -> list[Flow]:
    """Every TCP/UDP flow of the capture, in order of first appearance."""
    flows: dict[tuple[int, frozenset[str]], Flow] = {}
    for linktype, buf in _packets(path):
        ip_raw = _ip_layer(linktype, buf)
        if ip_raw is None:
            continue
        parsed = _transport(ip_raw)
        if parsed is None:
            continue
        proto, src, dst, l4 = parsed
        try:
            if proto == 6:
                tcp = dpkt.tcp.TCP(l4)
                sport, dport, payload = tcp.sport, tcp.dport, bytes(tcp.data)
                flags, seq = tcp.flags, tcp.seq
            elif proto == 17:
                udp = dpkt.udp.UDP(l4)
                sport, dport = udp.sport, udp.dport
                payload = bytes(udp.data)[: max(0, udp.ulen - 8)]
                flags, seq = 0, 0
            else:
                continue
        except (dpkt.dpkt.UnpackError, dpkt.dpkt.NeedData, struct.error, ValueError):
            continue
        a, b = endpoint(src, sport), endpoint(dst, dport)
        key = (proto, frozenset((a, b)))
        flow = flows.get(key)
        syn = proto == 6 and bool(flags & dpkt.tcp.TH_SYN)
        ack = proto == 6 and bool(flags & dpkt.tcp.TH_ACK)
        if flow is None:
            client, server = (b, a) if (syn and ack) else (a, b)
            flow = flows[key] = Flow(transport=proto, client=client, server=server)
        flow.packets += 1
        direction = flow.c2s if a == flow.client else flow.s2c
        if proto == 6:
            if syn:
                direction.next_seq = (seq + 1) & 0xFFFFFFFF
            if payload:
                direction.add_tcp(seq, payload)
        elif payload:
            direction.add(payload)
    return list(flows.values())


def read_ground_truth(path: Path = GROUND_TRUTH) -> list[dict[str, str]]:
    """Rows of the ground-truth TSV as dicts keyed by the header names."""
    lines = path.read_text(encoding="utf-8").splitlines()
    header = lines[0].split("\t")
    rows = []
    for line in lines[1:]:
        if not line.strip():
            continue
        cells = line.split("\t")
        cells += [""] * (len(header) - len(cells))
        rows.append(dict(zip(header, cells, strict=False)))
    return rows
