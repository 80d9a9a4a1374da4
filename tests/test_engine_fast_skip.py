"""The end-of-flow detectors skip the rows whose evidence the engine already holds.

When a flow appears, the pair cache (or a learned DNS answer) may already flag it; `process`
keeps that evidence in the flow's state and marks the detector's bit in the table's `state`
column. `finish` asks the same detectors again with those rows in `skip`: they are still looked
up (same LRU moves, same hit counts) but make no evidence, which `finish` would drop anyway. Here
the detectors with a random mask must equal the detectors without one, filtered; and real
captures must give the same hits with the marks as without them (`KEPT` emptied: every evidence
made, the second of a kind dropped).
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import pytest
from conftest import MINING, need_shared
from hypothesis import given, settings
from hypothesis import strategies as st

import detector.engine as engine_module
from detector.base import EvidenceKind
from detector.engine import Engine
from detector.flowlevel import FLOW_DETECTORS, DnsLearned, PairCacheCheck, PortPrior
from detector.memory import LearnedEndpoints, PairCache
from minewatch.lists import build_matcher
from minewatch.scanrun import collect_hits
from pipelines.flows import FLOW_DTYPE

if TYPE_CHECKING:
    from detector.context import DetectContext

CLIENTS = [(0, 1), (0, 2)]
SERVERS = [(0, 9), (0, 10), (3, 9)]
ROWS = st.lists(
    st.tuples(
        st.integers(0, 1), st.integers(0, 2), st.integers(0, 20).map(float),
        st.integers(0, 3), st.sampled_from([80, 3333, 4444, 14444]), st.booleans(),
    ),
    max_size=10,
)  # fmt: skip
LEARN = st.lists(
    st.tuples(
        st.integers(0, 1), st.integers(0, 2), st.integers(0, 20).map(float), st.integers(0, 3)
    ),
    max_size=6,
)


def _flows(rows: list[tuple[int, int, float, int, int, bool]]) -> np.ndarray:
    flows = np.zeros(len(rows), dtype=FLOW_DTYPE)
    for i, (c, s, when, uid, port, _) in enumerate(rows):
        flows[i]["c_hi"], flows[i]["c_lo"] = CLIENTS[c]
        flows[i]["s_hi"], flows[i]["s_lo"] = SERVERS[s]
        flows[i]["last_ts"], flows[i]["uid"], flows[i]["sport"] = when, uid, port
    return flows


def _memory(m: PairCache | LearnedEndpoints) -> tuple[object, ...]:
    """Counters, LRU order and entries (not their memoised labels)."""
    entries = [(k, v.expires, v.why, v.variant, v.origin, v.since) for k, v in m.items.items()]
    return m.hits, m.evicted, entries


def _seen(found: list[tuple[int, Any]]) -> list[tuple[int, str, str, dict[str, Any]]]:
    return [(row, str(ev.kind), ev.variant, ev.detail) for row, ev in found]


@settings(max_examples=400, deadline=None)
@given(LEARN, ROWS, st.integers(1, 4))
def test_skip_equals_filtering_with_the_same_lookups(
    learn: list[tuple[int, int, float, int]],
    rows: list[tuple[int, int, float, int, int, bool]],
    size: int,
) -> None:
    made = {k: (PairCache(size=size, ttl=8.0), LearnedEndpoints(size, min_ttl=8.0)) for k in "ab"}
    for pairs, learned in made.values():
        for c, s, when, origin in learn:
            pairs.remember(CLIENTS[c], SERVERS[s], when, "stratum x", "v", origin)
            learned.learn(SERVERS[s], when, 0.0, f"A record of pool{s}")
    flows = _flows(rows)
    skip = np.array([r[5] for r in rows], dtype=bool)
    for det in (PairCacheCheck(), DnsLearned(), PortPrior()):
        (pa, la), (pb, lb) = made["a"], made["b"]
        ca = cast("DetectContext", SimpleNamespace(pairs=pa, learned=la))
        cb = cast("DetectContext", SimpleNamespace(pairs=pb, learned=lb))
        got = det.check(ca, flows, 0.0, skip)
        want = [(row, ev) for row, ev in det.check(cb, flows, 0.0) if not skip[row]]
        assert _seen(got) == _seen(want)
        assert [(e.confidence, e.cls, e.weak) for _, e in got] == [
            (e.confidence, e.cls, e.weak) for _, e in want
        ]
        assert _memory(pa) == _memory(pb)
        assert _memory(la) == _memory(lb)


def _scan(files: list[Path]) -> tuple[list[str], Counter[str]]:
    made: Counter[str] = Counter()
    checks = {name: FLOW_DETECTORS[name].check for name in ("pair-cache", "dns-learned")}

    def counted(name: str) -> Any:
        def check(*args: Any) -> Any:
            found = checks[name](*args)
            made[name] += len(found)
            return found

        return check

    finish = Engine.finish

    def checked_finish(engine: Engine, flows: np.ndarray, source: str) -> int:
        """What makes skipping safe: a marked flow's state holds evidence of that kind."""
        for name, mark in engine_module.KEPT.items():
            for uid in flows["uid"][flows["state"] & mark != 0].tolist():
                assert EvidenceKind(name) in {e.kind for e in engine.states[uid].evidence}
                made["marked " + name] += 1
        return finish(engine, flows, source)

    matcher = build_matcher((), None, use_db=False)[0]
    with pytest.MonkeyPatch.context() as mp:
        for name in checks:
            mp.setattr(FLOW_DETECTORS[name], "check", counted(name))
        mp.setattr(Engine, "finish", checked_finish)
        hits, _ = collect_hits(files, matcher)
    return [json.dumps(h.to_json(), sort_keys=True) for h in hits], made


def test_marked_rows_give_the_same_hits(monkeypatch: pytest.MonkeyPatch) -> None:
    need_shared()
    files = sorted(p for p in MINING.rglob("*") if p.suffix in (".pcap", ".pcapng"))
    fast, fast_made = _scan(files)
    monkeypatch.setattr(engine_module, "KEPT", {})
    plain, plain_made = _scan(files)
    assert fast == plain
    assert len(fast) > 100
    # the short cut is taken: fewer pair-cache evidences made, each scanned file on its own
    assert fast_made["pair-cache"] < plain_made["pair-cache"]
    assert fast_made["dns-learned"] <= plain_made["dns-learned"]
    assert fast_made["marked pair-cache"] > 10  # (no shared capture marks a dns-learned flow)
