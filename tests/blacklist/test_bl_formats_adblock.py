"""Adblock Plus / uBlock lists: only whole-host rules become entries."""

from __future__ import annotations

from blacklist.entries import Kind
from blacklist.parsers import PARSERS, ParseResult, SourceMeta, adblock

SRC = SourceMeta("adblock-test")


def parse(*lines: str) -> ParseResult:
    return adblock.parse(list(lines), SRC)


def test_registered_under_its_name() -> None:
    assert PARSERS["adblock"] is adblock.parse


def test_host_rules() -> None:
    r = parse(
        "[Adblock Plus 2.0]",
        "! Title: test list",
        "||pool.example^$third-party",
        "||coinimp.example$third-party",
        "||bare.example",
        "||8.8.8.8^",
        "||web.example^$third-party,domain=~web.example",
        "|https://exact.example/",
        "|http://8.8.4.4:8080^",
        "||end.example^|",
    )
    assert [(e.kind, e.value, e.subdomains) for e in r.entries] == [
        (Kind.DOMAIN, "pool.example", True),
        (Kind.DOMAIN, "coinimp.example", True),
        (Kind.DOMAIN, "bare.example", True),
        (Kind.IP, "8.8.8.8", False),
        (Kind.DOMAIN, "web.example", True),
        (Kind.DOMAIN, "exact.example", False),  # |scheme://host/ names exactly that host
        (Kind.ENDPOINT, "8.8.4.4:8080", False),
        (Kind.DOMAIN, "end.example", True),
    ]
    assert r.problems == () and r.skipped == 2


def test_everything_else_is_a_counted_problem() -> None:
    r = parse(
        "@@||api.example^$websocket",
        "/coinhive.min.js",
        r"/^https?:\/\/([0-9a-z\.-_]+)\.(bid|win)\//$script,third-party",
        "||minero-proxy-*.now.sh^$third-party",
        "||cryptobara.example/client/worker.js",
        "||dekoder.example^*?proxy=",
        "|https://host.example/path.js",
        "-coin-hive.js",
        "$websocket,domain=a.example|b.example",
        "example.com##.miner-banner",
        "example.com#@#.ad",
        "csgo.example##+js(acis, m, CH.Anonymous)",
        "example.com#?#div:has(.x)",
        "||",
    )
    codes = [p.code for p in r.problems]
    assert codes == ["exception"] + ["not-host-rule"] * 13
    assert r.entries == () and [p.line for p in r.problems] == list(range(1, 15))


def test_ublock_comments_and_invalid_hosts() -> None:
    r = parse(
        "[uBlock Origin]",
        "# NoCoin filter list optimized for uBlock",
        "#",
        "",
        "||bad_-.example-^",
        "||pool.example:3333^",
        "||10.1.2.3^",
    )
    assert [p.code for p in r.problems] == ["label-hyphen", "domain-port", "bogon"]
    assert r.skipped == 4
