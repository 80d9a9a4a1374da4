"""The flow key map (open addressing in numpy arrays) against a Python dict, its edge cases, and
its keyed hash (results independent of the seed; floods built for one seed do not carry over)."""

from __future__ import annotations

import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipelines.batch import PACKET_DTYPE, ST_OK
from pipelines.decoders.packet import decode
from pipelines.flowkeys import EMPTY, U32, FlowKeys, Key, _tag, grown, hash_key
from pipelines.flows import FlowTable
from pipelines.sources.pcapfile import PcapFileSource
from tests.conftest import MINING, SAMPLES, captures

BIG = (1 << 64) - 1
SEED = 0x5EED_0F_F10C_5EED


def _home(key: Key, size: int, seed: int = SEED) -> int:
    return int(_tag(hash_key(seed), *(np.uint64(w) for w in key))) & (size - 1)


def _check(m: FlowKeys, model: dict[Key, int]) -> None:
    assert len(m) == len(model)
    for key, slot in model.items():
        assert m.get(key) == slot
    assert 2 * len(model) <= len(m.index)  # load <= 1/2


def test_insert_lookup_remove_and_resize() -> None:
    m = FlowKeys(slots=4, size=2)
    keys = [(0, 0, 0, 0, 0), (BIG, BIG, BIG, BIG, BIG), (1, 2, 3, 4, 5), (5, 4, 3, 2, 1)]
    for slot, key in enumerate(keys):
        m.put(key, slot)
    assert len(m.index) == 8  # grew 2 → 4 → 8 to keep the load at most 1/2
    _check(m, {k: s for s, k in enumerate(keys)})
    assert m.get((1, 2, 3, 4, 6)) == -1
    with pytest.raises(KeyError):
        m.put((1, 2, 3, 4, 5), 3)
    assert m.discard(2) and not m.discard(2)
    assert m.get((1, 2, 3, 4, 5)) == -1
    m.put((9, 9, 9, 9, 9), 2)  # a freed slot takes a new key
    _check(m, {keys[0]: 0, keys[1]: 1, (9, 9, 9, 9, 9): 2, keys[3]: 3})
    m.grow_slots(8)
    m.put((7, 0, 0, 0, 0), 7)
    assert m.get((7, 0, 0, 0, 0)) == 7 and m.get(keys[3]) == 3


def test_keys_differing_in_one_word_are_distinct() -> None:
    """Every word counts, including the upper half of an IPv6 address."""
    base = (0x20010DB8_00000000, 1, 0x20010DB8_00000000, 2, 0x1234)
    m = FlowKeys(slots=64)
    variants = [base]
    for w in range(5):
        for bit in (0, 31, 32, 63):
            k = list(base)
            k[w] ^= 1 << bit
            variants.append(tuple(k))  # type: ignore[arg-type]
    for slot, key in enumerate(variants):
        m.put(key, slot)
    _check(m, {k: s for s, k in enumerate(variants)})


@pytest.mark.parametrize("home", [3, 14])  # 14: the probe run wraps round the end
def test_collisions_in_one_probe_run(home: int) -> None:
    """Eight keys with the same home in a 16-entry index: one run; removing any of them keeps
    the rest reachable (backward shift), in any removal order."""
    size = 16
    rng = random.Random(home)
    same: list[Key] = []
    while len(same) < 8:
        key = tuple(rng.getrandbits(64) for _ in range(5))
        if _home(key, size) == home:  # type: ignore[arg-type]
            same.append(key)  # type: ignore[arg-type]
    for trial in range(20):
        m = FlowKeys(slots=8, size=size, seed=SEED)
        for slot, key in enumerate(same):
            m.put(key, slot)
        assert len(m.index) == size
        model = {k: s for s, k in enumerate(same)}
        order = list(range(8))
        random.Random(trial).shuffle(order)
        for slot in order:
            assert m.discard(slot)
            del model[same[slot]]
            _check(m, model)
        assert (m.index == EMPTY).all()


