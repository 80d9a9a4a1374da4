"""The shared newline-delimited JSON helper."""

from __future__ import annotations

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
