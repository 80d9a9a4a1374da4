"""MISP warning-lists: cidr and hostname lists become (allowlist) entries; patterns do not."""

from __future__ import annotations

import json

from blacklist.entries import Category, Kind
from blacklist.parsers import PARSERS, ParseResult, SourceMeta, misp

ALLOW = SourceMeta("misp-test", Category.ALLOWLIST)


def warninglist(kind: str, items: list[object]) -> list[str]:
    doc = {"description": "d", "list": items, "name": "n", "type": kind, "version": 1}
    return json.dumps(doc, indent=2).splitlines(keepends=True)


def parse(lines: list[str], source: SourceMeta = ALLOW) -> ParseResult:
    return misp.parse(lines, source)


def test_registered_under_its_name() -> None:
    assert PARSERS["misp"] is misp.parse


def test_cidr_lists_import_private_and_reserved_space_as_allowlist() -> None:
    items = [
        "10.0.0.0/8",
        "0.0.0.0/8",
        "240.0.0.0/4",
        "255.255.255.255/32",
        "2001:db8::/32",
        "1.1.1.1",
    ]
    lines = warninglist("cidr", items)
    r = parse(lines)
    assert [(e.kind, e.value) for e in r.entries] == [
        (Kind.CIDR, "10.0.0.0/8"),
        (Kind.CIDR, "0.0.0.0/8"),
        (Kind.CIDR, "240.0.0.0/4"),
        (Kind.IP, "255.255.255.255"),
        (Kind.CIDR, "2001:db8::/32"),
        (Kind.IP, "1.1.1.1"),
    ]
    assert all(e.category is Category.ALLOWLIST for e in r.entries)
    assert [e.line for e in r.entries] == [4, 5, 6, 7, 8, 9]  # after {, description, list
    assert r.entries[0].raw == '    "10.0.0.0/8",'
    assert r.skipped == len(lines) - 6
    # the same list as a block list would be rejected: the category is what lets it in
    strict = parse(lines, SourceMeta("misp-as-pool"))
    assert [p.code for p in strict.problems] == ["bogon"] * 5 and len(strict.entries) == 1


def test_cidr_list_with_other_things() -> None:
    r = parse(warninglist("cidr", ["pool.example", "8.8.8.8:53", "1.2.3.4/24", 7, "8.8.8.0/24"]))
    assert [p.code for p in r.problems] == ["not-cidr", "not-cidr", "host-bits", "not-string"]
    assert [e.value for e in r.entries] == ["8.8.8.0/24"]


def test_hostname_and_string_lists() -> None:
    hosts = parse(warninglist("hostname", ["Sinkhole.Example", ".dot.example", "8.8.8.8", "x"]))
    assert [(e.value, e.subdomains) for e in hosts.entries] == [
        ("sinkhole.example", True),
        ("dot.example", True),
    ]
    assert [p.code for p in hosts.problems] == ["not-hostname", "single-label"]
    strings = parse(warninglist("string", ["exact.example", "bad name.example"]))
    assert [(e.value, e.subdomains) for e in strings.entries] == [("exact.example", False)]
    assert [p.code for p in strings.problems] == ["label-chars"]


def test_pattern_types_are_unsupported_per_element() -> None:
    for kind in ("substring", "regex", "mystery"):
        r = parse(warninglist(kind, ["pool", "^x.*$", "third"]))
        assert [p.code for p in r.problems] == ["unsupported-type"] * 3 and not r.entries


def test_broken_documents() -> None:
    assert [p.code for p in parse(['["not", "an", "object"]']).problems] == ["bad-document"]
    assert [p.code for p in parse(['{"type": "cidr"}']).problems] == ["no-array"]
    assert [p.code for p in parse(['{"type": "cidr", "list": "1.1.1.1"}']).problems] == ["no-array"]
    broken = parse(['{"type": "cidr",', '"list": ["1.1.1.1",]}'])
    assert [(p.code, p.line, p.raw) for p in broken.problems] == [
        ("bad-json", 2, '"list": ["1.1.1.1",]}')
    ]
