"""The shared newline-delimited JSON helper."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from detector.base import Outcome, Verdict
from detector.signatures import jsonlines
from detector.signatures.jsonlines import Clue, Found, judge, parse


def test_parses_complete_lines_in_order() -> None:
    doc = parse(b'{"a":1}\n{"b":2}\n')
    assert doc.anchored and not doc.incomplete
    assert [obj for obj, _ in doc.objects] == [{"a": 1}, {"b": 2}]


def test_incomplete_tail_asks_for_more() -> None:
    doc = parse(b'{"a":1}\n{"method":"mining.no')
    assert doc.anchored and doc.incomplete
    assert len(doc.objects) == 1


def test_unterminated_but_complete_object_counts() -> None:
    doc = parse(b'  {"id":1,"result":null}')
    assert [obj for obj, _ in doc.objects] == [{"id": 1, "result": None}]


def test_first_line_must_be_a_json_object() -> None:
    assert not parse(b'GET / HTTP/1.1\r\n{"method":"mining.subscribe"}\n').anchored
    assert not parse(b'{not json}\n{"method":"mining.subscribe"}\n').anchored
    assert not parse(b'[1,2]\n{"method":"mining.subscribe"}\n').anchored
    assert not parse(b"D\x00\x00\x00\x10\n{}\n").anchored


def test_mid_message_tail_is_skipped() -> None:
    doc = parse(b'ab","cd",false]}\n{"id":null,"method":"mining.notify","params":[]}\n')
    assert doc.anchored
    assert doc.objects[0][0]["method"] == "mining.notify"


def test_binary_tail_is_not_skipped() -> None:
    assert not parse(b'\x00\x01}\n{"method":"mining.notify"}\n').anchored


def test_bounded_on_huge_and_nested_input() -> None:
    assert not parse(b"{" * 100_000).objects
    assert not parse(b'{"a":' + b"[" * 50_000 + b"\n").anchored
    deep = b'{"a":' + b"[" * 5000 + b"]" * 5000 + b"}\n"
    assert parse(deep).anchored is False  # longer than MAX_LINE
    nested = b'{"a":' + b"[" * 4000 + b"]" * 4000 + b"}\n"  # RecursionError inside json
    assert len(nested) < jsonlines.MAX_LINE
    assert parse(nested).anchored is False
    assert parse(b'{"n":' + b"9" * 5000 + b"}\n").anchored is False  # int too long to convert


def test_line_limit() -> None:
    data = b'{"id":1,"result":true}\n' * (jsonlines.MAX_LINES + 10)
    assert len(parse(data).objects) == jsonlines.MAX_LINES


def test_excerpt_is_printable_and_short() -> None:
    text = jsonlines.excerpt(b'{"a":"\x01\x02' + b"x" * 500 + b'"}')
    assert len(text) == 160
    assert text.isprintable()


def _assess(obj: dict[str, object]) -> Clue | None:
    return Clue("x.y", 0.9) if obj.get("method") == "x.y" else None


def test_judge_outcomes() -> None:
    assert isinstance(judge(b'{"id":1,"method":"x.y"}\n', _assess), Found)
    assert judge(b'{"id":1,"method":"other"}\n', _assess).outcome is Outcome.EXCLUDE  # type: ignore[union-attr]
    verdict = judge(b'{"id":1,"result":true}\n', _assess)
    assert isinstance(verdict, Verdict) and verdict.outcome is Outcome.NEED_MORE
    silent = b'{"id":1,"result":true}\n' * jsonlines.MAX_SILENT_OBJECTS
    assert judge(silent, _assess).outcome is Outcome.EXCLUDE  # type: ignore[union-attr]
    assert judge(b"", _assess).outcome is Outcome.NEED_MORE  # type: ignore[union-attr]
    assert judge(b'{"version": [2, 0]}\n', _assess).outcome is Outcome.EXCLUDE  # type: ignore[union-attr]


def _stdlib(line: bytes) -> object:
    """The reference `load_object` must equal: the standard parser on the UTF-8 text."""
    import json

    try:
        value = json.loads(line.decode("utf-8"))
    except Exception:
        return None
    return value if isinstance(value, dict) else None


EDGE_LINES = (
    b'{"id": 1, "method": "mining.subscribe", "params": []}',
    b'{"id": 123456789012345678901234567890}',  # beyond 64 bits: an int, never a float
    b'{"id": 18446744073709551615, "n": -9223372036854775808}',
    b'{"id": 18446744073709551616}',
    b'{"x": 0.1000000000000000055511151231257827021181583404541015625}',
    b'{"x": NaN, "y": Infinity, "z": -Infinity}',
    b'{"x": 1e400, "y": -0.0, "z": 1.0e+2}',
    b'{"s": "\\ud800 lone surrogate"}',
    b'{"a": 1, "a": 2}',
    b"\xef\xbb\xbf{}",
    b'{"s": "\xff"}',
    b'{"s": "tab\tinside"}',
    b"[1, 2]",
    b'{"deep": ' + b"[" * 5000 + b"]" * 5000 + b"}",
    b"{}  ",
    b"{} {}",
)


def test_load_object_equals_the_standard_parser_on_edge_lines() -> None:
    for line in EDGE_LINES:
        got, want = jsonlines.load_object(line), _stdlib(line)
        assert repr(got) == repr(want), line[:60]


@settings(max_examples=600, deadline=None)
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
        lambda inner: (
            st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
        ),
        max_leaves=12,
    ),
    st.binary(max_size=3),
)
def test_load_object_equals_the_standard_parser(value: object, noise: bytes) -> None:
    import json

    text = json.dumps({"v": value}).encode()
    for line in (text, text[: len(text) // 2] + noise + text[len(text) // 2 :]):
        assert repr(jsonlines.load_object(line)) == repr(_stdlib(line))
