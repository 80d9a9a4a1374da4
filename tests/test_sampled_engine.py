"""The packet path on sampled packets (sFlow): each sample judged on its own, cut-off lines judged
by their opening members. Real captures, every packet cut to a switch's 128-byte header."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import BENIGN, MINING, need_shared

from blacklist.allow import AllowIndex
from blacklist.builtin import builtin_entries
from blacklist.matcher import Matcher
from detector.context import DetectContext
from detector.engine import Engine
from detector.hits import FlowHit
from pipelines.batch import PacketBatch
from pipelines.decoders.packet import decode
from pipelines.scan import FlowStage, ScanStats, read_batches

HEADER = 128
STRATUM_CAPTURES = [
    "zeek-cryptomining__bitcoin-mining.pcap",
    "nesfit__cgminer.s0.pcapng",
    "ndpi__mining.pcapng",
    "nesfit__zec-eu1.nanopool.org.pcapng",
]


def _run(
    paths: list[Path], *, sampled: bool, every: int = 1, header: int = HEADER
) -> list[FlowHit]:
    """Scan as a sampler would show the traffic: 1-in-`every` packets, 128-byte headers;
    `sampled` says the rate is 1-in-1000 (packets judged alone), else 1-in-1 (a stream)."""
    matcher = Matcher(list(builtin_entries()))
    hits: list[FlowHit] = []
    engine = Engine(DetectContext(matcher, allow=AllowIndex(matcher.entries)), hits.append)
    stats = ScanStats()
    for path in paths:
        stage = FlowStage(engine, path.name)
        for batch, now in read_batches(path, stats):
            recs = batch.records[::every].copy()
            recs["caplen"] = np.minimum(recs["caplen"], header)
            rate = np.full(len(recs), 1000 if sampled else 1, dtype=np.uint32)
            stage.feed(PacketBatch(batch.buf, recs, decode(batch.buf, recs), rate), now)
        stage.drain()
    return hits


def _stratum_flows(hits: list[FlowHit]) -> set[tuple[str, int, str, int]]:
    return {(h.client_ip, h.client_port, h.server_ip, h.server_port) for h in hits
            if "stratum" in map(str, h.evidence)}  # fmt: skip


def test_cut_headers_still_name_stratum() -> None:
    need_shared()
    paths = [MINING / f for f in STRATUM_CAPTURES]
    full = _stratum_flows(_run(paths, sampled=False, header=65535))
    one_in_one = _stratum_flows(_run(paths, sampled=False))  # every packet, cut to 128 bytes
    as_samples = _stratum_flows(_run(paths, sampled=True))
    print(f"\nstratum flows: whole packets {len(full)}; 128-byte headers at 1-in-1 "
          f"{len(one_in_one)}, at 1-in-1000 {len(as_samples)}")  # fmt: skip
    # a cut packet is judged alone whatever the rate (its missing bytes cannot be reassembled);
    # each sample's opening line names more flows than reassembling whole packets does, where
    # an early exclusion of one direction ends the inspection
    assert one_in_one == as_samples
    assert len(as_samples) >= len(full) >= 20


def test_one_in_four_samples_find_stratum_flows_and_mark_them_truncated() -> None:
    need_shared()
    hits = _run([MINING / f for f in STRATUM_CAPTURES], sampled=True, every=4)
    stratum = [h for h in hits if "stratum" in map(str, h.evidence)]
    assert len(stratum) >= 10
    assert any(h.detail.get("truncated") for h in stratum)


@pytest.mark.slow
def test_no_mining_from_cut_samples_of_benign_traffic() -> None:
    need_shared()
    paths = sorted(p for p in BENIGN.iterdir() if p.suffix in (".pcap", ".pcapng"))
    mining = [h for h in _run(paths, sampled=True) if str(h.cls) == "mining"]
    assert mining == [], [(h.source, h.server_ip, h.variant) for h in mining[:5]]