def test_grown_keeps_every_entry() -> None:
    m = FlowKeys(slots=300, size=1024)
    for slot in range(300):
        m.put((slot, slot * 7, 0, 1, slot % 3), slot)
    before = {(s, s * 7, 0, 1, s % 3): s for s in range(300)}
    m.index = grown(m.index, 4096)
    _check(m, before)


ops = st.lists(
    st.tuples(st.booleans(), st.tuples(*[st.sampled_from([0, 1, BIG, 1 << 32]) for _ in range(5)])),
    max_size=300,
)


def _lookups(ops: list[tuple[bool, Key]], seed: int) -> list[int]:
    """Apply `ops` to a map under `seed` (slots from a free list, as in the flow table), checking
    every step against a dict; return every lookup's answer and, at the end, every key's slot
    and the map's size."""
    m = FlowKeys(slots=2, size=2, seed=seed)
    assert m.seed == seed
    mapped: dict[Key, int] = {}
    free = [1, 0]
    seen = []
    for add, key in ops:
        if add and key not in mapped:
            if not free:
                n = len(m.keys)
                m.grow_slots(2 * n)
                free = list(range(2 * n - 1, n - 1, -1))
            mapped[key] = free.pop()
            m.put(key, mapped[key])
        elif not add and key in mapped:
            slot = mapped.pop(key)
            seen.append(int(m.discard(slot)))
            free.append(slot)
        seen.append(m.get(key))
        assert seen[-1] == mapped.get(key, -1)
    _check(m, mapped)
    return [*seen, *(m.get(k) for _, k in ops), len(m), len(m.index)]


@settings(max_examples=300, deadline=None)
@given(ops=ops, seed=st.integers(0, BIG))
def test_agrees_with_a_dict(ops: list[tuple[bool, Key]], seed: int) -> None:
    """Random inserts and removals from a small key space (many repeats, many collisions)."""
    _lookups(ops, seed)


def test_flow_table_grows_slots_and_index_then_empties() -> None:
    """5000 flows in one batch through a 4-slot table (slots and index both grow), IPv6
    addresses differing only in their upper words; all end on expiry, leaving the map empty."""
    n = 5000
    pk = np.zeros(n, dtype=PACKET_DTYPE)
    pk["status"] = ST_OK
    pk["proto"] = 17
    pk["src_hi"] = (np.arange(n, dtype=np.uint64) << np.uint64(40)) | np.uint64(0x20010DB8)
    pk["src_lo"] = 1
    pk["dst_hi"] = 0x20010DB8
    pk["dst_lo"] = 2
    pk["sport"], pk["dport"] = 50000, 3333
    table = FlowTable(capacity=4)
    slot, direction, new, reused = table.update(pk, np.zeros(n))
    assert len(np.unique(slot)) == n and new.all() and not direction.any() and not len(reused)
    assert len(table) == len(table.keys) == n and table.hwm == n
    slot2, _, new2, _ = table.update(pk, np.ones(n))  # the same flows again: found, not new
    assert (slot2 == slot).all() and not new2.any()
    gone = table.expire(1000.0)
    assert len(gone) == n and (gone["pkts_c2s"] == 2).all()
    assert len(table) == len(table.keys) == 0


@settings(max_examples=200, deadline=None)
@given(ops=ops, a=st.integers(0, BIG), b=st.integers(0, BIG))
def test_lookups_do_not_depend_on_the_seed(ops: list[tuple[bool, Key]], a: int, b: int) -> None:
    assert _lookups(ops, a) == _lookups(ops, b)


def test_seed_is_random_by_default_and_checked() -> None:
    assert len({FlowKeys(slots=1).seed for _ in range(4)}) == 4
    assert FlowTable(capacity=4, seed=7).keys.seed == 7
    assert not (hash_key(1) == hash_key(2)).any() and (hash_key(BIG) >> U32 == 0).all()
    for bad in (-1, BIG + 1):
        with pytest.raises(ValueError):
            FlowKeys(slots=1, seed=bad)


