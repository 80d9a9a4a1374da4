"""Allowlists: the detector's `AllowIndex.contains` and the exported block list."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import numpy as np
import numpy.typing as npt

from blacklist.allow import AllowIndex, active_blocklist, check_value
from blacklist.entries import Category, Entry
from blacklist.matcher import Matcher
from blacklist.parsers import PARSERS, SourceMeta, read_lines
from blacklist.syntax import parse_item


def words(addrs: list[str]) -> tuple[npt.NDArray[np.uint64], npt.NDArray[np.uint64]]:
    hi, lo = [], []
    for a in addrs:
        ip = ipaddress.ip_address(a)
        n = int(ip) if ip.version == 6 else (0xFFFF << 32) | int(ip)
        hi.append(n >> 64)
        lo.append(n & ((1 << 64) - 1))
    return np.array(hi, dtype=np.uint64), np.array(lo, dtype=np.uint64)


def item(text: str, source: str = "feed", category: Category = Category.POOL) -> Entry:
    return parse_item(text, source=source, category=category, public_only=False)


ALLOW = [
    item("104.16.0.0/13", "misp-cloudflare", Category.ALLOWLIST),
    item("2606:4700::/32", "misp-cloudflare", Category.ALLOWLIST),
    item("8.8.8.8", "misp-public-dns-v4", Category.ALLOWLIST),
    item("cdn.example.net", "operator-allowlist", Category.ALLOWLIST),
]


def test_contains_is_vectorised_over_both_families() -> None:
    allow = AllowIndex([*ALLOW, item("104.16.1.2")])  # block entries are ignored
    assert len(allow) == 4
    hi, lo = words(["104.16.1.2", "104.24.0.1", "8.8.8.8", "8.8.4.4", "2606:4700::1", "2001::1"])
    assert allow.contains(hi, lo).tolist() == [True, False, True, False, True, False]
    v4 = np.array([int(ipaddress.ip_address("104.23.255.255")), 0x01010101], dtype=np.uint32)
    assert allow.contains_v4(v4).tolist() == [True, False]
    match = allow.match("104.16.9.9:3333")
    assert match is not None and match.source == "misp-cloudflare"
    assert AllowIndex([]).contains(hi, lo).tolist() == [False] * 6


def test_blocklist_leaves_list_only_entries_inside_allowlists_out() -> None:
    blocks = [
        item("104.16.1.2"),  # a pool behind Cloudflare: more specific, the matcher reports it
        item("104.16.1.2:3333"),
        item("104.0.0.0/8"),  # overlaps the allowlisted /13 without being inside it
        item("198.51.100.7"),
        item("pool.cdn.example.net"),  # below an allowlisted name
        item("example.net"),  # above it: kept (a DNS export can carry the exception)
        item("104.17.0.9", source="manual"),  # an analyst's word
        item("104.17.0.10:443", source="learned"),  # seen on the wire
        item("100.64.7.7", source="regulator-weekly", category=Category.REGULATOR),  # to verify
    ]
    out = active_blocklist([*ALLOW, *blocks])
    assert [e.value for e in out.kept] == [
        "198.51.100.7", "example.net", "104.17.0.9", "104.17.0.10:443"
    ]  # fmt: skip
    by = {e.value: a.value for e, a in out.suppressed}
    assert by == {
        "104.16.1.2": "104.16.0.0/13",
        "104.16.1.2:3333": "104.16.0.0/13",
        "104.0.0.0/8": "104.16.0.0/13",
        "pool.cdn.example.net": "cdn.example.net",
    }
    # the combined matcher still names the more specific block entry (most specific wins) ...
    m = Matcher([*ALLOW, *blocks])
    hi, lo = words(["104.16.1.2"])
    assert m.entries[int(m.lookup(hi, lo)[0])].source == "feed"
    # ... and check_value says it is not listed on the list's word alone
    res = check_value(m, AllowIndex(m.entries), "104.16.1.2")
    assert not res.listed and res.suppressed_by is not None
    assert [e.value for e in res.matches][:1] == ["104.16.1.2"]
    assert check_value(m, AllowIndex(m.entries), "104.17.0.9").listed  # manual counts
    reg = check_value(m, AllowIndex(m.entries), "100.64.7.7")
    assert not reg.listed and reg.to_verify and reg.matches[0].source == "regulator-weekly"
    assert check_value(m, AllowIndex(m.entries), "198.51.100.7").listed
    assert not check_value(m, AllowIndex(m.entries), "192.0.2.1").listed


def test_real_feeds_cloudflare_addresses_are_suppressed(feeds: Path) -> None:
    """list-pitfalls §1: Cloudflare addresses in a pool list never reach an export."""
    cf = PARSERS["misp"](
        read_lines(feeds / "misp-warninglists_cloudflare.json"),
        SourceMeta("misp-cloudflare", Category.ALLOWLIST, 1.0),
    )
    ips = PARSERS["plain"](
        read_lines(feeds / "coinblockerlists-gh2018_MiningServerIPList.txt"),
        SourceMeta("coinblocker-ips", Category.POOL, 0.4),
    )
    out = active_blocklist([*cf.entries, *ips.entries])
    suppressed = {e.value for e, _ in out.suppressed}
    # list-pitfalls §1 counts 24 of 1026 CoinBlocker IPs inside Cloudflare ranges
    assert len(suppressed) == 24
    assert "104.27.157.60" in suppressed  # the address behind ZeroDot1/CoinBlockerLists#98
    assert len(out.kept) + len(out.suppressed) == len(ips.entries)
