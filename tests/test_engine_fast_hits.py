"""`hit_of` and `merge_detail` give what their plain step-by-step readings give.

Both run for every hit of a scan, so they take short cuts: a one-element list is not put through
a set and a sort, the variant is found in the loop that merges the details, enum members are
looked up once. The references below are the plain readings; random evidence lists (kinds,
classes, weak flags, confidences and details that collide) must give equal hits.
"""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from detector.base import Evidence, EvidenceKind, HitClass, combine_confidence
from detector.hits import _VARIANT_RANK, TRANSPORTS, FlowHit, hit_of, merge_detail
from pipelines.batch import addr_text


def _reference_merge(into: dict[str, Any], extra: dict[str, Any]) -> None:
    for key, value in extra.items():
        if isinstance(value, list):
            have = into.get(key)
            if have is None:
                into[key] = sorted(set(map(str, value))) if value else []
            elif isinstance(have, list):
                into[key] = sorted({*map(str, have), *map(str, value)})
        elif key not in into and value is not None and value != "":
            into[key] = value


def reference_hit(
    source: str, evidence: list[Evidence], first_ts: float, last_ts: float, proto: int,
    c_hi: int, c_lo: int, cport: int, s_hi: int, s_lo: int, sport: int, packets: int,
    nbytes: int,
) -> FlowHit | None:  # fmt: skip
    """`hit_of` read step by step (also the oracle of tests/test_h1_hit_output.py)."""
    mining = [e for e in evidence if not e.weak and e.cls == HitClass.MINING]
    other = [e for e in evidence if not e.weak and e.cls != HitClass.MINING]
    weak = [e for e in evidence if e.weak]
    if mining:
        cls, used = HitClass.MINING, mining + weak
    elif other:
        cls, used = HitClass.COIN_P2P, other
    else:
        return None
    used = sorted(used, key=lambda e: (_VARIANT_RANK.get(e.kind, 99), -e.confidence))
    detail: dict[str, Any] = {}
    kinds: list[EvidenceKind] = []
    for e in used:
        _reference_merge(detail, e.detail)
        if e.kind not in kinds:
            kinds.append(e.kind)
    variant = next((e.variant for e in used if e.variant), "") or str(used[0].kind)
    return FlowHit(
        source, first_ts, last_ts, TRANSPORTS.get(proto) or str(proto), addr_text(c_hi, c_lo),
        cport, addr_text(s_hi, s_lo), sport, cls, kinds, variant,
        combine_confidence([e.confidence for e in used]), detail, packets, nbytes,
    )  # fmt: skip


KEYS = st.sampled_from(["methods", "agent", "excerpt", "pool_port", "attempt"])
VALUES = st.one_of(
    st.lists(
        st.one_of(st.sampled_from(["b", "a", "mining.submit"]), st.integers(0, 2)), max_size=3
    ),
    st.sampled_from(["", "cgminer", "xmrig"]),
    st.none(),
    st.integers(0, 3),
    st.booleans(),
)
DETAILS = st.dictionaries(KEYS, VALUES, max_size=4)
EVIDENCE = st.builds(
    Evidence,
    st.sampled_from(list(EvidenceKind)),
    st.sampled_from([0.0, 0.1, 0.85, 0.9, 0.97, 1.0]),
    st.sampled_from(list(HitClass)),
    st.sampled_from(["", "stratum-v1", "http-getwork"]),
    DETAILS,
    st.booleans(),
)


@settings(max_examples=500, deadline=None)
@given(st.lists(DETAILS, max_size=4))
def test_merge_detail_equals_reference(details: list[dict[str, Any]]) -> None:
    fast: dict[str, Any] = {}
    ref: dict[str, Any] = {}
    for extra in details:
        merge_detail(fast, extra)
        _reference_merge(ref, extra)
        assert fast == ref
        assert [type(v) for v in fast.values()] == [type(v) for v in ref.values()]


@settings(max_examples=800, deadline=None)
@given(st.lists(EVIDENCE, max_size=5), st.sampled_from([6, 17, 47]))
def test_hit_of_equals_reference(evidence: list[Evidence], proto: int) -> None:
    before = [(e.kind, e.variant, dict(e.detail)) for e in evidence]
    got = hit_of("f.pcap", evidence, 1.5, 2.5, proto, 0, 1, 40000, 0, 2, 3333, 7, 900)
    want = reference_hit("f.pcap", evidence, 1.5, 2.5, proto, 0, 1, 40000, 0, 2, 3333, 7, 900)
    assert got == want
    if got is not None and want is not None:
        assert got.to_json() == want.to_json()
    assert [(e.kind, e.variant, e.detail) for e in evidence] == before  # the evidence is not edited
