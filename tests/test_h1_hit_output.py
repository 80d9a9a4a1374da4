"""The memos and short cuts of the hit and name paths give what the plain readings give.

`hit_of` remembers combined confidences, `iso` keeps the whole second as a float and pads with
`zfill`, the printer lets orjson append the newline, and `Matcher.match_domain` remembers the
IDNA form of non-ASCII names. Each is compared here with its plain reading: on every hit of the
shared real captures (evidence, confidence, printed line) and on random IDN names, each asked
twice so the second answer comes from the memo.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import detector.engine
from blacklist.matcher import Matcher
from blacklist.syntax import EntryError, canonical_domain, parse_item
from detector.base import Evidence, EvidenceKind, HitClass, combine_confidence
from detector.hits import _VARIANT_RANK, TRANSPORTS, FlowHit, hit_of, merge_detail
from minewatch.lists import build_matcher
from minewatch.output import HitPrinter
from minewatch.scanrun import collect_hits
from pipelines.batch import addr_text
from tests.conftest import MINING, captures, need_shared

# -- hits ----------------------------------------------------------------------------------------


def _plain_hit(
    source: str, evidence: list[Evidence], first_ts: float, last_ts: float, proto: int,
    c_hi: int, c_lo: int, cport: int, s_hi: int, s_lo: int, sport: int, packets: int,
    nbytes: int,
) -> FlowHit | None:  # fmt: skip
    """`hit_of` read step by step, with no memo."""
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
        merge_detail(detail, e.detail)
        if e.kind not in kinds:
            kinds.append(e.kind)
    variant = next((e.variant for e in used if e.variant), "") or str(used[0].kind)
    return FlowHit(
        source, first_ts, last_ts, TRANSPORTS.get(proto) or str(proto), addr_text(c_hi, c_lo),
        cport, addr_text(s_hi, s_lo), sport, cls, kinds, variant,
        combine_confidence([e.confidence for e in used]), detail, packets, nbytes,
    )  # fmt: skip


def _plain_iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def _plain_line(hit: FlowHit) -> str:
    doc = hit.to_json() | {"first_ts": _plain_iso(hit.first_ts), "last_ts": _plain_iso(hit.last_ts)}
    return orjson.dumps(doc, default=str).decode() + "\n"


def test_real_hits_equal_plain_reading(monkeypatch: pytest.MonkeyPatch) -> None:
    need_shared()
    pairs: list[tuple[FlowHit | None, FlowHit | None]] = []

    def checked(*args: Any) -> FlowHit | None:
        want = _plain_hit(*args)
        got = hit_of(*args)
        pairs.append((got, want))
        return got

    monkeypatch.setattr(detector.engine, "hit_of", checked)
    matcher, _ = build_matcher()
    files = captures(MINING)
    hits, stats = collect_hits(files + files, matcher)  # twice: the memos are warm the 2nd time
    assert not stats.errors and hits
    assert len({h.confidence for h in hits}) > 3  # several combinations were remembered
    for got, want in pairs:
        assert got == want
    out = io.StringIO()
    printer = HitPrinter("jsonl", out)
    for h in hits:
        printer(h)
    printer.close()
    assert out.getvalue() == "".join(_plain_line(h) for h in hits)


# -- names ---------------------------------------------------------------------------------------

_LISTED = ["münchen.example", "xn--bcher-kva.example", "例え.テスト", "pool.example"]
_CHARS = st.sampled_from(["a", "b", "ü", "Ü", "例", "え", "-", ".", "。", "．", "\u2024", "\ud800"])
_NAMES = st.one_of(
    st.lists(_CHARS, min_size=1, max_size=8).map("".join),
    st.tuples(st.lists(_CHARS, max_size=4).map("".join), st.sampled_from(_LISTED)).map(".".join),
    st.sampled_from(["小佛專機", "MÜNCHEN.example", "bücher.example", "例え.テスト."]),
)


def _plain_match(m: Matcher, name: str) -> int:
    """`match_domain` of a non-ASCII name through `canonical_domain` every time."""
    try:
        canonical = canonical_domain(name)
    except EntryError:
        return -1
    return m.match_domain(canonical)


@settings(max_examples=400, deadline=None)
@given(st.lists(_NAMES, min_size=1, max_size=6))
def test_idn_names_match_like_the_plain_reading(names: list[str]) -> None:
    m = Matcher([parse_item(v) for v in _LISTED[:3]] + [parse_item(_LISTED[3], subdomains=False)])
    for name in names + names:  # the second round answers from the memo
        if name.isascii():
            continue
        assert m.match_domain(name) == _plain_match(m, name), name
