"""URL lists (host of each URL) and stratum pool URLs found in free text."""

from __future__ import annotations

from blacklist.entries import Kind
from blacklist.parsers import PARSERS, ParseResult, SourceMeta, poolurls, urls

SRC = SourceMeta("urls-test")


def parse_urls(*lines: str) -> ParseResult:
    return urls.parse(list(lines), SRC)


def parse_pools(*lines: str) -> ParseResult:
    return poolurls.parse(list(lines), SRC)


def test_registered_under_their_names() -> None:
    assert PARSERS["urls"] is urls.parse and PARSERS["pool-urls"] is poolurls.parse


def test_url_list_hosts() -> None:
    r = parse_urls(
        "https://solo.ckpool.example\r\n",
        "\r\n",
        "http://sha256.p2p.example:9334\r\n",
        "http://8.8.8.8:8080/static\r\n",
        "https://bsod.example/en/pool/dashboard/BTC/\r\n",
        "husnulkhoir.sch.example/12",
        "https://user:pw@[2a01:4f8::1]/",
        "# comment",
        "https://trailing.example/ # comment",
    )
    assert [(e.kind, e.value, e.subdomains) for e in r.entries] == [
        (Kind.DOMAIN, "solo.ckpool.example", False),
        (Kind.DOMAIN, "sha256.p2p.example", False),
        (Kind.ENDPOINT, "8.8.8.8:8080", False),
        (Kind.DOMAIN, "bsod.example", False),
        (Kind.DOMAIN, "husnulkhoir.sch.example", False),
        (Kind.IP, "2a01:4f8::1", False),
        (Kind.DOMAIN, "trailing.example", False),
    ]
    assert r.entries[1].raw == "http://sha256.p2p.example:9334"
    assert r.skipped == 2 and r.problems == ()


def test_url_list_problems() -> None:
    r = parse_urls("https://", "https://localhost/", "two urls.example here", "http://x.example:0/")
    assert [p.code for p in r.problems] == ["no-host", "single-label", "extra-text", "bad-port"]


def test_pool_urls_in_markdown() -> None:
    r = parse_pools(
        "# Pool connection definition",
        "-P scheme://user[.workername][:password]@hostname:port[/...]",
        "  stratum://0x1234.Worker:password@eu1.ethermine.example:4444/something/else",
        "-P stratum1+tcp://ETH_WALLET@eth-ar.dwarfpool.example:8008/WORKERNAME/EMAIL",
        "-P stratum2+tcp://USERNAME%2eWORKERNAME:WORKERPWD@8.8.8.8:20535",
        "-P stratum://`account.1234`.Worker:password@eu1.ethermine.example:4444",
        "or `stratum+tls://[...]`; scheme `stratum://` (note `+tcp` is missing)",
        "| [2miners](#2miners) | <https://2miners.example/> |",
        "a: stratum+ssl://a.example:5555 b: stratum+tcp://b.example:3333",
        "-P stratum+tcp://x@localhost:3333",
    )
    assert [(e.kind, e.value, e.line) for e in r.entries] == [
        (Kind.DOMAIN, "eu1.ethermine.example", 3),
        (Kind.DOMAIN, "eth-ar.dwarfpool.example", 4),
        (Kind.ENDPOINT, "8.8.8.8:20535", 5),
        (Kind.DOMAIN, "eu1.ethermine.example", 6),
        (Kind.DOMAIN, "a.example", 9),
        (Kind.DOMAIN, "b.example", 9),
    ]
    assert not any(e.subdomains for e in r.entries)
    assert [(p.code, p.line) for p in r.problems] == [("single-label", 10)]
    assert r.skipped == 4
