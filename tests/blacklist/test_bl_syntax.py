"""Validation rules for one indicator (`blacklist.syntax`) and the entry invariants."""

from __future__ import annotations

import ipaddress

import pytest

from blacklist.entries import Category, Entry, Kind, Problem
from blacklist.syntax import EntryError, canonical_domain, parse_item


def code_of(text: str, **kw: object) -> str:
    with pytest.raises(EntryError) as info:
        parse_item(text, **kw)  # type: ignore[arg-type]
    return info.value.code


@pytest.mark.parametrize(
    ("text", "kind", "value"),
    [
        ("1.2.3.4", Kind.IP, "1.2.3.4"),
        (" 8.8.4.4 ", Kind.IP, "8.8.4.4"),
        ("2A01:4F8::0001", Kind.IP, "2a01:4f8::1"),  # compressed, lower-case IPv6
        ("2a01:04f8:0000::1", Kind.IP, "2a01:4f8::1"),  # zero-padded hextets are fine
        ("::ffff:8.8.8.8", Kind.IP, "8.8.8.8"),  # IPv4-mapped IPv6 is stored as IPv4
        ("8.8.8.0/24", Kind.CIDR, "8.8.8.0/24"),
        ("8.8.8.8/32", Kind.IP, "8.8.8.8"),  # a full-length prefix is an address
        ("2a01:4f8::/32", Kind.CIDR, "2a01:4f8::/32"),
        ("2a01:4f8::1/128", Kind.IP, "2a01:4f8::1"),
        ("::ffff:8.8.8.0/120", Kind.CIDR, "8.8.8.0/24"),
        ("8.8.8.8:3333", Kind.ENDPOINT, "8.8.8.8:3333"),
        ("8.8.8.8:3333/TCP", Kind.ENDPOINT, "8.8.8.8:3333/tcp"),
        ("8.8.8.8:53/udp", Kind.ENDPOINT, "8.8.8.8:53/udp"),
        ("[2a01:4f8::1]:443", Kind.ENDPOINT, "[2a01:4f8::1]:443"),
        ("[2a01:4f8::1]:443/tcp", Kind.ENDPOINT, "[2a01:4f8::1]:443/tcp"),
        ("[2a01:4f8::1]", Kind.IP, "2a01:4f8::1"),
        ("Pool.Example.COM.", Kind.DOMAIN, "pool.example.com"),
        ("*.pool.example", Kind.DOMAIN, "pool.example"),
        (".pool.example", Kind.DOMAIN, "pool.example"),
        ("_srv.pool-1.example", Kind.DOMAIN, "_srv.pool-1.example"),  # underscore tolerated
        ("xn--mnchen-3ya.de", Kind.DOMAIN, "xn--mnchen-3ya.de"),
        ("münchen.de", Kind.DOMAIN, "xn--mnchen-3ya.de"),  # IDNA-encoded
        ("myètherwället.com", Kind.DOMAIN, "xn--mytherwllet-r8a0c.com"),  # from CoinBlocker
        ("a。example", Kind.DOMAIN, "a.example"),  # ideographic full stop is a dot in IDNA
    ],
)
def test_valid_items_are_canonical(text: str, kind: Kind, value: str) -> None:
    e = parse_item(text)
    assert (e.kind, e.value) == (kind, value)
    again = parse_item(e.value)  # canonical text parses back to the same indicator
    assert (again.kind, again.value, again.port, again.proto) == (e.kind, e.value, e.port, e.proto)


def test_endpoint_fields() -> None:
    e = parse_item("8.8.8.8:3333/tcp", source="s", confidence=0.7, line=4)
    assert (e.port, e.proto, e.source, e.confidence, e.line) == (3333, 6, "s", 0.7, 4)
    assert e.network == ipaddress.ip_network("8.8.8.8/32")
    assert parse_item("[2a01::1]:53/udp").proto == 17


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("04.27.157.60", "leading-zero"),  # CoinBlocker issue #98: meant 104.27.157.60
        ("1.2.3.04", "leading-zero"),
        ("1.2.3", "bad-ipv4"),
        ("1.2.3.256", "bad-ipv4"),
        ("1.2.3.4.5", "bad-ipv4"),
        ("2a01::g", "bad-ipv6"),
        ("fe80::1%eth0", "bad-ipv6"),  # zone index
        ("8.8.8.8/24", "host-bits"),  # meant the host or the /24? never guess
        ("2a01:4f8::1/32", "host-bits"),
        ("8.8.8.0/024", "bad-prefix"),
        ("8.8.8.0/255.255.255.0", "bad-prefix"),
        ("8.8.8.0/33", "bad-prefix"),
        ("8.8.8.8:0", "bad-port"),
        ("8.8.8.8:65536", "bad-port"),
        ("8.8.8.8:http", "bad-port"),
        ("8.8.8.8/tcp", "proto-without-port"),
        ("[8.8.8.8]:80", "bad-endpoint"),
        ("[2a01::1]80", "bad-endpoint"),
        (":3333", "bad-endpoint"),
        ("8.8.8.0/24:3333", "bad-endpoint"),
        ("hashbag.cc:8688", "domain-port"),  # from CoinBlocker list.txt
        ("server.com:1234", "domain-port"),  # ditto: a config example, not a pool
        ("http://pool.example/x", "url"),
        ("pool.example/x.js", "path"),
        ("0.0.0.0pool.example", "hosts-glued"),  # CoinBlocker 2022: hosts line lost its space
        ("0.0.0.0.pool.example", "hosts-glued"),
        ("127.0.0.1pool.example", "hosts-glued"),
        ("a*.example", "wildcard"),
        ("pool.*.example", "wildcard"),
        ("localhost", "single-label"),
        ("com", "single-label"),
        ("xmr.-eu1.nanopool.org", "label-hyphen"),  # from CoinBlocker list.txt
        ("pool-.example", "label-hyphen"),
        ("a..example", "label-length"),
        ("x" * 64 + ".example", "label-length"),
        (".".join(["abcdefghi"] * 26), "name-length"),  # 259 characters
        ("pool!.example", "label-chars"),
        ("pool example.com", "label-chars"),
        ("1.2.3.4.example.99", "ip-like"),
        ("\ud800.example", "idna"),
        ("", "empty"),
    ],
)
def test_invalid_items(text: str, code: str) -> None:
    assert code_of(text) == code


