"""Flow records: the one output type of every flow-export decoder (NetFlow v5/v9, IPFIX, sFlow).

Addresses follow `pipelines.batch`: two uint64 words, IPv4 as IPv4-mapped IPv6. Counters are
as exported (unscaled); `sampling` says how to scale them (1-in-N, 0 = unknown), so a detector
can report both the observed and the estimated volume.

`DecodeStats` holds the counters a collector exposes as metrics. Their labels are bounded: the
exporter (a router we are configured to hear) and the export version, never a subscriber.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

import numpy as np
import numpy.typing as npt

FLOWREC_DTYPE = np.dtype(
    [
        ("first_ts", np.float64),  # epoch seconds of the flow's first packet
        ("last_ts", np.float64),  # epoch seconds of the flow's last packet
        ("src_hi", np.uint64),
        ("src_lo", np.uint64),
        ("dst_hi", np.uint64),
        ("dst_lo", np.uint64),
        ("packets", np.uint64),  # as exported, not scaled by sampling
        ("bytes", np.uint64),  # as exported, not scaled by sampling
        ("sampler", np.uint64),  # samplerId (IE 48) / selectorId (IE 302) of the record, 0 = none
        ("sampling", np.uint32),  # 1-in-N packet sampling; 1 = unsampled, 0 = unknown
        ("exporter", np.uint32),  # id in the decoder state's exporter table (never 0)
        ("domain", np.uint32),  # v9 source id / IPFIX observation domain / v5 engine type<<8|id
        ("sport", np.uint16),
        ("dport", np.uint16),
        ("proto", np.uint8),
        ("tcp_flags", np.uint8),
        ("family", np.uint8),  # 4, 6, or 0 when the record carries no address
        ("version", np.uint8),  # 5, 9 or 10 (IPFIX)
    ],
    align=True,
)

FlowRecords = npt.NDArray[np.void]


def empty_records(n: int = 0) -> FlowRecords:
    """An uninitialised record array (kernels fill every field of the rows they keep)."""
    return np.empty(n, dtype=FLOWREC_DTYPE)


@dataclass(slots=True)
class ExporterStats:
    """Counters of one (exporter, export version): a bounded label set for metrics.

    `lost` is in the unit the version's sequence number counts: flows for v5, export packets
    for v9, data records for IPFIX.
    """

    datagrams: int = 0
    records: int = 0
    records_no_sampling: int = 0
    sequence_gaps: int = 0
    lost: int = 0
    reordered: int = 0
    restarts: int = 0


@dataclass(slots=True)
class DecodeStats:
    """Decoder counters (monotonic, then a few gauges); `exporters` is keyed by
    (exporter address, version)."""

    datagrams: int = 0
    records: int = 0
    malformed_datagrams: int = 0
    unknown_versions: int = 0
    datagrams_refused: int = 0  # exporter or stream table full
    template_misses: int = 0  # data sets whose template was unknown on arrival
    sets_held: int = 0
    held_sets_decoded: int = 0
    records_decoded_late: int = 0
    held_sets_expired: int = 0
    held_sets_dropped: int = 0  # hold buffer full
    templates_learned: int = 0
    templates_refreshed: int = 0  # same id, same layout
    templates_changed: int = 0  # same id, new layout
    templates_withdrawn: int = 0
    templates_refused: int = 0  # template table full
    options_records: int = 0
    records_no_sampling: int = 0
    sequence_gaps: int = 0
    lost: int = 0
    reordered: int = 0
    exporter_restarts: int = 0
    templates_live: int = 0  # gauges from here on
    held_sets_now: int = 0
    held_bytes_now: int = 0  # including the per-set overhead charged against the bound
    exporters: dict[tuple[str, int], ExporterStats] = field(default_factory=dict)

    def copy(self) -> DecodeStats:
        """A detached snapshot (the per-exporter entries are copied too)."""
        out = DecodeStats(**{f.name: getattr(self, f.name) for f in fields(self)})
        out.exporters = {
            k: ExporterStats(**{f.name: getattr(v, f.name) for f in fields(v)})
            for k, v in self.exporters.items()
        }
        return out
