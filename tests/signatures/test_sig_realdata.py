"""Every registered signature against the real captures in `../shared/data/pcaps/`.

Mining captures: each ground-truth POOL flow whose evidence is visible in cleartext payload
must be matched as mining (with the right variant), each P2P flow as coin P2P, and no other
flow may be matched as mining. Benign captures: zero mining matches; coin P2P only in the two
files that hold non-mining coin traffic. Recall and counts are printed.
"""

from __future__ import annotations

from collections import Counter
from functools import lru_cache

import pytest

from detector.base import HitClass, Outcome, Verdict
from detector.signatures import SIGNATURES

from .flowpayloads import (
    BENIGN_DIR,
    GROUND_TRUTH,
    MINING_DIR,
    SHARED_DATA,
    Flow,
    read_flows,
    read_ground_truth,
)

HAVE_MINING = MINING_DIR.is_dir() and GROUND_TRUTH.is_file()
HAVE_BENIGN = BENIGN_DIR.is_dir()
MISSING = (
    f"!!! SHARED CAPTURES NOT FOUND under {SHARED_DATA.resolve()} — the real-data signature "
    "tests did NOT run; provide ../shared/data next to the repository !!!"
)

# Ground-truth variants with no cleartext payload evidence: only IP/SNI/DNS can see them.
NOT_IN_PAYLOAD = ("stratum-tls-attempt", "browser-miner-tls")
# Ground-truth variant name → the variant our signatures report.
EXPECTED_VARIANT = {
    "stratum-v1": "stratum-v1",
    "stratum-v1-equihash(zcash)": "stratum-v1-equihash",
    "eth-stratum/ethproxy": "eth-proxy",
    "stratum-cryptonote(xmr-style)": "stratum-cryptonote",
    "getwork-http": "getwork-http",
    "getblocktemplate-http": "getblocktemplate-http",
    "http-mining-extensions": "http-mining-extensions",
    "bitcoin-p2p": "bitcoin-p2p",
    "ethereum-devp2p-rlpx(tcp)": "ethereum-devp2p",
    "ethereum-discv4(udp)": "ethereum-discv4",
    "monero-p2p-levin": "monero-p2p-levin",
}
COIN_P2P_ALLOWED = {"ndpi__nano.pcapng", "ndpi__zug.pcap"}
OUTCOME_NAMES = [o.value for o in Outcome]


def matches(data: bytes, from_client: bool, transport: int) -> dict[str, Verdict]:
    """Every signature's final verdict for one direction: a MATCH, or a provisional NEED_MORE
    (confidence > 0) that stands because this is all the flow ever sent."""
    found = {}
    for name, sig in SIGNATURES.items():
        if transport in sig.transports:
            verdict = sig.inspect(data, from_client, transport)
            if verdict.outcome is Outcome.MATCH or (
                verdict.outcome is Outcome.NEED_MORE and verdict.confidence > 0
            ):
                found[name] = verdict
    return found


class Labelled:
    """A flow of a mining capture with its ground-truth row (or None) and its matches."""

    def __init__(self, pcap: str, flow: Flow, row: dict[str, str] | None) -> None:
        self.pcap = pcap
        self.flow = flow
        self.row = row
        client_data, server_data = flow.client_data, flow.server_data
        if row is not None and row["client"] != flow.client:  # initiator seen differently
            client_data, server_data = server_data, client_data
        self.client_data, self.server_data = client_data, server_data
        self.client = matches(client_data, True, flow.transport) if client_data else {}
        self.server = matches(server_data, False, flow.transport) if server_data else {}

    @property
    def verdicts(self) -> list[Verdict]:
        return [*self.client.values(), *self.server.values()]

    def classes(self) -> set[HitClass]:
        return {v.cls for v in self.verdicts}

    def variants(self) -> set[str]:
        return {v.variant for v in self.verdicts}


