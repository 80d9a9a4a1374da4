"""Maltrail trails: IPs, endpoints and domains are entries, URLs give their host, paths are kept
aside as `path` problems."""

from __future__ import annotations

from blacklist.entries import Kind
from blacklist.parsers import PARSERS, ParseResult, SourceMeta, maltrail

SRC = SourceMeta("maltrail-test")


def parse(*lines: str) -> ParseResult:
    return maltrail.parse(list(lines), SRC)


def test_registered_under_its_name() -> None:
    assert PARSERS["maltrail"] is maltrail.parse


def test_every_trail_kind() -> None:
    r = parse(
        "# Copyright (c) 2014-2026 Maltrail developers",
        "",
        "# Reference: https://example.org/report",
        "",
        "8.8.8.8",
        "8.8.8.8:3333",
        "Pool.Example.COM",
        "8.8.4.0/24",
        "http://9.9.9.9",
        "https://9.9.9.9:8443/path?q=1",
        "http://pool.example.net:8080/x.sh",
        "mail.example.org/resources/files/",
        "http://[2a01:4f8::1]:443/",
        "/xmrig_darwin",
        "/v1.43/containers/create?name=faucet",
    )
    assert [(e.kind, e.value, e.line) for e in r.entries] == [
        (Kind.IP, "8.8.8.8", 5),
        (Kind.ENDPOINT, "8.8.8.8:3333", 6),
        (Kind.DOMAIN, "pool.example.com", 7),
        (Kind.CIDR, "8.8.4.0/24", 8),
        (Kind.IP, "9.9.9.9", 9),
        (Kind.ENDPOINT, "9.9.9.9:8443", 10),
        (Kind.DOMAIN, "pool.example.net", 11),  # the port cannot ride on a domain
        (Kind.DOMAIN, "mail.example.org", 12),
        (Kind.ENDPOINT, "[2a01:4f8::1]:443", 13),
    ]
    assert [p.code for p in r.problems] == ["path", "path"]
    assert (r.lines, r.skipped) == (15, 4)
    assert r.summary() == "9 entries, 2 problems"


def test_domains_cover_subdomains_but_url_hosts_are_exact() -> None:
    r = parse("pool.example", "http://web.example/miner.js", "web2.example/x")
    assert [e.subdomains for e in r.entries] == [True, False, False]


def test_comments_and_bad_trails() -> None:
    r = parse(
        "pool.example # trailing comment",
        "two trails.example here.example",
        "http://8.8.8.8:99999/",
        "http:///nohost",
        "10.0.0.1",
        "pool.example:3333",
        "http://[2a01:4f8::1/",
    )
    assert [e.value for e in r.entries] == ["pool.example"]
    assert [p.code for p in r.problems] == [
        "extra-text",
        "bad-port",
        "no-host",
        "bogon",
        "domain-port",
        "bad-url",
    ]
    assert r.problems[0].line == 2 and r.problems[0].raw == "two trails.example here.example"