@pytest.mark.parametrize(
    "text",
    [
        "0.0.0.0",
        "10.1.2.3",
        "100.64.0.1",
        "127.0.0.1",
        "169.254.1.1",
        "172.16.5.4",
        "192.0.2.7",
        "192.168.1.1",
        "198.18.0.1",
        "198.51.100.1",
        "203.0.113.9",
        "224.0.0.251",
        "240.0.0.1",
        "255.255.255.255",
        "::",
        "::1",
        "fd00::1",
        "fe80::1",
        "ff02::1",
        "2001:db8::1",
        "3fff::1",
        "2001:2::1",
        "64:ff9b::8.8.8.8",  # outside 2000::/3
        "0.0.0.0/0",
        "8.0.0.0/5",  # overlaps 10/8
        "10.0.0.1:3333",  # endpoints are checked too
    ],
)
def test_non_public_space_is_rejected_for_block_entries(text: str) -> None:
    assert code_of(text) == "bogon"


def test_too_broad_prefixes() -> None:
    assert code_of("44.0.0.0/7") == "too-broad"
    assert code_of("2400::/6") == "too-broad"
    assert parse_item("44.0.0.0/8").kind is Kind.CIDR
    assert parse_item("2400::/16").kind is Kind.CIDR


def test_labs_may_opt_out_of_the_public_space_check() -> None:
    e = parse_item("198.51.100.200", public_only=False)  # RFC 5737, as in sample captures
    assert e.kind is Kind.IP and e.value == "198.51.100.200"
    assert parse_item("[2001:db8::1]:443", public_only=False).port == 443
    assert parse_item("10.0.0.0/7", public_only=False).value == "10.0.0.0/7"  # too broad: ok
    assert code_of("198.51.100.256", public_only=False) == "bad-ipv4"  # syntax stays strict


def test_allowlist_entries_may_name_private_space() -> None:
    e = parse_item("10.0.0.0/8", category=Category.ALLOWLIST)
    assert e.category is Category.ALLOWLIST and e.value == "10.0.0.0/8"
    assert parse_item("::1", category=Category.ALLOWLIST).value == "::1"


def test_canonical_domain_rules() -> None:
    assert canonical_domain("EXAMPLE.com.") == "example.com"
    assert canonical_domain("Bücher.DE") == "xn--bcher-kva.de"
    assert len(canonical_domain(".".join(["a" * 63] * 3) + ".com")) == 195
    with pytest.raises(EntryError):
        canonical_domain("example.com..")


def test_subdomain_defaults() -> None:
    assert parse_item("pool.example").subdomains is True
    assert parse_item("pool.example", subdomains=False).subdomains is False
    assert parse_item("*.pool.example", subdomains=False).subdomains is True


def test_entry_invariants() -> None:
    net = ipaddress.ip_network("8.8.8.8/32")
    with pytest.raises(ValueError):
        Entry(Kind.DOMAIN, "x.example", net)
    with pytest.raises(ValueError):
        Entry(Kind.IP, "8.8.8.8", None)
    with pytest.raises(ValueError):
        Entry(Kind.IP, "8.8.8.0/24", ipaddress.ip_network("8.8.8.0/24"))  # ip must be one address
    with pytest.raises(ValueError):
        Entry(Kind.CIDR, "8.8.8.8", net)  # a cidr must be wider than one address
    with pytest.raises(ValueError):
        Entry(Kind.IP, "8.8.8.8", net, port=80)  # only endpoints carry ports
    with pytest.raises(ValueError):
        Entry(Kind.ENDPOINT, "8.8.8.8:0", net, port=0)
    with pytest.raises(ValueError):
        Entry(Kind.ENDPOINT, "8.8.8.8:1/icmp", net, port=1, proto=1)
    with pytest.raises(ValueError):
        Entry(Kind.DOMAIN, "x.example", confidence=1.5)


def test_entry_is_frozen_and_keyed_by_indicator() -> None:
    a = parse_item("pool.example", source="a", line=1)
    b = parse_item("POOL.example.", source="b", line=9)
    assert a.key == b.key and a != b
    assert parse_item("pool.example", subdomains=False).key != a.key
    with pytest.raises(AttributeError):
        a.value = "other.example"  # type: ignore[misc]
    assert "pool.example" in a.canonical() and "\t" in a.canonical()
    assert a.canonical() != b.canonical()  # the source is part of what a hit reports


def test_problem_record() -> None:
    p = Problem("feed", 3, "bad line", "why", "code")
    assert (p.source, p.line, p.raw, p.reason, p.code) == ("feed", 3, "bad line", "why", "code")
