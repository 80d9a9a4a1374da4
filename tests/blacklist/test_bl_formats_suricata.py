"""Suricata/Snort rules: pool names from host buffers, DNS wire contents and header addresses."""

from __future__ import annotations

from blacklist.entries import Kind
from blacklist.parsers import PARSERS, ParseResult, SourceMeta, suricata

SRC = SourceMeta("rules-test")
HEAD = "alert dns $HOME_NET any -> any any"


def parse(*lines: str) -> ParseResult:
    return suricata.parse(list(lines), SRC)


def rule(body: str, head: str = HEAD) -> str:
    return f'{head} (msg:"test; with a quoted semicolon"; {body} sid:1; rev:1;)'


def names(r: ParseResult) -> list[tuple[str, bool]]:
    return [(e.value, e.subdomains) for e in r.entries]


def test_registered_under_its_name() -> None:
    assert PARSERS["suricata"] is suricata.parse


def test_host_buffers_old_and_new_style() -> None:
    r = parse(
        rule('dns.query; content:"pool.example.net"; nocase; endswith;'),
        rule('dns_query; content:"old.example"; nocase; isdataat:!1,relative;'),
        rule('tls.sni; content:"sni.example";', "alert tls any any -> any any"),
        rule('tls_sni; content:"sni2.example";', "alert tls any any -> any any"),
        rule('http.host; content:"www.example";', "alert http any any -> any any"),
        rule('content:"modifier.example"; http_host;', "alert http any any -> any any"),
        rule(
            'tls.cert_subject; content:"CN=*.cert.example"; endswith;',
            "alert tls any any -> any any",
        ),
    )
    assert [v for v, _ in names(r)] == [
        "pool.example.net",
        "old.example",
        "sni.example",
        "sni2.example",
        "www.example",
        "modifier.example",
        "cert.example",
    ]
    assert r.problems == ()


def test_exact_or_subdomains() -> None:
    r = parse(
        rule('dns.query; content:"pool.hashvault.pro"; nocase; bsize:18;'),
        rule('dns.query; bsize:14; content:"monerohash.com"; nocase;'),
        rule('dns.query; content:"pinned.example"; startswith; endswith;'),
        rule('dns.query; content:".herominers.com"; nocase; endswith; fast_pattern;'),
        rule('dns.query; content:"loose.example"; bsize:99;'),
    )
    assert names(r) == [
        ("pool.hashvault.pro", False),
        ("monerohash.com", False),
        ("pinned.example", False),
        ("herominers.com", True),
        ("loose.example", True),
    ]


def test_dns_wire_format_contents() -> None:
    udp = "alert udp $HOME_NET any -> any 53"
    r = parse(
        rule(
            'content:"|01 00 00 01 00 00 00 00 00 00|"; depth:10; offset:2; '
            'content:"|0a|cloudflare|07|hashfor|04|cash"; nocase; distance:0;',
            udp,
        ),
        rule('content:"|01|"; content:"|04|pool|09|minergate|03|com|00|"; distance:0;', udp),
        rule('content:"|04|pool|09|minergate|03|com|00 01|";', udp),  # bytes after the root
        rule('content:"|03|xmr|02|"; content:"|05|short";', udp),  # truncated labels
    )
    assert names(r) == [("cloudflare.hashfor.cash", False), ("pool.minergate.com", False)]
    assert [(p.code, p.line) for p in r.problems] == [("no-host", 3), ("no-host", 4)]


def test_header_addresses() -> None:
    r = parse(
        'alert ip any any <> 8.8.8.8 any (msg:"Traffic to known Monero Miner IP"; sid:9;)',
        'alert tcp $HOME_NET any -> 8.8.4.4 3333 (msg:"stratum"; sid:10;)',
        'alert tcp $HOME_NET any -> [9.9.9.9,!9.9.9.10,$POOLS] any (msg:"list"; sid:11;)',
        'alert udp any any -> [2a01:4f8::1] 53 (msg:"v6"; sid:12;)',
        'alert ip any any -> 10.0.0.1 any (msg:"private"; sid:13;)',
    )
    assert [(e.kind, e.value) for e in r.entries] == [
        (Kind.IP, "8.8.8.8"),
        (Kind.ENDPOINT, "8.8.4.4:3333/tcp"),
        (Kind.IP, "9.9.9.9"),
        (Kind.ENDPOINT, "[2a01:4f8::1]:53/udp"),
    ]
    assert [p.code for p in r.problems] == ["bogon"]


def test_no_host_rules_fragments_and_negations() -> None:
    stratum = "alert tcp $HOME_NET any -> $EXTERNAL_NET any"
    r = parse(
        rule('content:"|22|method|22 3A|"; content:"|22|mining.notify|22|";', stratum),
        rule('dns.query; content:"mining."; content:"xmr";'),
        rule(
            'http.user_agent; content:"miner"; http.host; content:!".kaspersky.com"; endswith;',
            "alert http any any -> any any",
        ),
        rule('http.uri; content:"/pool.example.net";', "alert http any any -> any any"),
        rule('dns.query; content:"bad|zz|hex";'),
    )
    assert [p.code for p in r.problems] == ["no-host"] * 5 and not r.entries


def test_several_names_per_rule_each_once() -> None:
    r = parse(
        rule(
            'dns.query; content:"a.example"; dns.query; content:"b.example"; '
            'tls.sni; content:"A.example";'
        )
    )
    assert names(r) == [("a.example", True), ("b.example", True)]
    assert {e.line for e in r.entries} == {1}


def test_comments_blank_lines_bad_rules_and_escapes() -> None:
    r = parse(
        "# Emerging Threats",
        "",
        '#alert dns any any -> any any (dns.query; content:"commented.example"; sid:2;)',
        "this is not a rule",
        "alert dns any any -> any any no parenthesis",
        "config classification: coin-mining,Crypto Currency Mining Activity Detected,2",
        rule(r'dns.query; content:"esc\"aped.example";'),
        rule('dns.query; content:"10.1.2.3";'),
    )
    assert [p.code for p in r.problems] == ["bad-rule", "bad-rule", "bad-rule", "no-host", "bogon"]
    assert r.skipped == 3
