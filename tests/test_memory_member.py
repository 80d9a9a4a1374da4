"""The memories' membership pre-test (binary search) agrees with plain set membership."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from detector.memory import LearnedEndpoints, PairCache

WORDS = st.integers(min_value=0, max_value=2**64 - 1)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(WORDS, WORDS), max_size=20), st.lists(WORDS, max_size=40))
def test_candidates_are_exactly_the_remembered_low_words(
    keys: list[tuple[int, int]], probe: list[int]
) -> None:
    pairs, learned = PairCache(), LearnedEndpoints()
    for hi, lo in keys:
        pairs.remember((1, 2), (hi, lo), 0.0, "why", "stratum-v1", 1)
        learned.learn((hi, lo), 0.0, 60.0, "why")
    probe += [lo for _, lo in keys[:3]]
    lo = np.array(probe, dtype=np.uint64)
    want = [p in {k for _, k in keys} for p in probe]
    assert pairs.candidates(lo).tolist() == want
    assert learned.candidates(lo).tolist() == want


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3), st.integers(0, 5)), max_size=60))
def test_candidates_follow_evictions_and_refreshes(keys: list[tuple[int, int]]) -> None:
    """A small cap evicts old keys; a word leaves the pre-test only with its last key, and a
    refreshed key keeps its word (the counts behind the sorted array stay exact)."""
    pairs, learned = PairCache(size=4), LearnedEndpoints(size=3)
    probe = np.arange(6, dtype=np.uint64)
    for client, lo in keys:
        pairs.remember((0, client), (7, lo), 0.0, "why", "stratum-v1", 1)
        learned.learn((7, lo), 0.0, 60.0, "why")
        assert pairs.candidates(probe).tolist() == [
            p in {k[3] for k in pairs.items} for p in range(6)
        ]
        assert learned.candidates(probe).tolist() == [
            p in {k[1] for k in learned.items} for p in range(6)
        ]
        assert len(pairs) <= 4 and len(learned) <= 3
