"""Flow records (NetFlow v5/v9, IPFIX, sFlow sampled headers without payload) → hits.

A flow record is one direction of a connection, counted by a router, maybe sampled. We orient
each record to (client, server) with the same port heuristic the flow table uses, scale its
counters by the sampling rate (flow counts are not scaled), and run the flow-level detectors on
whole arrays: block lists, DNS-learned endpoints, remembered miner–pool pairs, and the behaviour
score. Only records with evidence become Python objects; they go to the `Aggregator`, which
reports per (subscriber, pool endpoint).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numba as nb
import numpy as np
import numpy.typing as npt

from detector.base import Evidence
from detector.behaviour import Behaviour
from detector.context import DetectContext
from detector.flowlevel import FLOW_DETECTORS, FlowDetector
from detector.hits import build_hit, flow_dict
from pipelines.aggregate import Aggregator
from pipelines.decoders.flowrec import FlowRecords
from pipelines.flows import FLOW_DTYPE, Flows

ON_RECORD = ("ip-list", "dns-learned", "pair-cache")
SourceName = Callable[[int], str]  # exporter id → label such as "netflow:192.0.2.1"


@nb.njit(cache=True)
def _orient(recs, out, rows):  # type: ignore[no-untyped-def]
    """One pass: keep TCP/UDP records with addresses, oriented to (client, server)."""
    n = 0
    for i in range(recs.shape[0]):
        r = recs[i]
        if r.family == 0 or (r.proto != 6 and r.proto != 17):
            continue
        sp, dp = np.int64(r.sport), np.int64(r.dport)
        se, de = sp >= 32768, dp >= 32768
        src_client = se if se != de else sp > dp
        f = out[n]
        f.proto, f.family = r.proto, r.family
        f.first_ts, f.last_ts = r.first_ts, r.last_ts
        if src_client:
            f.c_hi, f.c_lo, f.cport = r.src_hi, r.src_lo, r.sport
            f.s_hi, f.s_lo, f.sport = r.dst_hi, r.dst_lo, r.dport
            f.pkts_c2s, f.bytes_c2s, f.flags_c2s = r.packets, r.bytes, r.tcp_flags
        else:
            f.c_hi, f.c_lo, f.cport = r.dst_hi, r.dst_lo, r.dport
            f.s_hi, f.s_lo, f.sport = r.src_hi, r.src_lo, r.sport
            f.pkts_s2c, f.bytes_s2c, f.flags_s2c = r.packets, r.bytes, r.tcp_flags
        rows[n] = i
        n += 1
    return n


def orient(recs: FlowRecords) -> tuple[Flows, npt.NDArray[np.int64]]:
    """Flow-table rows from the connection records (TCP/UDP with addresses — not options data,
    not ICMP, whose "ports" are type/code: a ping to a pool is not mining, and the pcap path
    agrees), and the record row of each. The side with the ephemeral (or higher) port is the
    client; the record's counters go to the direction it was counted in, unscaled."""
    out = np.zeros(len(recs), dtype=FLOW_DTYPE)
    rows = np.empty(len(recs), dtype=np.int64)
    n = _orient(recs, out, rows) if len(recs) else 0
    return out[:n], rows[:n]


@dataclass(slots=True)
class RecordStats:
    records: int = 0
    with_address: int = 0
    evidence: int = 0  # records with at least one (non-weak) piece of evidence
    behaviour: int = 0


class RecordStage:
    """Detects on batches of flow records and hands hits to the aggregator."""

    def __init__(
        self, ctx: DetectContext, aggregator: Aggregator, source_name: SourceName,
        *, behaviour: Behaviour | None = None,
    ) -> None:  # fmt: skip
        self.ctx = ctx
        self.aggregator = aggregator
        self.source_name = source_name
        self.detectors: list[FlowDetector] = [FLOW_DETECTORS[n] for n in ON_RECORD]
        self.behaviour = behaviour or Behaviour()
        self.stats = RecordStats()

    def feed(self, recs: FlowRecords) -> int:
        """Detect on one batch of records; returns how many carried evidence."""
        self.stats.records += len(recs)
        flows, rows = orient(recs)
        self.stats.with_address += len(flows)
        if not len(flows):
            return 0
        sampling = recs["sampling"][rows]
        now = float(flows["last_ts"].max())
        found: dict[int, list[Evidence]] = {}
        for det in self.detectors:
            for row, ev in det.check(self.ctx, flows, now):
                found.setdefault(row, []).append(ev)
        for row, ev in self.behaviour.check(self.ctx, flows, now, sampling):
            found.setdefault(row, []).append(ev)
            self.stats.behaviour += 1
        n = 0
        for row in sorted(found):
            evidence = found[row]
            if all(e.weak for e in evidence):
                continue
            rec = recs[rows[row]]
            hit = build_hit(self.source_name(int(rec["exporter"])), flow_dict(flows[row]), evidence)
            if hit is None:
                continue
            self.aggregator.add(hit, int(rec["sampling"]))
            n += 1
        self.stats.evidence += n
        return n
