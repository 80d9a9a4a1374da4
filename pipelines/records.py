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


def orient(recs: FlowRecords) -> Flows:
    """Flow-table rows from flow records: the side with the ephemeral (or higher) port is the
    client; the record's counters go to the direction it was counted in, unscaled."""
    n = len(recs)
    out = np.zeros(n, dtype=FLOW_DTYPE)
    if not n:
        return out
    sp, dp = recs["sport"].astype(np.int64), recs["dport"].astype(np.int64)
    se, de = sp >= 32768, dp >= 32768
    src_client = np.where(se != de, se, sp > dp)
    for name, a, b in (("hi", "src_hi", "dst_hi"), ("lo", "src_lo", "dst_lo")):
        out[f"c_{name}"] = np.where(src_client, recs[a], recs[b])
        out[f"s_{name}"] = np.where(src_client, recs[b], recs[a])
    out["cport"] = np.where(src_client, recs["sport"], recs["dport"])
    out["sport"] = np.where(src_client, recs["dport"], recs["sport"])
    out["proto"] = recs["proto"]
    out["family"] = recs["family"]
    out["first_ts"] = recs["first_ts"]
    out["last_ts"] = recs["last_ts"]
    zero = np.zeros(n, dtype=np.uint64)
    out["pkts_c2s"] = np.where(src_client, recs["packets"], zero)
    out["pkts_s2c"] = np.where(src_client, zero, recs["packets"])
    out["bytes_c2s"] = np.where(src_client, recs["bytes"], zero)
    out["bytes_s2c"] = np.where(src_client, zero, recs["bytes"])
    flags = recs["tcp_flags"]
    out["flags_c2s"] = np.where(src_client, flags, 0)
    out["flags_s2c"] = np.where(src_client, 0, flags)
    return out


def scaled(flows: Flows, sampling: npt.NDArray[np.uint32]) -> Flows:
    """A copy with packet/byte counters multiplied by the sampling rate (0 = unknown → as is)."""
    out = flows.copy()
    k = np.maximum(sampling.astype(np.uint64), np.uint64(1))
    for col in ("pkts_c2s", "pkts_s2c", "bytes_c2s", "bytes_s2c"):
        out[col] = flows[col] * k
    return out


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
        # connections only: TCP/UDP records with addresses (not options data, not ICMP, whose
        # "ports" are type/code — a ping to a pool is not mining, and the pcap path agrees)
        recs = recs[(recs["family"] != 0) & ((recs["proto"] == 6) | (recs["proto"] == 17))]
        self.stats.with_address += len(recs)
        if not len(recs):
            return 0
        flows = orient(recs)
        est = scaled(flows, recs["sampling"])
        now = float(flows["last_ts"].max())
        found: dict[int, list[Evidence]] = {}
        for det in self.detectors:
            for row, ev in det.check(self.ctx, flows, now):
                found.setdefault(row, []).append(ev)
        for row, ev in self.behaviour.check(self.ctx, est, now, recs["sampling"]):
            found.setdefault(row, []).append(ev)
            self.stats.behaviour += 1
        n = 0
        for row in sorted(found):
            evidence = found[row]
            if all(e.weak for e in evidence):
                continue
            rec = recs[row]
            hit = build_hit(self.source_name(int(rec["exporter"])), flow_dict(flows[row]), evidence)
            if hit is None:
                continue
            self.aggregator.add(hit, int(rec["sampling"]))
            n += 1
        self.stats.evidence += n
        return n
