"""The flow key map (open addressing in numpy arrays) against a Python dict, and its edge cases."""

from __future__ import annotations

import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipelines.batch import PACKET_DTYPE, ST_OK
from pipelines.flowkeys import EMPTY, FlowKeys, Key, _tag, grown
from pipelines.flows import FlowTable

BIG = (1 << 64) - 1


def _home(key: Key, size: int) -> int:
    return int(_tag(*(np.uint64(w) for w in key))) & (size - 1)


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
        m = FlowKeys(slots=8, size=size)
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


@settings(max_examples=300, deadline=None)
@given(ops=ops)
def test_agrees_with_a_dict(ops: list[tuple[bool, Key]]) -> None:
    """Random inserts and removals from a small key space (many repeats, many collisions)."""
    m = FlowKeys(slots=2, size=2)
    model: dict[Key, int] = {}
    free: list[int] = [1, 0]
    for add, key in ops:
        if add and key not in model:
            if not free:
                n = len(m.keys)
                m.grow_slots(2 * n)
                free = list(range(2 * n - 1, n - 1, -1))
            slot = free.pop()
            m.put(key, slot)
            model[key] = slot
        elif not add and key in model:
            slot = model.pop(key)
            assert m.discard(slot)
            free.append(slot)
        else:
            assert m.get(key) == model.get(key, -1)
    _check(m, model)


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
