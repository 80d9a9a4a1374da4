"""sFlow version 5 decoder: datagram bytes + explicit sequence state in, columnar batches out.

Every raw packet header (flow record 0:1) becomes one capture record pointing into the caller's
buffer, so `pipelines.decoders.packet.decode` and the payload signatures run on sampled packets
exactly as on captured ones. Beside the records, one row per packet says where it was sampled:
sampling rate, agent, sub-agent, data source, interfaces. Sampled IPv4/IPv6 records (0:3, 0:4)
carry no payload and become flow rows, unless their sample also has the raw header (the same
packet twice). Counter samples are counted, not decoded. Nothing here does I/O; the receive loop
hands over datagrams, their receive times, and one `SflowState` per decoding process.

Why counts are what they are:
- `drops` in a flow sample is the agent's cumulative count since it (or the sampler) was reset,
  so the decoder adds increases per source, never the raw values.
- A datagram sequence counts per (agent, sub-agent); a flow-sample sequence per data source. A
  gap is lost datagrams/samples; a big step back, or uptime going back, is a restart, not a gap.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TypeAlias

import numpy as np
import numpy.typing as npt

from pipelines.batch import RECORD_DTYPE, U8, PacketBatch, RecordChunk
from pipelines.decoders import sflow_kernel as k
from pipelines.decoders.packet import decode
from pipelines.decoders.sflow_seq import SflowState, track_batch

# One row per datagram of the input batch.
DATAGRAM_DTYPE = np.dtype(
    [
        ("status", np.uint8),  # DG_OK, DG_PARTIAL, DG_TRUNCATED, DG_VERSION
        ("agent_hi", np.uint64),  # agent address, pipelines.batch convention (IPv4-mapped)
        ("agent_lo", np.uint64),
        ("sub_agent", np.uint32),
        ("seq", np.uint32),
        ("uptime", np.uint32),  # ms since the agent booted
        ("samples", np.uint32),  # as declared by the datagram
    ],
    align=True,
)

# One row per decoded flow sample (compact or expanded).
SAMPLE_DTYPE = np.dtype(
    [
        ("datagram", np.int64),  # index of its datagram in the input batch
        ("agent_hi", np.uint64),
        ("agent_lo", np.uint64),
        ("sub_agent", np.uint32),
        ("seq", np.uint32),  # flow-sample sequence number of its source
        ("source_type", np.uint32),  # 0 ifIndex, 1 smonVlanDataSource, 2 entPhysicalEntry
        ("source_index", np.uint32),
        ("sampling_rate", np.uint32),  # 1-in-N; 0 = the agent sent none
        ("sample_pool", np.uint32),
        ("drops", np.uint32),  # cumulative, as sent
        ("input", np.uint32),  # ifIndex (0 unknown)
        ("output", np.uint32),  # ifIndex, discard reason or interface count, per output_format
        ("output_format", np.uint8),  # 0 ifIndex, 1 packet discarded, 2 several interfaces
        ("expanded", np.uint8),  # 1 for flow_sample_expanded (0:3)
        ("records", np.uint32),
    ],
    align=True,
)

# The sample context every emitted packet and flow carries (copied from its sample).
_CONTEXT = [
    ("sampling_rate", np.uint32),
    ("agent_hi", np.uint64),
    ("agent_lo", np.uint64),
    ("sub_agent", np.uint32),
    ("source_type", np.uint32),
    ("source_index", np.uint32),
    ("input", np.uint32),
    ("output", np.uint32),
    ("output_format", np.uint8),
    ("sample", np.int64),  # row in `SflowBatch.samples`
    ("datagram", np.int64),  # index of the datagram in the input batch (join the exporter here)
]

# Parallel to the capture records: one row per raw packet header.
SAMPLED_DTYPE = np.dtype(
    [
        *_CONTEXT,
        ("header_protocol", np.uint32),  # sFlow enum: 1 Ethernet, 11 IPv4, 12 IPv6, ...
        ("frame_length", np.uint32),  # original frame length as sent (may include the FCS)
        ("stripped", np.uint32),  # bytes the agent removed (e.g. the FCS) before the header
    ],
    align=True,
)

# Sampled IPv4/IPv6 records (no payload): one sampled packet each.
FLOW_DTYPE = np.dtype(
    [
        ("ts", np.float64),  # receive time of the datagram
        ("family", np.uint8),
        ("proto", np.uint8),
        ("tcp_flags", np.uint8),
        ("tos", np.uint8),  # IPv4 ToS or IPv6 priority
        ("src_hi", np.uint64),
        ("src_lo", np.uint64),
        ("dst_hi", np.uint64),
        ("dst_lo", np.uint64),
        ("sport", np.uint16),
        ("dport", np.uint16),
        ("ip_len", np.uint32),
        *_CONTEXT,
    ],
    align=True,
)

Rows: TypeAlias = npt.NDArray[np.void]
I64: TypeAlias = npt.NDArray[np.int64]
F64: TypeAlias = npt.NDArray[np.float64]

# sFlow header_protocol → LINKTYPE_* for the packet decoder; unlisted → 0xFFFF (unsupported).
HEADER_LINKTYPES = {1: 1, 3: 6, 4: 10, 7: 9, 11: 228, 12: 229, 13: 219, 14: 50, 15: 105}
_LT_MAP = np.full(32, 0xFFFF, dtype=np.uint16)
for _proto, _lt in HEADER_LINKTYPES.items():
    _LT_MAP[_proto] = _lt

SAMPLE_KINDS = {
    k.C_S_FLOW: "flow",
    k.C_S_FLOW_EXP: "flow-expanded",
    k.C_S_COUNTERS: "counters",
    k.C_S_COUNTERS_EXP: "counters-expanded",
    k.C_S_DISCARDED: "discarded",
    k.C_S_OTHER: "other",
}
FLOW_FORMATS = {
    1: "sampled-header", 2: "sampled-ethernet", 3: "sampled-ipv4", 4: "sampled-ipv6",
    1001: "extended-switch", 1002: "extended-router", 1003: "extended-gateway",
    1004: "extended-user", 1005: "extended-url", 1006: "extended-mpls", 1007: "extended-nat",
    1008: "extended-mpls-tunnel", 1009: "extended-mpls-vc", 1010: "extended-mpls-ftn",
    1011: "extended-mpls-ldp-fec", 1012: "extended-vlan-tunnel",
}  # fmt: skip
COUNTER_FORMATS = {
    1: "generic-interface", 2: "ethernet", 3: "token-ring", 4: "vg", 5: "vlan",
    1001: "processor",
}  # fmt: skip


def _slot_labels(names: dict[int, str]) -> list[str]:
    """Label of each histogram slot of `sflow_kernel._fmt_slot` (bounded: 128 values)."""
    labels = ["other"] * k.N_FORMAT_SLOTS
    for first, stop, base in k.FORMAT_SLOT_RANGES:
        for fmt in range(first, stop):
            labels[base + fmt - first] = names.get(fmt, str(fmt))
    return labels


_FLOW_LABELS = _slot_labels(FLOW_FORMATS)
_COUNTER_LABELS = _slot_labels(COUNTER_FORMATS)


@dataclass(slots=True)
class SflowStats:
    """Decoder counters, all monotonic; label values are bounded (kinds and format names)."""

    datagrams: int = 0
    bytes: int = 0
    bad_version: int = 0  # not sFlow v5 (not decoded)
    malformed_datagrams: int = 0  # header cut short, or samples dropped (the others kept)
    malformed_samples: int = 0  # samples whose contents did not fit (dropped whole)
    samples: Counter[str] = field(default_factory=Counter)  # by kind (SAMPLE_KINDS)
    flow_records: Counter[str] = field(default_factory=Counter)  # by format name
    counter_records: Counter[str] = field(default_factory=Counter)  # by format name
    unknown_records: int = 0  # flow records of formats not in FLOW_FORMATS, skipped by length
    packets: int = 0  # raw packet headers emitted
    flows: int = 0  # sampled IPv4/IPv6 records emitted
    shadowed_flows: int = 0  # sampled IPv4/IPv6 records beside a raw header (not emitted)
    no_sampling_rate: int = 0  # flow samples with sampling_rate 0
    drops: int = 0  # increase of the agents' cumulative drop counters
    lost_datagrams: int = 0  # missing datagram sequence numbers per (agent, sub-agent)
    lost_samples: int = 0  # missing flow-sample sequence numbers per source
    restarts: int = 0  # agent / sub-agent restarts
    sampler_resets: int = 0  # one source's sample sequence restarted
    reordered_datagrams: int = 0  # late or repeated datagrams (their samples not tracked)
    reordered_samples: int = 0
    untracked: int = 0  # datagrams + samples not tracked because the state table was full

    def items(self) -> Iterator[tuple[str, dict[str, str], int]]:
        """(metric name, labels, value) for an exporter; names without prefix or suffix."""
        for name in self.__slots__:
            value = getattr(self, name)
            if isinstance(value, Counter):
                label = "kind" if name == "samples" else "format"
                for key, count in sorted(value.items()):
                    yield name, {label: key}, count
            else:
                yield name, {}, value


@dataclass(slots=True)
class SflowBatch:
    """What one batch of datagrams decoded into.

    `chunk.records` locate the raw packet headers inside `chunk.buf`, which is the caller's
    buffer (not copied: valid as long as the caller leaves it unchanged); `sampled` is parallel
    to the records. `flows` holds the sampled IPv4/IPv6 records, `samples` every flow sample
    and `datagrams` every input datagram, in input order.
    """

    chunk: RecordChunk
    sampled: Rows
    flows: Rows
    samples: Rows
    datagrams: Rows

    def packet_batch(self) -> PacketBatch:
        """The raw headers decoded by the packet path, ready for `FlowStage.feed`."""
        buf, records = self.chunk.buf, self.chunk.records
        sampling = np.ascontiguousarray(self.sampled["sampling_rate"], dtype=np.uint32)
        return PacketBatch(buf, records, decode(buf, records), sampling)


def pack(datagrams: Sequence[bytes]) -> tuple[U8, I64, I64]:
    """Concatenate datagrams into one buffer + offsets + lengths (one copy)."""
    lengths = np.fromiter((len(d) for d in datagrams), dtype=np.int64, count=len(datagrams))
    offsets = np.zeros(len(datagrams), dtype=np.int64)
    np.cumsum(lengths[:-1], out=offsets[1:])
    buf = np.frombuffer(bytearray(b"".join(datagrams)), dtype=np.uint8)
    return buf, offsets, lengths


def decode_datagram(data: bytes, ts: float, state: SflowState, stats: SflowStats) -> SflowBatch:
    """Decode one datagram (convenience; batches amortise the per-call cost)."""
    buf, offsets, lengths = pack([data])
    return decode_datagrams(buf, offsets, lengths, ts, state, stats)


def decode_datagrams(
    buf: U8,
    offsets: I64,
    lengths: I64,
    ts: F64 | float,
    state: SflowState,
    stats: SflowStats,
) -> SflowBatch:
    """Decode the datagrams buf[offsets[i] : offsets[i] + lengths[i]], received at ts[i].

    Garbage never raises: it is counted in `stats` and the good samples around it are kept.
    ValueError only for inconsistent arguments (a caller bug, not bad data).
    """
    offsets = np.ascontiguousarray(offsets, dtype=np.int64)
    lengths = np.ascontiguousarray(lengths, dtype=np.int64)
    n = len(offsets)
    if np.ndim(ts) == 0:
        times = np.full(n, ts, dtype=np.float64)
    else:
        times = np.ascontiguousarray(ts, dtype=np.float64)
    if (
        buf.dtype != np.uint8
        or buf.ndim != 1
        or lengths.shape != (n,)
        or times.shape != (n,)
        or (n and (offsets.min() < 0 or lengths.min() < 0 or (offsets + lengths).max() > len(buf)))
    ):
        raise ValueError("offsets/lengths/ts must describe datagrams inside a 1-D uint8 buffer")
    dgs = np.empty(n, dtype=DATAGRAM_DTYPE)
    tally = np.zeros(_TALLY, dtype=np.int64)  # kernel counters + both format histograms
    counts, flow_fmt, ctr_fmt = tally[: k.N_COUNTS], tally[_FLOW_AT:_CTR_AT], tally[_CTR_AT:]
    sizes = (0, 0, 0)
    if n:  # a counting pass, then the filling pass into exactly sized arrays
        dry = np.zeros(_TALLY, dtype=np.int64)
        sizes = k.walk(buf, offsets, lengths, times, _LT_MAP, False, dgs, _SMP0, _REC0, _PKT0,
                       _FLOW0, dry[: k.N_COUNTS], dry[_FLOW_AT:_CTR_AT], dry[_CTR_AT:])  # fmt: skip
    smp = np.empty(sizes[0], dtype=SAMPLE_DTYPE)
    rec = np.empty(sizes[1], dtype=RECORD_DTYPE)
    pkt = np.empty(sizes[1], dtype=SAMPLED_DTYPE)
    flows = np.empty(sizes[2], dtype=FLOW_DTYPE)
    if n:
        k.walk(buf, offsets, lengths, times, _LT_MAP, True, dgs, smp, rec, pkt, flows, counts,
               flow_fmt, ctr_fmt)  # fmt: skip
        track_batch(state, dgs, smp, counts)
    _count(stats, dgs, int(lengths.sum()), sizes, tally)
    return SflowBatch(RecordChunk(buf, rec), pkt, flows, smp, dgs)


_FLOW_AT = k.N_COUNTS
_CTR_AT = _FLOW_AT + k.N_FORMAT_SLOTS
_TALLY = _CTR_AT + k.N_FORMAT_SLOTS
_SMP0 = np.empty(0, dtype=SAMPLE_DTYPE)
_REC0 = np.empty(0, dtype=RECORD_DTYPE)
_PKT0 = np.empty(0, dtype=SAMPLED_DTYPE)
_FLOW0 = np.empty(0, dtype=FLOW_DTYPE)


def _count(
    stats: SflowStats, dgs: Rows, total: int, sizes: tuple[int, int, int], counters: I64
) -> None:
    tally = counters.tolist()
    status = np.bincount(dgs["status"], minlength=4).tolist()
    stats.datagrams += len(dgs)
    stats.bytes += total
    stats.bad_version += status[k.DG_VERSION]
    stats.malformed_datagrams += status[k.DG_PARTIAL] + status[k.DG_TRUNCATED]
    stats.packets += sizes[1]
    stats.flows += sizes[2]
    for idx, kind in SAMPLE_KINDS.items():
        if tally[idx]:
            stats.samples[kind] += tally[idx]
    for at in np.flatnonzero(counters[_FLOW_AT:]).tolist():
        if at < k.N_FORMAT_SLOTS:
            stats.flow_records[_FLOW_LABELS[at]] += tally[_FLOW_AT + at]
        else:
            stats.counter_records[_COUNTER_LABELS[at - k.N_FORMAT_SLOTS]] += tally[_FLOW_AT + at]
    for name, idx in _SCALARS:
        setattr(stats, name, getattr(stats, name) + tally[idx])


_SCALARS = (
    ("malformed_samples", k.C_MALFORMED_SAMPLES),
    ("unknown_records", k.C_UNKNOWN_RECORDS),
    ("shadowed_flows", k.C_SHADOWED_FLOWS),
    ("no_sampling_rate", k.C_NO_RATE),
    ("drops", k.C_DROPS),
    ("lost_datagrams", k.C_LOST_DATAGRAMS),
    ("lost_samples", k.C_LOST_SAMPLES),
    ("restarts", k.C_RESTARTS),
    ("sampler_resets", k.C_SAMPLER_RESETS),
    ("reordered_datagrams", k.C_REORDERED_DATAGRAMS),
    ("reordered_samples", k.C_REORDERED_SAMPLES),
    ("untracked", k.C_UNTRACKED),
)


__all__ = [
    "DATAGRAM_DTYPE",
    "FLOW_DTYPE",
    "SAMPLED_DTYPE",
    "SAMPLE_DTYPE",
    "SflowBatch",
    "SflowState",
    "SflowStats",
    "decode_datagram",
    "decode_datagrams",
    "pack",
]
