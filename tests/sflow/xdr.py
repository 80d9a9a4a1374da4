"""A small sFlow v5 *encoder* for the tests, written from the spec (sflow_version_5.txt).

Independent of the decoder on purpose: plain `struct` packing, one function per XDR structure.
tshark's sFlow dissector checks what this writes (tests/sflow/test_oracle.py).
"""

from __future__ import annotations

import ipaddress
import struct
from pathlib import Path


def u32(*values: int) -> bytes:
    return struct.pack(f">{len(values)}I", *values)


def opaque(data: bytes) -> bytes:
    """XDR variable-length opaque: length, bytes, zero padding to 4."""
    return u32(len(data)) + data + b"\0" * (-len(data) % 4)


def record(fmt: int, body: bytes, enterprise: int = 0) -> bytes:
    """A flow/counter record or a sample record: data_format then opaque data."""
    return u32((enterprise << 12) | fmt) + opaque(body)


def address(text: str) -> bytes:
    ip = ipaddress.ip_address(text)
    return u32(1 if ip.version == 4 else 2) + ip.packed


# -- flow records ---------------------------------------------------------------------------


def sampled_header(
    frame: bytes,
    protocol: int = 1,
    *,
    max_header: int = 128,
    frame_length: int | None = None,
    stripped: int = 4,
) -> bytes:
    """Raw packet header (0:1): the first `max_header` bytes of `frame`. Like a switch, the
    frame length counts the 4-byte FCS by default and `stripped` says it was removed."""
    if frame_length is None:
        frame_length = len(frame) + stripped
    header = frame[:max_header]
    return record(1, u32(protocol, frame_length, stripped) + opaque(header))


def sampled_ipv4(
    src: str, dst: str, sport: int, dport: int, proto: int = 6, length: int = 100,
    tcp_flags: int = 0x18, tos: int = 0,
) -> bytes:  # fmt: skip
    body = u32(length, proto) + ipaddress.IPv4Address(src).packed
    body += ipaddress.IPv4Address(dst).packed + u32(sport, dport, tcp_flags, tos)
    return record(3, body)


def sampled_ipv6(
    src: str, dst: str, sport: int, dport: int, proto: int = 6, length: int = 100,
    tcp_flags: int = 0x18, priority: int = 0,
) -> bytes:  # fmt: skip
    body = u32(length, proto) + ipaddress.IPv6Address(src).packed
    body += ipaddress.IPv6Address(dst).packed + u32(sport, dport, tcp_flags, priority)
    return record(4, body)


def extended_switch(src_vlan: int = 10, dst_vlan: int = 20) -> bytes:
    return record(1001, u32(src_vlan, 0, dst_vlan, 0))


def extended_router(next_hop: str = "192.0.2.1") -> bytes:
    return record(1002, address(next_hop) + u32(24, 24))


# -- samples --------------------------------------------------------------------------------


def flow_sample(
    records: list[bytes],
    *,
    seq: int = 1,
    rate: int = 1000,
    source_index: int = 3,
    source_type: int = 0,
    pool: int | None = None,
    drops: int = 0,
    input_if: int = 3,
    output_if: int = 7,
    output_format: int = 0,
    expanded: bool = False,
) -> bytes:
    """Flow sample (0:1), or flow_sample_expanded (0:3) with 32-bit source and interfaces."""
    pool = (seq * rate) & 0xFFFFFFFF if pool is None else pool
    if expanded:
        head = u32(seq, source_type, source_index, rate, pool, drops)
        head += u32(0, input_if, output_format, output_if)
    else:
        head = u32(seq, (source_type << 24) | source_index, rate, pool, drops)
        head += u32(input_if, (output_format << 30) | output_if)
    return record(3 if expanded else 1, head + u32(len(records)) + b"".join(records))


def generic_interface_counters(if_index: int = 3) -> bytes:
    """Counter record 0:1 (88 bytes), values arbitrary but well-formed."""
    body = u32(if_index, 6) + struct.pack(">Q", 10_000_000_000) + u32(1, 3)
    body += struct.pack(">Q", 123_456) + u32(100, 1, 2, 0, 0, 0)
    body += struct.pack(">Q", 654_321) + u32(200, 3, 4, 0, 0, 0)
    assert len(body) == 88
    return record(1, body)


def counter_sample(
    records: list[bytes], *, seq: int = 1, source_index: int = 3, expanded: bool = False
) -> bytes:
    head = u32(seq, 0, source_index) if expanded else u32(seq, source_index)
    return record(4 if expanded else 2, head + u32(len(records)) + b"".join(records))


def datagram(
    samples: list[bytes],
    *,
    agent: str = "192.0.2.10",
    seq: int = 1,
    uptime: int = 60_000,
    sub_agent: int = 0,
    version: int = 5,
) -> bytes:
    return (
        u32(version)
        + address(agent)
        + u32(sub_agent, seq, uptime, len(samples))
        + b"".join(samples)
    )


# -- carrying datagrams to an oracle ----------------------------------------------------------


def udp_pcap(path: Path, datagrams: list[bytes], *, agent: str = "192.0.2.10") -> None:
    """Write the datagrams as UDP/6343 packets from `agent` to a pcap (for tshark)."""
    from scapy.layers.inet import IP, UDP
    from scapy.layers.l2 import Ether
    from scapy.utils import wrpcap

    frames = [
        Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")
        / IP(src=agent, dst="198.18.0.1")
        / UDP(sport=50000 + i % 1000, dport=6343)
        / d
        for i, d in enumerate(datagrams)
    ]
    for i, f in enumerate(frames):
        f.time = 1_714_521_600 + i
    wrpcap(str(path), frames)
