"""Every real feed imports with its documented format: exact per-file counts (feed_expectations).

Skips loudly when ../shared/data/feeds is missing; never copies feed files into the repo.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from feed_expectations import FEEDS, FEEDS_DIR, NOT_FEEDS

from blacklist.entries import Category, Kind
from blacklist.parsers import PARSERS, SourceMeta, parse_path


def feeds_dir() -> Path:
    if not FEEDS_DIR.is_dir():
        pytest.skip(f"SKIPPED LOUDLY: real feeds {FEEDS_DIR} missing — per-file counts NOT checked")
    return FEEDS_DIR


def parse_feed(name: str):  # type: ignore[no-untyped-def]
    exp = FEEDS[name]
    assert exp.fmt is not None
    meta = SourceMeta(name, exp.category, 0.5, options=exp.options)
    return parse_path(feeds_dir() / name, exp.fmt, meta)


def test_every_feed_file_is_in_the_table() -> None:
    on_disk = {p.name for p in feeds_dir().iterdir()} - NOT_FEEDS
    assert on_disk == set(FEEDS), "map new feed files in feed_expectations.py"
    assert {e.fmt for e in FEEDS.values()} - {None} <= set(PARSERS)


@pytest.mark.parametrize("name", sorted(n for n, e in FEEDS.items() if e.fmt))
def test_feed_counts(name: str) -> None:
    exp = FEEDS[name]
    r = parse_feed(name)
    got = (len(r.entries), r.unique(), dict(Counter(p.code for p in r.problems)))
    assert got == (exp.entries, exp.unique, exp.problems)
    assert r.summary() == f"{exp.entries} entries, {sum(exp.problems.values())} problems"
    assert all(e.category is exp.category and e.source == name for e in r.entries)
    # every line is accounted for: it yields output or is skipped, never both, never neither
    with_output = {e.line for e in r.entries} | {p.line for p in r.problems}
    assert len(with_output) + r.skipped == r.lines


def test_maltrail_paths_are_problems_and_urls_give_hosts() -> None:
    r = parse_feed("maltrail_elf_coinminer.txt")
    assert all(p.raw.startswith("/") for p in r.problems)
    by_raw = {e.raw: e for e in r.entries}
    assert by_raw["http://107.173.102.59"].kind is Kind.IP
    url_host = by_raw["minpop.com/sk12pack/idents.php"]
    assert (url_host.value, url_host.subdomains) == ("minpop.com", False)
    mixed = {e.raw: e for e in parse_feed("maltrail_crypto_mining.txt").entries}["mineXMR.com"]
    assert (mixed.value, mixed.subdomains, mixed.line) == ("minexmr.com", True, 266)


def test_misp_allowlists_keep_private_and_reserved_space() -> None:
    r = parse_feed("misp-warninglists_rfc5735.json")
    values = {e.value for e in r.entries}
    assert {"0.0.0.0/8", "10.0.0.0/8", "224.0.0.0/4", "240.0.0.0/4", "255.255.255.255"} <= values
    assert all(e.category is Category.ALLOWLIST for e in r.entries)
    assert [e.line for e in r.entries][:2] == [4, 5]  # one element per line, after the header


def test_rainbowminer_keeps_port_and_tls_in_raw() -> None:
    r = parse_feed("rainbowminer_mrrpoolsall.json")
    assert r.lines == 1 and {e.line for e in r.entries} == {1}  # a one-line document
    first = r.entries[0]
    assert (first.kind, first.value, first.subdomains) == (
        Kind.DOMAIN,
        "allium.na.mine.zpool.ca",
        False,
    )
    assert '"Port":6433' in first.raw and '"SSL":false' in first.raw


def test_suricata_names_from_every_rule_style() -> None:
    et = {e.value: e for e in parse_feed("etopen_emerging-coinminer.rules").entries}
    assert et["pool.hashvault.pro"].subdomains is False  # bsize:18 pins the whole query
    assert et["herominers.com"].subdomains is True  # dot prefix + endswith
    assert "eu.minerpool.pw" in et and "kaspersky.com" not in et  # cert CN kept, negation not
    snort = parse_feed("minerchk_monero-snort.rules")
    assert snort.entries[0].value == "cloudflare.hashfor.cash"
    assert snort.entries[-1].kind is Kind.IP


def test_minerlist_trailing_resolved_ip_is_a_comment() -> None:
    exp = FEEDS["minerchk_minerlist-all.txt"]
    assert exp.fmt is not None
    r = parse_path(feeds_dir() / "minerchk_minerlist-all.txt", exp.fmt, SourceMeta("m"))
    assert r.entries[0].value == "xmr.crypto-pool.fr"
    assert r.entries[0].raw == "xmr.crypto-pool.fr #163.172.204.219"
    assert all(e.kind is Kind.DOMAIN for e in r.entries)
