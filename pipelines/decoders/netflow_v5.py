"""NetFlow v5 decoder: fixed layout, so headers are read with numpy and records in one kernel.

Header (24 bytes): version, count, sysUptime ms, unix_secs, unix_nsecs, flow_sequence,
engine_type, engine_id, sampling_interval. Records: 48 bytes each, IPv4 only. The stream is
(exporter, engine_type << 8 | engine_id); flow_sequence counts flows, so a gap is lost flows.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from pipelines.decoders.flow_kernels import decode_v5 as _decode_v5
from pipelines.decoders.flow_kernels import track_sequences
from pipelines.decoders.flowrec import FlowRecords, empty_records
from pipelines.decoders.flowstate import FlowState

I64 = npt.NDArray[np.int64]
U32 = npt.NDArray[np.uint32]
U8 = npt.NDArray[np.uint8]

HEADER_LEN = 24
RECORD_LEN = 48
GAP_LIMIT = 1 << 24  # flows; a larger forward jump is an exporter restart
REORDER_LIMIT = 30 * 64  # flows; a smaller step back is a reordered datagram


def be(buf: U8, pos: I64, width: int) -> I64:
    """Big-endian unsigned integers of `width` bytes at each position (vectorised)."""
    v = np.zeros(len(pos), dtype=np.int64)
    for k in range(width):
        v = (v << 8) | buf[pos + k]
    return v


def decode(
    state: FlowState, buf: U8, offsets: I64, lengths: I64, exporters: U32, now: float
) -> FlowRecords:
    """Decode a batch of v5 datagrams (all with version 5) into flow records."""
    del now  # v5 keeps no time-bounded state
    ok = lengths >= HEADER_LEN
    state.tally.malformed_datagrams += int(np.count_nonzero(~ok))
    off, ln, exp = offsets[ok], lengths[ok], exporters[ok]
    if not len(off):
        return empty_records()
    engine = be(buf, off + 20, 2)
    slot = state.slots_for(exp, np.full(len(off), 5, dtype=np.int64), engine)
    good = slot >= 0
    state.tally.datagrams_refused += int(np.count_nonzero(~good))
    slots = state.slots
    np.add.at(slots["datagrams"], slot[good], 1)
    counts = be(buf, off + 2, 2)
    out = empty_records(int(np.minimum(counts, (ln - HEADER_LEN) // RECORD_LEN)[good].sum()))
    bad = np.zeros(len(off), dtype=np.uint8)
    n = _decode_v5(buf, off, ln, slot, exp, slots["records"], slots["nosamp"], out, bad)
    state.tally.malformed_datagrams += int(np.count_nonzero(bad))
    track_sequences(
        slot,
        be(buf, off + 16, 4),
        counts,
        be(buf, off + 4, 4),
        GAP_LIMIT,
        REORDER_LIMIT,
        slots["expected"],
        slots["uptime"],
        slots["gaps"],
        slots["lost"],
        slots["reordered"],
        slots["restarts"],
    )
    return out[:n]
