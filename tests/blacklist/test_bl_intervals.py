"""The numpy core under the matcher: each fast path equals its plain numpy/Python meaning."""

from __future__ import annotations

import ipaddress

import numpy as np
import pytest

from blacklist.entries import Category, Entry, Kind
from blacklist.intervals import _argsort, _merge_find, paint
from blacklist.matcher import Matcher

RNG = np.random.default_rng(7)


def naive_paint(bins: int, first: np.ndarray, last: np.ndarray) -> np.ndarray:
    out = np.zeros(bins, dtype=np.uint8)
    for a, b in zip(first.tolist(), last.tolist(), strict=True):
        out[a : b + 1] = 1
    return out


@pytest.mark.parametrize(
    ("count", "width"),
    [(0, 1), (5, 5000), (200, 1), (3000, 20), (3000, 3000)],  # slice / direct / running-sum paths
)
def test_paint_regimes_equal_naive_fill(count: int, width: int) -> None:
    bins = 1 << 20
    first = RNG.integers(0, bins - width, count)
    last = first + RNG.integers(0, width, count)
    cells = np.zeros(bins, dtype=np.uint8)
    paint(cells, first, last, 2)
    assert np.array_equal(cells >> 1, naive_paint(bins, first, last))
    assert not (cells & 1).any()


@pytest.mark.parametrize("high", [2**10, 2**40, 2**62])  # packed sort / packed / fallback
def test_argsort_is_a_stable_argsort(high: int) -> None:
    values = RNG.integers(0, high, 5000)
    values[::7] = values[0]  # ties must keep their order
    assert np.array_equal(_argsort(values), np.argsort(values, kind="stable"))


@pytest.mark.parametrize(("n_starts", "n_keys"), [(1000, 10), (10, 1000), (0, 5), (5, 0)])
def test_merge_find_both_directions(n_starts: int, n_keys: int) -> None:
    starts = np.unique(RNG.integers(0, 10_000, n_starts))
    keys = np.sort(RNG.integers(-5, 10_005, n_keys))
    assert np.array_equal(_merge_find(starts, keys), np.searchsorted(starts, keys, "right") - 1)


def test_large_random_ipv4_list_against_vectorised_oracle() -> None:
    """Thousands of nested prefixes and endpoints: more runs than any small-list test."""
    entries: list[Entry] = []
    for i in range(4000):
        plen = int(RNG.choice([8, 12, 16, 20, 24, 28, 32, 32, 32]))
        addr = int(RNG.integers(0, 2**32)) >> (32 - plen) << (32 - plen)
        net = ipaddress.IPv4Network((addr, plen))
        cat = Category.ALLOWLIST if i % 50 == 0 else Category.POOL
        conf = float(RNG.choice([0.3, 0.6]))
        if plen == 32 and i % 5 == 0:
            entries.append(Entry(Kind.ENDPOINT, f"{net.network_address}:3333", net, 3333))
        else:
            kind = Kind.IP if plen == 32 else Kind.CIDR
            entries.append(Entry(kind, str(net), net, category=cat, confidence=conf))
    m = Matcher(entries)
    first = np.array([int(e.network.network_address) for e in entries if e.network])
    last = np.array([int(e.network.broadcast_address) for e in entries if e.network])
    has_port = np.array([e.port is not None for e in entries])
    spec = np.array([e.network.prefixlen for e in entries if e.network]) + 16 * has_port
    allow = np.array([e.category is Category.ALLOWLIST for e in entries])
    conf = np.array([e.confidence for e in entries])
    q = np.concatenate((RNG.integers(0, 2**32, 20_000), first[:3000], last[:3000]))
    ports = RNG.choice([3333, 80], len(q))
    got = m.lookup_v4(q.astype(np.uint32), ports.astype(np.uint16))
    for k in range(0, len(q), 2000):  # oracle: every entry against every query, vectorised
        qq, pp = q[k : k + 2000, None], ports[k : k + 2000, None]
        ok = (first <= qq) & (qq <= last) & (~has_port | (pp == 3333))
        key = np.where(ok, (spec * 2 + allow) * 10 + conf * 10, -1.0)
        key = key - np.arange(len(entries)) * 1e-9  # earlier entry wins ties
        want = np.where(ok.any(axis=1), key.argmax(axis=1), -1)
        assert np.array_equal(got[k : k + 2000], want)
