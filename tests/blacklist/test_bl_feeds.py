"""Real feeds from ../shared/data/feeds: per-file entry and problem counts.

The numbers were established once by reading the files (grep/awk, independent of this code)
and cross-checked with SOURCES.tsv; they are now the expectation. Problem categories:

- domain-port: `hashbag.cc:8688`, `server.com:1234` (CoinBlocker list.txt/hosts) — a port on a
  domain. Ports are only kept on IP endpoints; widening to the whole domain would list
  `server.com`, which is a config-file example, not a pool.
- label-hyphen: `xmr.-eu1.nanopool.org` (CoinBlocker; a typo for xmr-eu1) — a label may not
  start or end with '-'.
- hosts-glued: `0.0.0.0 0.0.0.0afisha.api.cryptopool.eu` (CoinBlocker 2022) — the list's
  generator glued its sink address onto 864 names (list-pitfalls §4 counts 863 `0.0.0.0xxx`
  names; the 864th is `0.0.0.0.afisha.api.cryptopool.eu` with a dot).

MiningServerIPList.txt in this 2018-06 snapshot already carries the fixed `104.27.157.60`, not
the `04.27.157.60` of ZeroDot1/CoinBlockerLists#98; the typo itself is a unit test
(`test_bl_syntax.py`).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from blacklist.entries import Kind
from blacklist.parsers import SourceMeta, parse_path

FEEDS = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "feeds"

# file: (lines, skipped, entries, unique, problems by code, entry kinds)
EXPECTED: dict[str, tuple[int, int, int, int, dict[str, int], dict[Kind, int]]] = {
    # 7 '#' header lines; SOURCES.tsv: 1026 IPs
    "coinblockerlists-gh2018_MiningServerIPList.txt": (1033, 7, 1026, 1026, {}, {Kind.IP: 1026}),
    # no comments; 33 repeated lines; SOURCES.tsv: 154 (121 unique)
    "minerchk_ip-only.txt": (154, 0, 154, 121, {}, {Kind.IP: 154}),
    # SOURCES.tsv: 678 plain IPv4
    "andoniaf-mining-pools-list_mining-pools_IP.lst": (678, 0, 678, 678, {}, {Kind.IP: 678}),
    # 5837 names (SOURCES.tsv: "hosts 5837"); 2 IDN lookalikes encode fine, 4 upper-case lower
    "coinblockerlists-gh2018_list.txt": (
        5837,
        0,
        5834,
        5834,
        {"domain-port": 2, "label-hyphen": 1},
        {Kind.DOMAIN: 5834},
    ),
    # the same names as list.txt in hosts form, after a 6-line header
    "coinblockerlists-gh2018_hosts": (
        5843,
        6,
        5834,
        5834,
        {"domain-port": 2, "label-hyphen": 1},
        {Kind.DOMAIN: 5834},
    ),
    # 10 comment lines + 1 blank; SOURCES.tsv: 313 domains
    "nocoin_hosts.txt": (324, 11, 313, 313, {}, {Kind.DOMAIN: 313}),
    # CRLF line ends; SOURCES.tsv: 735
    "imbytecat-crypto-mining-pool-list_pools_cleaned_domain.txt": (
        735,
        0,
        735,
        735,
        {},
        {Kind.DOMAIN: 735},
    ),
    # no comments; SOURCES.tsv: 11491
    "ut1_cryptojacking_domains": (11491, 0, 11491, 11491, {}, {Kind.DOMAIN: 11491}),
    # not required, but it checks list-pitfalls §4; SOURCES.tsv: 85263 lines incl. malformed
    "coinblockerlists-gitlab2022_hosts": (
        85270,
        7,
        84397,
        84397,
        {"hosts-glued": 864, "label-hyphen": 2},
        {Kind.DOMAIN: 84397},
    ),
}


def feed(name: str) -> Path:
    path = FEEDS / name
    if not path.is_file():
        pytest.skip(f"SKIPPED LOUDLY: real feed {path} missing — per-file counts NOT checked")
    return path


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_real_feed_counts(name: str) -> None:
    lines, skipped, n_entries, unique, problems, kinds = EXPECTED[name]
    r = parse_path(feed(name), "plain", SourceMeta(name))
    assert (r.lines, r.skipped, len(r.entries), r.unique()) == (lines, skipped, n_entries, unique)
    assert dict(Counter(p.code for p in r.problems)) == problems
    assert dict(Counter(e.kind for e in r.entries)) == kinds
    assert r.summary() == f"{n_entries} entries, {sum(problems.values())} problems"
    # one item per line in these files: every line is exactly one of entry/problem/skipped
    assert len(r.entries) + len(r.problems) + r.skipped == r.lines


def test_coinblocker_problem_lines_are_the_known_ones() -> None:
    r = parse_path(feed("coinblockerlists-gh2018_list.txt"), "plain", SourceMeta("cb"))
    assert [(p.line, p.raw) for p in r.problems] == [
        (2049, "hashbag.cc:8688"),
        (3727, "server.com:1234"),
        (5568, "xmr.-eu1.nanopool.org"),
    ]
    idn = [e.value for e in r.entries if not e.raw.isascii()]
    assert sorted(idn) == ["xn--methrwallt-26ar0z.com", "xn--mytherwllet-r8a0c.com"]
    assert "decred.location.nicehash.com" in {e.value for e in r.entries}  # lower-cased


def test_hosts_and_plain_forms_give_the_same_names_with_their_semantics() -> None:
    listed = parse_path(feed("coinblockerlists-gh2018_list.txt"), "plain", SourceMeta("a"))
    hosts = parse_path(feed("coinblockerlists-gh2018_hosts"), "hosts", SourceMeta("b"))
    assert [e.value for e in listed.entries] == [e.value for e in hosts.entries]
    assert all(e.subdomains for e in listed.entries)
    assert not any(e.subdomains for e in hosts.entries)


def test_mining_server_list_has_no_leading_zero_typo_in_this_snapshot() -> None:
    r = parse_path(feed("coinblockerlists-gh2018_MiningServerIPList.txt"), "plain", SourceMeta("x"))
    values = {e.value for e in r.entries}
    assert "104.27.157.60" in values and r.problems == ()
