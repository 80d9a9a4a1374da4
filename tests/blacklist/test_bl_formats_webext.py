"""WebExtension match patterns: the host is the indicator, `*.host` covers subdomains."""

from __future__ import annotations

from blacklist.entries import Kind
from blacklist.parsers import PARSERS, ParseResult, SourceMeta, webext

SRC = SourceMeta("webext-test")


def parse(*lines: str) -> ParseResult:
    return webext.parse(list(lines), SRC)


def test_registered_under_its_name() -> None:
    assert PARSERS["webext"] is webext.parse


def test_hosts_of_patterns() -> None:
    r = parse(
        "# --[ Specific blocking ]------",
        "",
        "*://coinhive.example/lib*",
        "wss://*.coin-hive.example/proxy*",
        "ws://*.monerise.example:9333/proxy/*",
        "*://8.8.8.8:8080/*",
        "https://[2a01:4f8::1]/x",
        "*://Kiss.Example/Content/js/c-hive.js*",
        "wss://*.coin-have.example/",
        "*://*.dot.example./lib",
    )
    assert [(e.kind, e.value, e.subdomains) for e in r.entries] == [
        (Kind.DOMAIN, "coinhive.example", False),
        (Kind.DOMAIN, "coin-hive.example", True),
        (Kind.DOMAIN, "monerise.example", True),  # port dropped from a domain
        (Kind.ENDPOINT, "8.8.8.8:8080", False),
        (Kind.IP, "2a01:4f8::1", False),
        (Kind.DOMAIN, "kiss.example", False),  # path-scoped pattern widens to its host
        (Kind.DOMAIN, "coin-have.example", True),
        (Kind.DOMAIN, "dot.example", True),
    ]
    assert r.problems == () and r.skipped == 2


def test_problems() -> None:
    r = parse(
        "*://*/*cryptonight.wasm",
        "<all_urls>",
        "coinhive.example/lib",
        "*://pool*.example/x",
        "file:///etc/passwd",
        "*://*.8.8.8.8/",
        "*://10.0.0.1/x",
        "*://host.example:0/x",
        "*://two words/",
    )
    assert [p.code for p in r.problems] == [
        "any-host",
        "any-host",
        "bad-pattern",
        "wildcard",
        "no-host",
        "ip-like",
        "bogon",
        "bad-port",
        "bad-pattern",
    ]
    assert r.entries == ()