def _longest_probe(m: FlowKeys) -> int:
    """Probes the slowest lookup of a mapped key takes: its entry's distance from home, plus 1."""
    mask = len(m.index) - 1
    pos = np.flatnonzero(m.index != EMPTY).astype(np.uint64)
    home = (m.index[pos] >> U32) & np.uint64(mask)
    return int(((pos - home) & np.uint64(mask)).max()) + 1


def test_a_flood_built_for_one_seed_spreads_under_another() -> None:
    """Hash flooding: 64 keys found (by brute force, as an attacker who knew the seed could) to
    share one home in a 128-entry index make one probe run of 64 under that seed; under another
    seed the same keys spread out."""
    size, n, home = 128, 64, 5
    rng = random.Random(1)
    flood: list[Key] = []
    while len(flood) < n:  # a spoofed IPv6 source interface id and source port, say
        key = (
            0x20010DB8_00000000,
            rng.getrandbits(64),
            0x20010DB8_00000000,
            1,
            rng.getrandbits(40),
        )
        if _home(key, size, SEED) == home:
            flood.append(key)
    for seed, longest in ((SEED, n), (SEED + 1, None)):
        m = FlowKeys(slots=n, size=size, seed=seed)
        for slot, key in enumerate(flood):
            m.put(key, slot)
        assert len(m.index) == size
        _check(m, {k: s for s, k in enumerate(flood)})
        if longest:
            assert _longest_probe(m) == longest
        else:
            assert _longest_probe(m) <= 12


def test_top_bit_differences_do_not_collide() -> None:
    """Keys differing only in the top bits of two words (say two IPv6 interface ids): under a
    multiply-sum hash, whatever its multipliers or seed, their sums differ only in those top
    bits, so 64 x 64 keys share 64 hashes. Every one gets its own tag here."""
    grid = [
        (0x20010DB8_00000000, x << 58 | 1, 0x20010DB8_00000000, y << 58 | 2, 443 << 24 | 6)
        for x in range(64)
        for y in range(64)
    ]
    for seed in (SEED, 0, BIG):
        hk = hash_key(seed)
        assert len({int(_tag(hk, *(np.uint64(w) for w in k))) for k in grid}) == len(grid)
        m = FlowKeys(slots=len(grid), size=2 * len(grid), seed=seed)
        for slot, key in enumerate(grid):
            m.put(key, slot)
        assert _longest_probe(m) <= 40


def _run_captures(seed: int) -> list[np.ndarray]:
    """Everything a flow table hands out over the sample (and shared mining) captures: per batch
    slots, directions, new flags, port-reused and expired flows, then the drained flows."""
    files = captures(SAMPLES) + (captures(MINING) if MINING.is_dir() else [])
    table = FlowTable(capacity=8, seed=seed)  # tiny: slots and index grow
    out: list[np.ndarray] = []
    for path in files:
        for ch in PcapFileSource(path):
            pk = decode(ch.buf, ch.records)
            out.extend(table.update(pk, ch.records["ts"]))
            out.append(table.expire(float(ch.records["ts"].max())))
        out.append(table.drain())
    return out


def test_flow_table_results_do_not_depend_on_the_seed() -> None:
    """Slots come from the free list, never from the hash: two seeds, the same flows, slots,
    directions and order on real captures."""
    a, b = _run_captures(SEED), _run_captures(SEED ^ BIG)
    assert len(a) == len(b) and sum(len(x) for x in a) > 1000
    for x, y in zip(a, b, strict=True):  # field by field: a record's padding bytes are junk
        assert x.dtype == y.dtype and x.shape == y.shape
        for name in x.dtype.names or [None]:
            assert np.array_equal(x[name] if name else x, y[name] if name else y)
