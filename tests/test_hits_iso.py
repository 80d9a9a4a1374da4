"""`detector.hits.iso` must render exactly what `datetime` renders (it replaced it for speed)."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from detector.hits import iso


def _reference(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


@given(st.floats(min_value=-1e9, max_value=4e9, allow_nan=False))
def test_iso_matches_datetime(ts: float) -> None:
    assert iso(ts) == _reference(ts)


@given(st.integers(min_value=0, max_value=4_000_000_000), st.integers(0, 1_999_999))
def test_iso_half_microseconds_round_like_datetime(sec: int, half_us: int) -> None:
    ts = sec + half_us / 2e6  # many ties at .5 µs, where the rounding rule shows
    assert iso(ts) == _reference(ts)


def test_iso_known_values() -> None:
    assert iso(0.0) == "1970-01-01T00:00:00.000000Z"
    assert iso(1700000000.9999996) == "2023-11-14T22:13:21.000000Z"  # rounds into the next second
    assert iso(-0.5) == "1969-12-31T23:59:59.500000Z"
