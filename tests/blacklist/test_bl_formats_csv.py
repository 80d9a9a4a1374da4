"""CSV feeds: the indicator column (and optional port column) come from `SourceMeta.options`."""

from __future__ import annotations

from blacklist.entries import Kind
from blacklist.parsers import PARSERS, ParseResult, SourceMeta, csvfeed


def parse(lines: list[str], **options: str) -> ParseResult:
    return csvfeed.parse(lines, SourceMeta("csv-test", options=options))


def test_registered_under_its_name() -> None:
    assert PARSERS["csv"] is csvfeed.parse


def test_column_by_header_name() -> None:
    lines = [
        "\ufeffaddress,source\r\n",
        "8.8.8.8,https://isc.example/api/threatlist/miner\r\n",
        "pool.example,https://cryptoioc.example/csv\r\n",
        "# a comment\r\n",
        "\r\n",
        '"8.8.4.0/24","quoted, with a comma"\r\n',
    ]
    r = parse(lines, column="address")
    assert [(e.kind, e.value, e.line) for e in r.entries] == [
        (Kind.IP, "8.8.8.8", 2),
        (Kind.DOMAIN, "pool.example", 3),
        (Kind.CIDR, "8.8.4.0/24", 6),
    ]
    assert r.entries[0].raw == "8.8.8.8,https://isc.example/api/threatlist/miner"
    assert (r.lines, r.skipped) == (6, 3)  # header, comment, blank


def test_defaults_are_first_column_with_a_header() -> None:
    r = parse(["ip,x", "8.8.8.8,y"])
    assert [e.value for e in r.entries] == ["8.8.8.8"] and r.skipped == 1


def test_index_port_column_delimiter_and_no_header() -> None:
    lines = ["a\t8.8.8.8\t3333", "b\tpool.example\t443", "c\t8.8.4.4\t", "d\t9.9.9.9\t70000"]
    r = parse(lines, column="1", port_column="2", delimiter="tab", header="no")
    assert [(e.kind, e.value) for e in r.entries] == [
        (Kind.ENDPOINT, "8.8.8.8:3333"),
        (Kind.DOMAIN, "pool.example"),  # validated port, dropped: a domain carries none
        (Kind.IP, "8.8.4.4"),  # an empty port cell: just the address
    ]
    assert [p.code for p in r.problems] == ["bad-port"]


def test_row_problems() -> None:
    r = parse(
        ["address,source", "only-one-field.example", "a.example, ", "x,10.1.2.3", "a\rb,x"],
        column="source",
    )
    assert [p.code for p in r.problems] == ["short-row", "empty", "bogon", "bad-csv"]
    r = parse(["address,source", "8.8.8.8,x"], column="nope")
    assert [p.code for p in r.problems] == ["no-column"]
    r = parse(["address,source", "8.8.8.8,x"], column="address", port_column="port")
    assert [p.code for p in r.problems] == ["no-column"]
