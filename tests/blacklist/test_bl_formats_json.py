"""Pool-endpoint JSON: records at a path, host/port/tls field names from the options."""

from __future__ import annotations

import json

from blacklist.entries import Kind
from blacklist.parsers import PARSERS, ParseResult, SourceMeta, jsonfeed

RAINBOW = {"host": "Host", "port": "Port", "tls": "SSL"}


def parse(lines: list[str], **options: str) -> ParseResult:
    return jsonfeed.parse(lines, SourceMeta("json-test", options=options))


def test_registered_under_its_name() -> None:
    assert PARSERS["json"] is jsonfeed.parse


def test_one_line_document_with_bom_and_string_ports() -> None:
    records = [
        {"Pool": "Z", "Host": "Allium.NA.mine.example", "Port": 6433, "SSL": False},
        {"Pool": "N", "Host": "8.8.8.8", "Port": "5555", "SSL": True},
        {"Pool": "N", "Host": "2a01:4f8::1", "Port": 443, "SSL": None},
        {"Pool": "L", "Host": "8.8.4.4"},
    ]
    r = parse(["\ufeff" + json.dumps(records)], **RAINBOW)
    assert [(e.kind, e.value, e.subdomains) for e in r.entries] == [
        (Kind.DOMAIN, "allium.na.mine.example", False),
        (Kind.ENDPOINT, "8.8.8.8:5555", False),
        (Kind.ENDPOINT, "[2a01:4f8::1]:443", False),
        (Kind.IP, "8.8.4.4", False),
    ]
    assert r.lines == 1 and r.skipped == 0 and {e.line for e in r.entries} == {1}
    assert '"Port": 6433' in r.entries[0].raw  # the port of a domain survives in raw


def test_pretty_printed_records_report_their_start_line() -> None:
    doc = {
        "data": {
            "meta": [1, {"x": "]"}],
            "pools": [{"host": "a.example"}, {"host": "b.example", "port": 1}],
        }
    }
    lines = json.dumps(doc, indent=2).splitlines(keepends=True)
    r = parse(lines, path="data.pools")
    starts = [i for i, line in enumerate(lines, 1) if line.strip() == "{"]
    assert [e.line for e in r.entries] == starts[-2:]
    assert r.entries[0].raw == lines[starts[-2] - 1].rstrip("\n")
    assert r.skipped == len(lines) - 2
    assert [e.value for e in parse(lines, path="$.data.pools").entries] == [
        "a.example",
        "b.example",
    ]


def test_record_problems() -> None:
    records = [
        "not an object",
        {"host": 5},
        {"port": 3333},
        {"host": "8.8.8.8", "port": True},
        {"host": "8.8.8.8", "port": "33a"},
        {"host": "8.8.8.8", "port": 70000},
        {"host": "8.8.8.8", "tls": "yes"},
        {"host": "10.0.0.1", "port": 3333},
        {"host": "pool.example", "port": 3333},
    ]
    lines = ["["] + [json.dumps(x) + ("," if i < 8 else "") for i, x in enumerate(records)] + ["]"]
    r = parse(lines)
    assert [(p.code, p.line) for p in r.problems] == [
        ("not-object", 2),
        ("no-host", 3),
        ("no-host", 4),
        ("bad-port", 5),
        ("bad-port", 6),
        ("bad-port", 7),
        ("bad-tls", 8),
        ("bogon", 9),
    ]
    assert [e.value for e in r.entries] == ["pool.example"] and r.skipped == 2


def test_document_problems_are_one_problem() -> None:
    broken = parse(["[", '{"host": "a.example"},', '{"host": "b.example"', "]"])
    assert [(p.code, p.line) for p in broken.problems] == [("bad-json", 4)] and not broken.entries
    assert broken.skipped == 3
    assert [p.code for p in parse(['{"pools": []}']).problems] == ["no-array"]
    assert [p.code for p in parse(['{"pools": {}}'], path="pools").problems] == ["no-array"]
    assert [p.code for p in parse(["[1] [2]"]).problems] == ["bad-json"]
    assert [p.code for p in parse(["[" * 100_000]).problems] == ["bad-json"]
    empty = parse(["", "  "])
    assert (empty.entries, empty.problems, empty.skipped) == ((), (), 2)


def test_array_of_strings_with_the_element_as_host() -> None:
    r = parse(['{"list": ["pool.example", "8.8.8.8", 3]}'], path="list", host="$")
    assert [e.value for e in r.entries] == ["pool.example", "8.8.8.8"]
    assert [p.code for p in r.problems] == ["no-host"]
