"""The batched memory lookups behave like one `get` per flow.

`PairCacheCheck` and `DnsLearned` look their candidate rows up with `_TimedMap.live` (one call
for the whole batch) after the numpy pre-test. Here random sequences of remembered entries,
checks, expiries and evictions run against them and against the straightforward reference —
every row of the batch looked up on a twin memory with `lookup`, no pre-test — and must agree
on the evidence, the `hits` and `evicted` counters, the LRU order and the entries themselves.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import TYPE_CHECKING, cast

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from detector.base import EvidenceKind, HitClass
from detector.flowlevel import DnsLearned, PairCacheCheck
from detector.memory import LearnedEndpoints, PairCache
from pipelines.flows import FLOW_DTYPE

if TYPE_CHECKING:
    from detector.context import DetectContext

# few addresses, so that keys repeat; servers 0 and 2 share a low word (a pre-test false positive)
CLIENTS = [(0, 1), (0, 2), (5, 1)]
SERVERS = [(0, 9), (0, 10), (3, 9)]
TIMES = st.integers(0, 40).map(float)

Row = tuple[int, int, float, int]  # client, server, last_ts, uid
REMEMBER = st.tuples(
    st.just("remember"), st.integers(0, 2), st.integers(0, 2), TIMES, st.integers(0, 6)
)
CHECK = st.tuples(
    st.just("check"),
    st.lists(st.tuples(st.integers(0, 2), st.integers(0, 2), TIMES, st.integers(0, 6)), max_size=8),
)
OPS = st.lists(st.one_of(REMEMBER, CHECK), max_size=40)


def _flows(rows: list[Row]) -> np.ndarray:
    flows = np.zeros(len(rows), dtype=FLOW_DTYPE)
    for i, (c, s, when, uid) in enumerate(rows):
        flows[i]["c_hi"], flows[i]["c_lo"] = CLIENTS[c]
        flows[i]["s_hi"], flows[i]["s_lo"] = SERVERS[s]
        flows[i]["last_ts"], flows[i]["uid"] = when, uid
    return flows


def _reference(pairs: PairCache, rows: list[Row]) -> list[tuple[int, str, str]]:
    found = []
    for row, (c, s, when, uid) in enumerate(rows):
        item = pairs.lookup(CLIENTS[c], SERVERS[s], when)
        if item is not None and item.origin != uid:
            found.append((row, item.variant, item.label()))
    return found


def _state(pairs: PairCache) -> tuple[object, ...]:
    entries = [(k, v.expires, v.why, v.variant, v.origin, v.since) for k, v in pairs.items.items()]
    return pairs.hits, pairs.evicted, entries


@settings(max_examples=400, deadline=None)
@given(OPS, st.integers(1, 4), st.sampled_from([5.0, 15.0]))
def test_pair_cache_check_equals_one_lookup_per_row(
    ops: list[tuple[object, ...]], size: int, ttl: float
) -> None:
    fast, ref = PairCache(size=size, ttl=ttl), PairCache(size=size, ttl=ttl)
    ctx = cast("DetectContext", SimpleNamespace(pairs=fast))
    for op in ops:
        if op[0] == "remember":
            _, c, s, now, origin = cast("tuple[str, int, int, float, int]", op)
            for pairs in (fast, ref):
                pairs.remember(CLIENTS[c], SERVERS[s], now, f"stratum {c}{s}", f"v{c}", origin)
        else:
            rows = cast("list[Row]", op[1])
            got = PairCacheCheck().check(ctx, _flows(rows), 0.0)
            for _, ev in got:
                assert (ev.kind, ev.confidence, ev.cls, ev.weak) == (
                    EvidenceKind.PAIR_CACHE, 0.9, HitClass.MINING, False
                )  # fmt: skip
            assert [
                (row, ev.variant, ev.detail["pair_confirmed_by"]) for row, ev in got
            ] == _reference(ref, rows)
            assert all(list(ev.detail) == ["pair_confirmed_by"] for _, ev in got)
            assert len({id(ev.detail) for _, ev in got}) == len(got)  # the engine edits details
        assert _state(fast) == _state(ref)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 2), TIMES), max_size=20), st.integers(1, 3))
def test_live_equals_get(keys: list[tuple[int, float]], size: int) -> None:
    """`live` directly: the positions it reports, its hits and LRU moves are `get`'s."""
    fast, ref = PairCache(size=size, ttl=10.0), PairCache(size=size, ttl=10.0)
    for pairs in (fast, ref):
        for s, _ in keys[:3]:
            pairs.remember(CLIENTS[0], SERVERS[s], float(s * 7), "why", "", 0)
    probe = [((*CLIENTS[0], *SERVERS[s]), when) for s, when in keys]
    got = fast.live((k for k, _ in probe), (t for _, t in probe))
    want = [(i, ref.get(k, t)) for i, (k, t) in enumerate(probe)]
    assert got == [(i, item) for i, item in want if item is not None]
    assert _state(fast) == _state(ref)
    assert list(fast.items) == list(ref.items)


LEARN = st.tuples(st.just("learn"), st.integers(0, 2), TIMES, st.sampled_from([0.0, 9.0]))
DNS_CHECK = st.tuples(st.just("check"), st.lists(st.tuples(st.integers(0, 2), TIMES), max_size=8))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(LEARN, DNS_CHECK), max_size=40), st.integers(1, 3))
def test_dns_learned_equals_one_lookup_per_row(ops: list[tuple[object, ...]], size: int) -> None:
    fast, ref = LearnedEndpoints(size, min_ttl=5.0), LearnedEndpoints(size, min_ttl=5.0)
    ctx = cast("DetectContext", SimpleNamespace(learned=fast))
    for op in ops:
        if op[0] == "learn":
            _, s, now, ttl = cast("tuple[str, int, float, float]", op)
            for learned in (fast, ref):
                learned.learn(SERVERS[s], now, ttl, f"A record of pool{s}")
        else:
            rows = [(0, s, when, 1) for s, when in cast("list[tuple[int, float]]", op[1])]
            got = DnsLearned().check(ctx, _flows(rows), 0.0)
            want = []
            for row, (_, s, when, _) in enumerate(rows):
                item = ref.lookup(SERVERS[s], when)
                if item is not None:
                    want.append((row, {"learned_from": item.why}))
            assert [(row, ev.detail) for row, ev in got] == want
            for _, ev in got:
                assert (ev.kind, ev.confidence, ev.cls, ev.variant, ev.weak) == (
                    EvidenceKind.DNS_LEARNED, 0.85, HitClass.MINING, "dns-learned", False
                )  # fmt: skip
            assert len({id(ev.detail) for _, ev in got}) == len(got)
        assert (fast.hits, fast.evicted, list(fast.items.items())) == (
            ref.hits, ref.evicted, list(ref.items.items())
        )  # fmt: skip