@lru_cache(maxsize=1)
def mining_flows() -> tuple[Labelled, ...]:
    truth = read_ground_truth()
    out = []
    for path in sorted(MINING_DIR.iterdir()):
        rows = {(r["client"], r["server"]): r for r in truth if r["pcap"] == path.name}
        for flow in read_flows(path):
            row = rows.get((flow.client, flow.server)) or rows.get((flow.server, flow.client))
            out.append(Labelled(path.name, flow, row))
    return tuple(out)


def eligible(item: Labelled, gt_class: str) -> bool:
    row = item.row
    return (
        row is not None
        and row["gt_class"] == gt_class
        and not row["gt_variant"].startswith(NOT_IN_PAYLOAD)
    )


def report(capsys: pytest.CaptureFixture[str], title: str, lines: list[str]) -> None:
    with capsys.disabled():
        print(f"\n{title}")
        for line in lines:
            print(f"  {line}")


@pytest.mark.skipif(not HAVE_MINING, reason=MISSING)
def test_ground_truth_covers_the_captures() -> None:
    items = mining_flows()
    labelled = [i for i in items if i.row is not None]
    assert len(labelled) > 1000
    assert sum(eligible(i, "POOL") for i in items) >= 490
    assert sum(eligible(i, "P2P") for i in items) == 81


@pytest.mark.skipif(not HAVE_MINING, reason=MISSING)
@pytest.mark.parametrize("gt_class, want", [("POOL", HitClass.MINING), ("P2P", HitClass.COIN_P2P)])
def test_recall_per_variant(
    gt_class: str, want: HitClass, capsys: pytest.CaptureFixture[str]
) -> None:
    total: Counter[str] = Counter()
    hit: Counter[str] = Counter()
    right_variant: Counter[str] = Counter()
    missed = []
    for item in mining_flows():
        if not eligible(item, gt_class):
            continue
        assert item.row is not None
        variant = item.row["gt_variant"]
        total[variant] += 1
        if want in item.classes():
            hit[variant] += 1
        else:
            missed.append(f"{item.pcap} {item.row['client']} -> {item.row['server']} {variant}")
        if EXPECTED_VARIANT[variant] in item.variants():
            right_variant[variant] += 1
        if gt_class == "P2P":
            assert HitClass.MINING not in item.classes(), (item.pcap, item.row)
    report(
        capsys,
        f"signature recall on real {gt_class} flows (class / variant):",
        [
            f"{v:32s} {hit[v]:4d}/{total[v]:<4d} {100 * hit[v] / total[v]:5.1f}%   "
            f"variant {right_variant[v]:4d}/{total[v]}"
            for v in sorted(total)
        ],
    )
    assert not missed, missed[:20]
    assert right_variant == total


@pytest.mark.skipif(not HAVE_MINING, reason=MISSING)
def test_pool_flows_without_cleartext_evidence(capsys: pytest.CaptureFixture[str]) -> None:
    """TLS stratum / browser mining: nothing to see but, at most, a pool's error reply."""
    total: Counter[str] = Counter()
    weak: Counter[str] = Counter()
    for item in mining_flows():
        row = item.row
        if row is None or not row["gt_variant"].startswith(NOT_IN_PAYLOAD):
            continue
        total[row["gt_variant"]] += 1
        for verdict in item.verdicts:
            assert verdict.confidence < 0.8, (item.pcap, row["client"], verdict)
            assert verdict.detail["methods"] == []
        if item.verdicts:
            weak[row["gt_variant"]] += 1
    report(
        capsys,
        "pool flows with no cleartext evidence (weak stratum error-reply matches):",
        [f"{v:40s} {weak[v]}/{total[v]}" for v in sorted(total)],
    )


