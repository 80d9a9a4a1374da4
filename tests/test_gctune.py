"""The packet pipeline runs with the tuned collector thresholds, and they keep cycles collected."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator
from pathlib import Path

import pytest

from minewatch.lists import build_matcher
from minewatch.scanrun import collect_hits
from pipelines.gctune import THRESHOLDS, tune_gc

SAMPLES = Path(__file__).resolve().parents[1] / "samples"


@pytest.fixture
def default_thresholds() -> Iterator[None]:
    before = gc.get_threshold()
    gc.set_threshold(700, 10, 10)
    try:
        yield
    finally:
        gc.set_threshold(*before)


@pytest.mark.usefixtures("default_thresholds")
def test_a_scan_applies_the_thresholds() -> None:
    matcher, _ = build_matcher([])
    collect_hits(sorted(SAMPLES.glob("*.pcap"))[:1], matcher)
    assert gc.get_threshold() == THRESHOLDS


@pytest.mark.usefixtures("default_thresholds")
def test_cycles_are_still_collected_without_an_explicit_collect() -> None:
    tune_gc()

    class Node:
        other: object = None

    gc.collect()  # counts start at zero: the cycle is young
    a, b = Node(), Node()
    a.other, b.other = b, a
    alive = weakref.ref(a)
    del a, b
    keep = [[] for _ in range(THRESHOLDS[0] // 2)]
    assert alive() is not None  # not yet: fewer young objects than the threshold
    keep += [[] for _ in range(THRESHOLDS[0] * 2)]  # allocations alone trigger a collection
    assert alive() is None
