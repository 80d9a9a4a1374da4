"""Acceptance on real captures: every POOL flow is mining, every P2P flow coin-p2p, and not a
single mining hit on the benign captures. Recall and false positives are printed."""

from __future__ import annotations

from collections import Counter

import pytest

from detector.hits import FlowHit
from minewatch.lists import build_matcher
from minewatch.scanrun import collect_hits
from tests.conftest import BENIGN, MINING, captures, groundtruth, need_shared


def _ep(ip: str, port: int) -> str:
    return f"{ip}:{port}"


@pytest.fixture(scope="module")
def mining_hits() -> dict[tuple[str, str, str], FlowHit]:
    need_shared()
    matcher, _ = build_matcher()
    hits, stats = collect_hits(captures(MINING), matcher)
    assert not stats.errors
    out: dict[tuple[str, str, str], FlowHit] = {}
    for h in hits:
        c, s = _ep(h.client_ip, h.client_port), _ep(h.server_ip, h.server_port)
        out[(h.source, c, s)] = h
        out.setdefault((h.source, s, c), h)  # found even if our client guess were reversed
    return out


def test_groundtruth_recall(mining_hits: dict[tuple[str, str, str], FlowHit]) -> None:
    want = {"POOL": "mining", "P2P": "coin-p2p"}
    total: Counter[str] = Counter()
    found: Counter[str] = Counter()
    wrong: list[str] = []
    false_pos: list[str] = []
    no_payload_evidence: list[str] = []
    for row in groundtruth():
        hit = mining_hits.get((row["pcap"], row["client"], row["server"]))
        cls = row["gt_class"]
        if cls in want:
            total[row["gt_variant"]] += 1
            if hit is not None and str(hit.cls) == want[cls]:
                found[row["gt_variant"]] += 1
                visible = row["methods"] or row["user_agent"] or row["agent"]
                if visible and not {"stratum", "http-mining"} & {str(e) for e in hit.evidence}:
                    # the protocol was on the wire: it must be named, not only inferred
                    no_payload_evidence.append(f"{row['pcap']} {row['client']}: {hit.evidence}")
            else:
                wrong.append(
                    f"{row['pcap']} {row['client']}>{row['server']} {row['gt_variant']}: "
                    f"{hit.cls if hit else 'missed'}"
                )
        elif cls == "NONE" and hit is not None and str(hit.cls) == "mining":
            false_pos.append(f"{row['pcap']} {row['client']}>{row['server']}: {hit.evidence}")
    print("\nrecall per ground-truth variant:")
    for variant in sorted(total):
        print(f"  {variant:45s} {found[variant]:4d}/{total[variant]}")
    pool = sum(
        v for k, v in total.items() if not k.startswith(("bitcoin-p2p", "ethereum-", "monero-p2p"))
    )
    pool_found = sum(
        v for k, v in found.items() if not k.startswith(("bitcoin-p2p", "ethereum-", "monero-p2p"))
    )
    print(
        f"POOL flows detected as mining: {pool_found}/{pool} "
        "(nDPI 4.2: 230/509, Suricata ET: 494/509)"
    )
    print(f"mining hits on NONE flows (false positives): {len(false_pos)}")
    for fp in false_pos:
        print("  FP", fp)
    assert not wrong, "\n".join(wrong[:30])
    assert not no_payload_evidence, "\n".join(no_payload_evidence[:30])
    assert not false_pos


@pytest.mark.slow
def test_no_mining_hit_on_benign_captures() -> None:
    need_shared()
    matcher, _ = build_matcher()
    files = captures(BENIGN)
    hits, stats = collect_hits(files, matcher)
    mining = [h for h in hits if str(h.cls) == "mining"]
    p2p = [h for h in hits if str(h.cls) == "coin-p2p"]
    print(
        f"\nbenign: {len(files)} files, {stats.packets} packets, {stats.flows} flows, "
        f"{len(mining)} mining hits, {len(p2p)} coin-p2p hits, {len(stats.errors)} unreadable"
    )
    for err in stats.errors:
        print("  error:", err)
    assert not mining, [h.to_json() for h in mining[:10]]
    assert {h.source for h in p2p} <= {"ndpi__nano.pcapng", "ndpi__zug.pcap"}
    assert not stats.errors