@pytest.mark.skipif(not HAVE_MINING, reason=MISSING)
def test_evidence_details_agree_with_ground_truth() -> None:
    """Agent / User-Agent as in the ground truth; never a method the flow did not carry."""
    for item in mining_flows():
        if not eligible(item, "POOL"):
            continue
        assert item.row is not None
        mining = [v for v in item.verdicts if v.cls is HitClass.MINING]
        agents = {v.detail.get("agent") for v in mining}
        user_agents = {v.detail.get("user_agent") for v in mining}
        methods = {m for v in mining for m in v.detail["methods"]}
        where = (item.pcap, item.row["client"], item.row["server"])
        want_agent = item.row["agent"] or item.row["subscribe"]
        if want_agent:
            assert want_agent in agents, where
        if item.row["user_agent"]:
            assert item.row["user_agent"] in user_agents, where
        assert methods <= set(item.row["methods"].split()), where


@pytest.mark.skipif(not HAVE_MINING, reason=MISSING)
def test_no_mining_match_on_other_flows(capsys: pytest.CaptureFixture[str]) -> None:
    """NONE / ATTEMPT / unlabelled flows of the mining captures are never matched as mining."""
    seen: Counter[str] = Counter()
    for item in mining_flows():
        row = item.row
        if row is not None and row["gt_class"] in ("POOL", "P2P"):
            continue
        seen[row["gt_class"] if row else "unlabelled"] += 1
        assert HitClass.MINING not in item.classes(), (item.pcap, item.flow.client, row)
    report(capsys, "non-mining flows in mining captures, 0 mining matches:", [str(dict(seen))])


@pytest.mark.skipif(not HAVE_MINING, reason=MISSING)
def test_mid_line_start_still_matches() -> None:
    """Start each JSON direction inside its first line (a capture begun mid-message)."""
    checked = 0
    for item in mining_flows():
        for data, found, from_client in (
            (item.client_data, item.client, True),
            (item.server_data, item.server, False),
        ):
            json_sigs = [n for n in found if n in ("stratum", "ethproxy", "cryptonote")]
            newline = data.find(b"\n")
            if not json_sigs or newline < 4:
                continue
            name = json_sigs[0]
            rest = data[newline + 1 :]
            if SIGNATURES[name].inspect(rest, from_client, 6).outcome is not Outcome.MATCH:
                continue  # the only evidence was in the first line
            cut = data[newline // 2 :]
            assert SIGNATURES[name].inspect(cut, from_client, 6).outcome is Outcome.MATCH
            checked += 1
    assert checked >= 20


@pytest.mark.slow
@pytest.mark.skipif(not HAVE_BENIGN, reason=MISSING)
def test_benign_captures_have_no_mining_matches(capsys: pytest.CaptureFixture[str]) -> None:
    outcomes: Counter[tuple[str, str]] = Counter()
    coin_p2p: Counter[str] = Counter()
    mining_hits = []
    files = flows = 0
    for path in sorted(BENIGN_DIR.iterdir()):
        if path.suffix not in (".pcap", ".pcapng", ".cap"):
            continue
        files += 1
        for flow in read_flows(path):
            flows += 1
            for data, from_client in ((flow.client_data, True), (flow.server_data, False)):
                if not data:
                    continue
                for name, sig in SIGNATURES.items():
                    if flow.transport not in sig.transports:
                        continue
                    verdict = sig.inspect(data, from_client, flow.transport)
                    outcomes[(name, verdict.outcome.value)] += 1
                    if verdict.outcome is not Outcome.MATCH:
                        continue
                    if verdict.cls is HitClass.MINING:
                        mining_hits.append((path.name, flow.client, flow.server, name, verdict))
                    else:
                        coin_p2p[path.name] += 1
    report(
        capsys,
        f"benign captures: {files} files, {flows} flows; mining matches {len(mining_hits)}, "
        f"coin-p2p matches {dict(coin_p2p)}",
        [
            f"{name:16s} " + " ".join(f"{o}={outcomes[(name, o)]}" for o in OUTCOME_NAMES)
            for name in sorted(SIGNATURES)
        ],
    )
    assert files >= 270
    assert not mining_hits, mining_hits[:10]
    assert set(coin_p2p) <= COIN_P2P_ALLOWED
