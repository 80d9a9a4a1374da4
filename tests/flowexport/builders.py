"""Hand-built NetFlow v5 / v9 / IPFIX datagrams (struct), from the RFC layouts."""

from __future__ import annotations

import ipaddress
import struct
from collections.abc import Sequence
from typing import Any

import numpy as np

from pipelines.batch import addr_text
from pipelines.decoders.flowexport import decode_batch, pack
from pipelines.decoders.flowrec import FlowRecords
from pipelines.decoders.flowstate import FlowState

EXPORT = 1_700_000_000  # export time of the built datagrams
UPTIME = 3_600_000  # sysUptime ms of the built v5/v9 datagrams

Field = tuple[int, ...]  # (ie, length) or (ie, length, pen)
VAR = 65535

# A plain IPv4 5-tuple layout with full-size counters and v9 uptime times.
V4_FIELDS: list[Field] = [(8, 4), (12, 4), (7, 2), (11, 2), (4, 1), (6, 1), (2, 8), (1, 8)]
V4_TIMES = [*V4_FIELDS, (22, 4), (21, 4)]


# ---- v5 -----------------------------------------------------------------------------------
def v5_record(
    src: str = "10.0.0.1",
    dst: str = "192.0.2.7",
    sport: int = 40000,
    dport: int = 3333,
    proto: int = 6,
    packets: int = 10,
    octets: int = 1000,
    first: int = UPTIME - 5000,
    last: int = UPTIME - 1000,
    flags: int = 0x1B,
) -> bytes:
    return struct.pack(
        ">4s4s4sHHIIIIHHBBBBHHBBH",
        ipaddress.IPv4Address(src).packed,
        ipaddress.IPv4Address(dst).packed,
        b"\0\0\0\0",
        1,
        2,
        packets,
        octets,
        first,
        last,
        sport,
        dport,
        0,
        flags,
        proto,
        0,
        0,
        0,
        24,
        24,
        0,
    )


def v5(
    records: Sequence[bytes],
    *,
    seq: int = 0,
    uptime: int = UPTIME,
    secs: int = EXPORT,
    engine: tuple[int, int] = (0, 0),
    sampling: int = 0,
    count: int | None = None,
) -> bytes:
    n = len(records) if count is None else count
    hdr = struct.pack(">HHIIIIBBH", 5, n, uptime, secs, 0, seq, *engine, sampling)
    return hdr + b"".join(records)


# ---- template records, sets, messages -----------------------------------------------------
def _spec(f: Field, ipfix: bool) -> bytes:
    ie, length = f[0], f[1]
    pen = f[2] if len(f) == 3 else 0
    if pen and ipfix:
        return struct.pack(">HHI", ie | 0x8000, length, pen)
    return struct.pack(">HH", ie, length)


def template(tid: int, fields: Sequence[Field], ipfix: bool = True) -> bytes:
    return struct.pack(">HH", tid, len(fields)) + b"".join(_spec(f, ipfix) for f in fields)


def options_template_ipfix(tid: int, scope: Sequence[Field], fields: Sequence[Field]) -> bytes:
    head = struct.pack(">HHH", tid, len(scope) + len(fields), len(scope))
    return head + b"".join(_spec(f, True) for f in [*scope, *fields])


def options_template_v9(tid: int, scope: Sequence[Field], fields: Sequence[Field]) -> bytes:
    head = struct.pack(">HHH", tid, 4 * len(scope), 4 * len(fields))
    return head + b"".join(_spec(f, False) for f in [*scope, *fields])


def set_(set_id: int, body: bytes, pad: bool = False) -> bytes:
    if pad and len(body) % 4:
        body += b"\0" * (4 - len(body) % 4)
    return struct.pack(">HH", set_id, 4 + len(body)) + body


def ipfix(sets: Sequence[bytes], *, seq: int = 0, domain: int = 0, export: int = EXPORT) -> bytes:
    body = b"".join(sets)
    return struct.pack(">HHIII", 10, 16 + len(body), export, seq, domain) + body


def v9(
    sets: Sequence[bytes],
    *,
    seq: int = 0,
    source: int = 0,
    uptime: int = UPTIME,
    secs: int = EXPORT,
    count: int = 0,
) -> bytes:
    return struct.pack(">HHIIII", 9, count, uptime, secs, seq, source) + b"".join(sets)


# ---- data records ---------------------------------------------------------------------------
def value(v: int | str | bytes | float, length: int) -> bytes:
    """Encode one field value: addresses from text, ints big-endian, bytes as given."""
    if isinstance(v, str):
        return ipaddress.ip_address(v).packed
    if isinstance(v, bytes):
        if length == VAR:
            return (bytes([len(v)]) if len(v) < 255 else b"\xff" + struct.pack(">H", len(v))) + v
        return v
    if isinstance(v, float):
        return struct.pack(">d" if length == 8 else ">f", v)
    return v.to_bytes(length, "big")


def record(fields: Sequence[Field], values: Sequence[Any]) -> bytes:
    return b"".join(value(v, f[1]) for f, v in zip(fields, values, strict=True))


def flow_values(
    src: str = "10.0.0.1",
    dst: str = "192.0.2.7",
    sport: int = 40000,
    dport: int = 3333,
    proto: int = 6,
    flags: int = 0x18,
    packets: int = 10,
    octets: int = 1000,
) -> list[int | str | bytes | float]:
    """Values in V4_FIELDS order."""
    return [src, dst, sport, dport, proto, flags, packets, octets]


# ---- decoding helpers -----------------------------------------------------------------------
def decode(
    state: FlowState, datagrams: Sequence[bytes], exporter: str = "192.0.2.1", now: float = 0.0
) -> FlowRecords:
    """Decode datagrams as one batch from one exporter."""
    buf, off, ln = pack(list(datagrams))
    eid = state.exporter_id(exporter)
    return decode_batch(state, buf, off, ln, np.full(len(off), eid, np.uint32), now)


def tuples(recs: FlowRecords) -> list[tuple[str, str, int, int, int, int, int]]:
    """(src, dst, sport, dport, proto, packets, bytes) per record."""
    return [
        (
            addr_text(int(r["src_hi"]), int(r["src_lo"])),
            addr_text(int(r["dst_hi"]), int(r["dst_lo"])),
            int(r["sport"]),
            int(r["dport"]),
            int(r["proto"]),
            int(r["packets"]),
            int(r["bytes"]),
        )
        for r in recs
    ]
