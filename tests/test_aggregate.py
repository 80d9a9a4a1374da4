"""The per (subscriber, pool endpoint) aggregation of the collector."""

from __future__ import annotations

from detector.base import EvidenceKind, HitClass
from detector.hits import FlowHit
from pipelines.aggregate import Aggregator


def _hit(client_port: int, t: float, *, cls: HitClass = HitClass.MINING, variant: str = "v",
         kind: EvidenceKind = EvidenceKind.IP_LIST, conf: float = 0.8, server: str = "192.0.2.9",
         source: str = "netflow:10.0.0.1") -> FlowHit:  # fmt: skip
    return FlowHit(source, t, t + 1, "tcp", "10.1.1.1", client_port, server, 3333, cls, [kind],
                   variant, conf, {"list_entry": server}, packets=2, bytes=200)  # fmt: skip


def test_hits_of_one_pair_become_one_report_with_scaled_counts() -> None:
    out: list[FlowHit] = []
    agg = Aggregator(out.append)
    agg.add(_hit(40000, 100.0), sampling=1000)
    agg.add(_hit(40001, 200.0, kind=EvidenceKind.PAIR_CACHE, conf=0.9), sampling=1000)
    assert agg.flush() == 1
    (h,) = out
    assert (h.first_ts, h.last_ts) == (100.0, 201.0)
    assert (h.packets, h.bytes) == (4000, 400_000)  # scaled; flow records are not
    a = h.detail["aggregate"]
    assert a["flow_records"] == 2 and a["packets_sampled"] == 4 and a["bytes_sampled"] == 400
    assert a["sampling"] == [1000] and a["client_ports"] == [40000, 40001]
    assert set(h.evidence) == {EvidenceKind.IP_LIST, EvidenceKind.PAIR_CACHE}
    assert h.confidence == 0.9  # the best single hit, not a noisy-OR of correlated hits


def test_unknown_sampling_is_not_scaled_and_is_reported() -> None:
    out: list[FlowHit] = []
    agg = Aggregator(out.append)
    agg.add(_hit(40000, 1.0), sampling=0)
    agg.flush()
    assert out[0].packets == 2 and out[0].detail["aggregate"]["sampling"] == [0]


def test_only_changed_pairs_are_reported_again_and_idle_ones_forgotten() -> None:
    out: list[FlowHit] = []
    agg = Aggregator(out.append, window=3600)
    agg.add(_hit(40000, 0.0))
    agg.add(_hit(40000, 0.0, server="192.0.2.10"))
    assert agg.flush(now=10.0) == 2
    agg.add(_hit(40002, 20.0))
    assert agg.flush(now=30.0) == 1 and out[-1].server_ip == "192.0.2.9"
    # the second row counts its own interval only (rows add up), the evidence carries over
    assert (out[-1].first_ts, out[-1].packets) == (20.0, 2)
    assert out[-1].detail["aggregate"]["flow_records"] == 1 and out[-1].evidence
    assert agg.flush(now=5000.0) == 0
    assert len(agg.acc) == 0  # both idle past the window


def test_mining_outranks_coin_p2p_and_keys_are_bounded() -> None:
    out: list[FlowHit] = []
    agg = Aggregator(out.append, max_keys=2)
    agg.add(_hit(40000, 0.0, cls=HitClass.COIN_P2P, variant="bitcoin-p2p"))
    agg.add(_hit(40001, 1.0, variant="stratum-v1"))
    agg.add(_hit(40000, 0.0, server="192.0.2.20"))
    agg.add(_hit(40000, 0.0, server="192.0.2.21"))
    assert len(agg.acc) == 2 and agg.evicted == 1
    out.clear()
    agg2 = Aggregator(out.append)
    agg2.add(_hit(40000, 0.0, cls=HitClass.COIN_P2P, variant="bitcoin-p2p"))
    agg2.add(_hit(40001, 1.0, variant="stratum-v1"))
    agg2.flush()
    assert out[0].cls == HitClass.MINING and out[0].variant == "stratum-v1"
