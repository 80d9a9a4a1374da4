"""Property tests: arbitrary and mutated datagrams never raise or stall, records before the
damage survive, counters add up, and batching does not change what is decoded."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipelines.decoders.flowexport import decode_batch, pack
from pipelines.decoders.flowrec import FLOWREC_DTYPE
from pipelines.decoders.flowstate import FlowState

from .builders import (
    V4_FIELDS,
    decode,
    flow_values,
    ipfix,
    options_template_ipfix,
    options_template_v9,
    record,
    set_,
    template,
    tuples,
    v5,
    v5_record,
    v9,
)

FAST = settings(
    max_examples=300,
    deadline=timedelta(milliseconds=500),
    suppress_health_check=[HealthCheck.too_slow],
)
VAR = [(8, 4), (12, 4), (82, 65535), (2, 2), (1, 4, 9), (7, 2)]
PREFIX = st.sampled_from([b"", b"\x00\x05", b"\x00\x09", b"\x00\x0a"])


@pytest.fixture(autouse=True, scope="module")
def _compiled() -> None:
    """Compile (or load) every kernel before hypothesis times the examples."""
    for make in (valid_v5, valid_v9, valid_ipfix):
        decode(FlowState(), [make()[0]])


def check_counters(state: FlowState, fed: int, returned: int) -> None:
    s = state.stats()
    assert s.datagrams == fed
    assert s.records == returned
    assert 0 <= s.malformed_datagrams <= fed
    assert s.unknown_versions + s.malformed_datagrams <= fed
    assert s.template_misses == (
        s.held_sets_decoded + s.held_sets_expired + s.held_sets_dropped + len(state.held)
    )
    assert sum(e.datagrams for e in s.exporters.values()) <= fed
    assert all(v >= 0 for e in s.exporters.values() for v in (e.lost, e.sequence_gaps))


@FAST
@given(st.lists(st.tuples(PREFIX, st.binary(max_size=300)), max_size=8))
def test_arbitrary_bytes(items: list[tuple[bytes, bytes]]) -> None:
    state = FlowState()
    dgs = [p + b for p, b in items]
    recs = decode(state, dgs)
    assert recs.dtype == FLOWREC_DTYPE
    check_counters(state, len(dgs), len(recs))


def valid_ipfix(seq: int = 0) -> tuple[bytes, int, list[tuple[str, str, int, int, int, int, int]]]:
    """A message whose first data set (3 records) ends at the returned offset."""
    vals = [flow_values(sport=s) for s in (1, 2, 3)]
    head = ipfix(
        [
            set_(2, template(256, V4_FIELDS) + template(257, VAR)),
            set_(3, options_template_ipfix(258, [(302, 8)], [(305, 4), (306, 4)])),
            set_(256, b"".join(record(V4_FIELDS, v) for v in vals)),
        ],
        seq=seq,
    )
    tail = [
        set_(258, record([(302, 8), (305, 4), (306, 4)], [1, 1, 9])),
        set_(257, record(VAR, ["1.1.1.1", "2.2.2.2", b"xe-1/0/0", 4, 5, 6]) * 2),
        set_(256, record(V4_FIELDS, flow_values(sport=9))),
    ]
    expected = [("10.0.0.1", "192.0.2.7", s, 3333, 6, 10, 1000) for s in (1, 2, 3)]
    msg = head + b"".join(tail)
    return msg[:2] + len(msg).to_bytes(2, "big") + msg[4:], len(head), expected


def valid_v9() -> tuple[bytes, int, list[tuple[str, str, int, int, int, int, int]]]:
    vals = [flow_values(sport=s) for s in (1, 2, 3)]
    head = v9(
        [
            set_(0, template(256, V4_FIELDS, ipfix=False)),
            set_(1, options_template_v9(258, [(1, 4)], [(48, 1), (34, 4)]), pad=True),
            set_(256, b"".join(record(V4_FIELDS, v) for v in vals)),
        ]
    )
    tail = set_(258, record([(1, 4), (48, 1), (34, 4)], [0, 1, 10]), pad=True)
    tail += set_(256, record(V4_FIELDS, flow_values(sport=9)) * 2)
    expected = [("10.0.0.1", "192.0.2.7", s, 3333, 6, 10, 1000) for s in (1, 2, 3)]
    return head + tail, len(head), expected


def valid_v5() -> tuple[bytes, int, list[tuple[str, str, int, int, int, int, int]]]:
    msg = v5([v5_record(sport=s) for s in range(1, 7)])
    expected = [("10.0.0.1", "192.0.2.7", s, 3333, 6, 10, 1000) for s in (1, 2, 3)]
    return msg, 24 + 3 * 48, expected


MUTATION = st.tuples(
    st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), max_size=6),
    st.one_of(st.none(), st.integers(0, 10_000)),
)


def mutate(msg: bytes, keep: int, muts: list[tuple[int, int]], cut: int | None) -> bytes:
    """Overwrite bytes and maybe truncate, only after the first `keep` bytes."""
    data = bytearray(msg)
    span = len(data) - keep
    for pos, val in muts:
        if span > 0:
            data[keep + pos % span] = val
    if cut is not None and span > 0:
        data = data[: keep + cut % span]
    return bytes(data)


@FAST
@given(st.sampled_from(["v5", "v9", "ipfix"]), MUTATION)
def test_mutated_datagram_keeps_records_before_the_damage(kind: str, mutation) -> None:  # type: ignore[no-untyped-def]
    msg, keep, expected = {"v5": valid_v5, "v9": valid_v9, "ipfix": valid_ipfix}[kind]()
    bad = mutate(msg, keep, *mutation)
    state = FlowState()
    recs = decode(state, [bad])
    assert tuples(recs[:3]) == expected
    check_counters(state, 1, len(recs))


@FAST
@given(
    st.lists(st.tuples(st.sampled_from(["v5", "v9", "ipfix"]), MUTATION), min_size=1, max_size=6)
)
def test_mutated_batch(items) -> None:  # type: ignore[no-untyped-def]
    builders = {"v5": valid_v5, "v9": valid_v9, "ipfix": valid_ipfix}
    dgs = [mutate(*builders[kind]()[:2], *m) for kind, m in items]
    state = FlowState()
    recs = decode(state, dgs)
    check_counters(state, len(dgs), len(recs))


@settings(max_examples=60, deadline=timedelta(milliseconds=1000))
@given(st.lists(st.sampled_from(["tmpl", "data", "var", "opt", "change"]), max_size=12), st.data())
def test_batching_does_not_change_the_records(kinds: list[str], data: st.DataObject) -> None:
    """One batch or one datagram at a time: the same records, in the same order (the held data
    of a batch comes after its other records, so compare sorted)."""
    other = [(12, 4), (8, 4), (11, 2), (7, 2), (4, 1), (6, 1), (2, 8), (1, 8)]
    seq = 0
    dgs: list[bytes] = []
    for k in kinds:
        if k == "tmpl":
            sets = [set_(2, template(256, V4_FIELDS) + template(257, VAR))]
        elif k == "change":
            sets = [set_(2, template(256, other))]
        elif k == "opt":
            sets = [
                set_(3, options_template_ipfix(258, [(302, 8)], [(305, 4), (306, 4)])),
                set_(258, record([(302, 8), (305, 4), (306, 4)], [1, 1, 3])),
            ]
        elif k == "data":
            sets = [set_(256, record(V4_FIELDS, flow_values(sport=len(dgs))) * 2)]
        else:
            sets = [set_(257, record(VAR, ["1.1.1.1", "2.2.2.2", b"if", 4, 5, len(dgs)]))]
        dgs.append(ipfix(sets, seq=seq))
        seq += 2
    whole = FlowState()
    batch = decode(whole, dgs)
    single = FlowState()
    one = [decode(single, [d]) for d in dgs]
    ones = np.concatenate([batch[:0], *one])
    key = lambda r: (int(r["sport"]), int(r["src_lo"]), int(r["sampling"]))  # noqa: E731
    assert sorted(map(key, batch)) == sorted(map(key, ones))
    assert whole.stats().records == single.stats().records == len(batch)


@FAST
@given(st.binary(min_size=0, max_size=2000), st.lists(st.integers(0, 2000), max_size=10))
def test_arbitrary_split_of_a_buffer(blob: bytes, cuts: list[int]) -> None:
    """Any partition of any buffer into datagrams (the receive loop's view) is safe."""
    points = sorted({min(c, len(blob)) for c in cuts} | {0, len(blob)})
    off = np.array(points[:-1], np.int64)
    ln = np.diff(np.array(points, np.int64)).astype(np.int64)
    state = FlowState()
    eid = state.exporter_id("192.0.2.1")
    buf = np.frombuffer(blob, np.uint8)
    recs = decode_batch(state, buf, off, ln, np.full(len(off), eid, np.uint32), 0.0)
    check_counters(state, len(off), len(recs))


def test_pack_round_trip() -> None:
    buf, off, ln = pack([b"ab", b"", b"cde"])
    assert bytes(buf) == b"abcde" and list(off) == [0, 2, 2] and list(ln) == [2, 0, 3]
