"""Golden tests on the crafted samples: expected verdicts per flow, and byte-stable JSON output.

Two independent checks: the scenario table in samples/make_samples.py states, per flow, what must
(or must not) be reported — written from the scenario, not from running minewatch; the golden
files pin the full JSON output. `UPDATE_GOLDEN=1` rewrites the golden files (review the diff).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from detector.hits import FlowHit
from minewatch.lists import build_matcher
from minewatch.scanrun import collect_hits
from tests.conftest import SAMPLES

sys.path.insert(0, str(SAMPLES))
from make_samples import NOTHING, SCENARIOS, Scenario

GOLDEN = SAMPLES / "golden"
BLOCKLIST = SAMPLES / "blocklist.txt"


def _flow_id(h: FlowHit) -> str:
    def ep(ip: str, port: int) -> str:
        return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"

    return f"{ep(h.client_ip, h.client_port)}>{ep(h.server_ip, h.server_port)}"


@pytest.fixture(scope="module")
def matcher():  # type: ignore[no-untyped-def]
    m, _notes = build_matcher([BLOCKLIST])
    return m


@pytest.mark.parametrize("sc", SCENARIOS, ids=lambda sc: sc.file)
def test_scenario_expectations(sc: Scenario, matcher) -> None:  # type: ignore[no-untyped-def]
    hits, stats = collect_hits([SAMPLES / sc.file], matcher)
    assert not stats.errors
    by_flow = {_flow_id(h): h for h in hits}
    for exp in sc.expect:
        hit = by_flow.pop(exp.flow, None)
        if exp.cls == NOTHING:
            assert hit is None, f"{exp.flow} must not be reported, got {hit}"
            continue
        assert hit is not None, f"{exp.flow}: expected {exp.cls} {exp.variant} {exp.evidence}"
        assert str(hit.cls) == exp.cls, exp.flow
        assert hit.transport == exp.transport
        if exp.evidence:
            assert exp.evidence in [str(e) for e in hit.evidence], (exp.flow, hit.evidence)
        if exp.variant:
            assert hit.variant == exp.variant, (exp.flow, hit.variant)
    assert not by_flow, f"unexpected hits: {sorted(by_flow)}"
    if sc.broken_frames:
        assert (
            stats.status["malformed"] + stats.status["not-ip"] + stats.status["fragment"]
            == sc.broken_frames - sc.decodable_broken
        )


def _golden_lines(path: Path, matcher) -> list[str]:  # type: ignore[no-untyped-def]
    hits, _ = collect_hits([path], matcher)
    return [json.dumps(h.to_json(), sort_keys=True) for h in hits]


@pytest.mark.parametrize("name", sorted({sc.file for sc in SCENARIOS}))
def test_golden_output(name: str, matcher) -> None:  # type: ignore[no-untyped-def]
    got = _golden_lines(SAMPLES / name, matcher)
    golden = GOLDEN / f"{name}.jsonl"
    if os.environ.get("UPDATE_GOLDEN"):
        GOLDEN.mkdir(exist_ok=True)
        golden.write_text("".join(line + "\n" for line in got))
    assert golden.exists(), f"no golden file {golden}; run UPDATE_GOLDEN=1 make test"
    assert golden.read_text().splitlines() == got
