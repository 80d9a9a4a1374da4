"""Flow-export dispatcher: route a batch of received datagrams to the decoder of their format.

The receive loop hands over what it got as one concatenated byte buffer plus per-datagram
offsets, lengths and exporter ids (`FlowState.exporter_id(address)`), and the time it was
handed over (`now`, used only to expire held data). The format is read from the first bytes:
NetFlow v5/v9 and IPFIX start with a 16-bit version (5, 9, 10); sFlow starts with a 32-bit
version 5, which reads as 16-bit 0 and gets its own key (`SFLOW_V5`) for its decoder.

Records come back grouped by decoder (within a group in arrival order).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from pipelines.decoders import netflow_v5, netflow_v9
from pipelines.decoders.flowrec import FlowRecords, empty_records
from pipelines.decoders.flowstate import FlowState

I64 = npt.NDArray[np.int64]
U32 = npt.NDArray[np.uint32]
U8 = npt.NDArray[np.uint8]

FlowDecoder = Callable[[FlowState, U8, I64, I64, U32, float], FlowRecords]

SFLOW_V5 = 0x1_0005  # format key of a datagram whose first 32 bits are 5

FLOW_DECODERS: dict[int, FlowDecoder] = {
    5: netflow_v5.decode,
    9: netflow_v9.decode,
    10: netflow_v9.decode,
}


def formats(buf: U8, offsets: I64, lengths: I64) -> I64:
    """Format key per datagram: the 16-bit version, SFLOW_V5, or -1 when too short."""
    key = np.full(len(offsets), -1, dtype=np.int64)
    ok = lengths >= 4
    o = offsets[ok]
    v16 = (buf[o].astype(np.int64) << 8) | buf[o + 1]
    v32 = (v16 << 16) | (buf[o + 2].astype(np.int64) << 8) | buf[o + 3]
    key[ok] = np.where(v32 == 5, SFLOW_V5, v16)
    return key


def decode_batch(
    state: FlowState, buf: U8, offsets: I64, lengths: I64, exporters: U32, now: float
) -> FlowRecords:
    """Decode every datagram of a batch; never raises on datagram content."""
    offsets = np.ascontiguousarray(offsets, dtype=np.int64)
    lengths = np.ascontiguousarray(lengths, dtype=np.int64)
    exporters = np.ascontiguousarray(exporters, dtype=np.uint32)
    inside = (offsets >= 0) & (lengths >= 0) & (offsets + lengths <= len(buf))
    if not inside.all():
        raise ValueError("datagram offsets/lengths point outside the buffer")
    state.tally.datagrams += len(offsets)
    key = formats(buf, offsets, lengths)
    parts = []
    handled = np.zeros(len(key), dtype=np.bool_)
    by_decoder: dict[FlowDecoder, list[int]] = {}
    for fmt, dec in FLOW_DECODERS.items():
        by_decoder.setdefault(dec, []).append(fmt)
    for dec, fmts in by_decoder.items():
        m = np.zeros(len(key), dtype=np.bool_)
        for fmt in fmts:
            m |= key == fmt
        if m.any():
            handled |= m
            parts.append(dec(state, buf, offsets[m], lengths[m], exporters[m], now))
    short = key < 0
    state.tally.malformed_datagrams += int(np.count_nonzero(short))
    state.tally.unknown_versions += int(np.count_nonzero(~handled & ~short))
    if not parts:
        return empty_records()
    return np.concatenate(parts) if len(parts) > 1 else parts[0]


def decode_datagram(state: FlowState, data: bytes, exporter: str, now: float) -> FlowRecords:
    """One datagram from `exporter` (its address); convenient for tests and replay."""
    buf = np.frombuffer(data, dtype=np.uint8)
    eid = state.exporter_id(exporter)
    return decode_batch(
        state,
        buf,
        np.zeros(1, np.int64),
        np.array([len(data)], np.int64),
        np.array([eid], np.uint32),
        now,
    )


def pack(datagrams: list[bytes]) -> tuple[U8, I64, I64]:
    """Concatenate datagrams into (buf, offsets, lengths), as a receive loop would."""
    lengths = np.array([len(d) for d in datagrams], dtype=np.int64)
    offsets = np.zeros(len(datagrams), dtype=np.int64)
    if len(datagrams) > 1:
        np.cumsum(lengths[:-1], out=offsets[1:])
    return np.frombuffer(b"".join(datagrams), dtype=np.uint8), offsets, lengths
