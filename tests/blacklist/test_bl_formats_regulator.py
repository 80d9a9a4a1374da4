"""The regulator's weekly mining-IP list (schema: docs/regulator-list.md)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from blacklist.entries import Category, Kind
from blacklist.parsers import PARSERS, ParseResult, SourceMeta, parse_path, regulator

SAMPLE = Path(__file__).resolve().parents[2] / "samples" / "regulator_week.csv"
SRC = SourceMeta("regulator-test", Category.POOL, 0.9)  # public_only=True: must not matter
HEADER = "ip,port,protocol,first_seen,last_seen,coin,note"


def parse(*lines: str, source: SourceMeta = SRC) -> ParseResult:
    return regulator.parse(list(lines), source)


def test_registered_under_its_name() -> None:
    assert PARSERS["regulator"] is regulator.parse
    assert tuple(HEADER.split(",")) == regulator.COLUMNS


def test_sample_file() -> None:
    r = parse_path(SAMPLE, "regulator", SRC)
    assert [(e.kind, e.value) for e in r.entries] == [
        (Kind.IP, "192.0.2.10"),
        (Kind.IP, "198.51.100.23"),
        (Kind.CIDR, "203.0.113.0/28"),
        (Kind.IP, "100.64.12.7"),
        (Kind.IP, "10.20.3.44"),
        (Kind.IP, "2001:db8:20::15"),
    ]
    assert Counter(p.code for p in r.problems) == {
        "bad-ipv4": 1,
        "bad-port": 1,
        "bad-protocol": 1,
        "seen-order": 1,
        "bad-ip": 1,
        "bad-date": 1,
    }
    assert (r.lines, r.skipped) == (16, 4)  # 2 comments, the header, 1 blank line
    assert r.summary() == "6 entries, 6 problems"
    cgnat = r.entries[3]
    assert (
        cgnat.raw
        == '100.64.12.7,,,2024-05-01,2024-05-01,XMR,"CGNAT egress, several subscribers behind it"'
    )
    assert (cgnat.source, cgnat.confidence, cgnat.line) == ("regulator-test", 0.9, 7)


def test_subscriber_space_is_accepted_whatever_the_source_says() -> None:
    r = parse(HEADER, "10.1.2.3,,,,,,", "100.64.0.0/10,,,,,,", "fd00::1,,,,,,", "127.0.0.1,,,,,,")
    assert [e.value for e in r.entries] == ["10.1.2.3", "100.64.0.0/10", "fd00::1", "127.0.0.1"]
    assert r.problems == ()


def test_category_falls_back_to_the_source_until_a_regulator_category_exists() -> None:
    (e,) = parse(HEADER, "192.0.2.1,3333,tcp,2024-05-01,2024-05-02,XMR,x").entries
    expected = getattr(Category, "REGULATOR", Category.POOL)
    assert e.category is expected


def test_header_by_name_optional_and_bom() -> None:
    reordered = parse(
        "\ufeffcoin,IP,Port,extra", "XMR,192.0.2.1,3333,whatever", "BTC,192.0.2.2,99999,x"
    )
    assert [e.value for e in reordered.entries] == ["192.0.2.1"]
    assert [p.code for p in reordered.problems] == ["bad-port"]
    positional = parse("192.0.2.1,3333,udp,2024-05-01,2024-05-01T10:00:00+00:00,XMR,no header")
    assert [e.value for e in positional.entries] == ["192.0.2.1"] and positional.skipped == 0


def test_field_rules() -> None:
    r = parse(
        HEADER,
        ",3333,tcp,,,,",
        "pool.example,,,,,,",
        "192.0.2.0/24,3333,tcp,,,,",
        "192.0.2.1/24,,,,,,",
        "0.0.0.0/0,,,,,,",
        "192.0.2.1,0,,,,,",
        "192.0.2.1,3333,icmp,,,,",
        "192.0.2.1,,,2024-13-01,,,",
        "192.0.2.1,,,2024-05-02T00:00:00+02:00,2024-05-01T23:00:00Z,,",
        "192.0.2.1,,,2024-05-02,2024-05-01T23:59:59,,",
        "192.0.2.1,,,,,XMR,note,unquoted, commas",
        '"192.0.2.1,broken',
    )
    assert [p.code for p in r.problems] == [
        "no-ip",
        "bad-ip",
        "host-bits",
        "too-broad",
        "bad-port",
        "bad-protocol",
        "bad-date",
        "seen-order",
        "extra-fields",
        "label-chars",  # an unclosed quote swallows the rest of the line into the ip field
    ]
    # a CIDR with a port is still the CIDR: the port describes the connection (module doc)
    assert [e.value for e in r.entries] == ["192.0.2.0/24", "192.0.2.1"]
    assert r.entries[1].line == 10  # 22:00Z on the 1st is before 23:00Z: in order
