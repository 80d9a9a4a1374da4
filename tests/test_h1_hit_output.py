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
from detector.hits import FlowHit, hit_of
from minewatch.lists import build_matcher
from minewatch.output import HitPrinter
from minewatch.scanrun import collect_hits
from tests.conftest import MINING, captures, need_shared
from tests.test_engine_fast_hits import reference_hit

# -- hits ----------------------------------------------------------------------------------------


def _plain_iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def _plain_line(hit: FlowHit) -> str:
    doc = hit.to_json() | {"first_ts": _plain_iso(hit.first_ts), "last_ts": _plain_iso(hit.last_ts)}
    return orjson.dumps(doc, default=str).decode() + "\n"


def test_real_hits_equal_plain_reading(monkeypatch: pytest.MonkeyPatch) -> None:
    need_shared()
    pairs: list[tuple[FlowHit | None, FlowHit | None]] = []

    def checked(*args: Any) -> FlowHit | None:
        want = reference_hit(*args)
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
