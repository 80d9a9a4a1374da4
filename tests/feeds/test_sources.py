"""The shipped source index and the loader's validation."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from blacklist.entries import Category
from blacklist.parsers import PARSERS
from blacklist.service import parse_body
from blacklist.sources import DEFAULT_INDEX, SourceError, load_index, parse_duration, parse_index

from .support import feeds_dir

# shipped source → its snapshot in ../shared/data/feeds (SOURCES.tsv)
SNAPSHOTS = {
    "maltrail-crypto-mining": "maltrail_crypto_mining.txt",
    "maltrail-generic-miner": "maltrail_generic_miner.txt",
    "maltrail-elf-coinminer": "maltrail_elf_coinminer.txt",
    "ut1-cryptojacking": "ut1_cryptojacking_domains",
    "nocoin-hosts": "nocoin_hosts.txt",
    "nocoin-adblock": "nocoin_nocoin.txt",
    "shadowwhisperer-cryptocurrency": "shadowwhisperer_Cryptocurrency",
    "rainbowminer-pools": "rainbowminer_mrrpoolsall.json",
    "et-open-coinminer": "etopen_emerging-coinminer.rules",
    "coinblocker-browser": "coinblockerlists-gh2018_hosts_browser",
    "coinblocker-ips": "coinblockerlists-gh2018_MiningServerIPList.txt",
    "misp-cloudflare": "misp-warninglists_cloudflare.json",
    "misp-akamai": "misp-warninglists_akamai.json",
    "misp-fastly": "misp-warninglists_fastly.json",
    "misp-amazon-aws": "misp-warninglists_amazon-aws.json",
    "misp-google-gcp": "misp-warninglists_google-gcp.json",
    "misp-public-dns-v4": "misp-warninglists_public-dns-v4.json",
    "misp-sinkholes": "misp-warninglists_sinkholes.json",
    "misp-rfc1918": "misp-warninglists_rfc1918.json",
    "misp-rfc5735": "misp-warninglists_rfc5735.json",
}


def test_shipped_index_is_valid_against_the_parser_registry() -> None:
    index = load_index(DEFAULT_INDEX)
    names = [s.name for s in index]
    assert set(SNAPSHOTS) <= set(names)
    for src in index:
        assert src.format in PARSERS
        assert src.licence, src.name
        if src.name not in ("operator-allowlist", "regulator-weekly"):  # local files
            assert src.url is not None and src.url.startswith("https://"), src.name
    by = {s.name: s for s in index}
    assert not by["coinblocker-browser"].enabled and not by["coinblocker-ips"].enabled
    assert not by["operator-allowlist"].enabled and not by["regulator-weekly"].enabled
    assert by["regulator-weekly"].category is Category.REGULATOR
    assert by["operator-allowlist"].category is Category.ALLOWLIST
    assert all(by[n].category is Category.ALLOWLIST for n in names if n.startswith("misp-"))
    assert by["ut1-cryptojacking"].member == "cryptojacking/domains"
    assert "stamparm/maltrail" in str(by["maltrail-crypto-mining"].url)


@pytest.mark.parametrize("name", sorted(SNAPSHOTS))
def test_each_shipped_source_parses_its_real_snapshot(name: str) -> None:
    """The index's format and options fit the real data (e.g. RainbowMiner's Host/Port)."""
    src = load_index(DEFAULT_INDEX).get(name)
    assert src is not None
    result = parse_body((feeds_dir() / SNAPSHOTS[name]).read_bytes(), src.format, src.meta())
    assert result.entries, f"{name}: no entries ({result.summary()})"
    assert {e.category for e in result.entries} == {src.category}
    assert {e.source for e in result.entries} == {name}


def _load(doc: object, tmp_path: Path) -> list[str]:
    path = tmp_path / "index.yaml"
    path.write_text(yaml.safe_dump(doc))
    with pytest.raises(SourceError) as exc:
        load_index(path)
    problems: list[str] = exc.value.problems
    return problems


def test_validation_reports_every_problem(tmp_path: Path) -> None:
    problems = _load(
        {
            "sources": [
                {"name": "a", "url": "https://x/a", "format": "nope"},
                {"name": "b", "url": "https://x/b", "path": "/b", "format": "plain"},
                {"name": "c", "format": "plain"},
                {"name": "Bad Name", "url": "https://x", "format": "plain"},
                {"name": "learned", "url": "https://x", "format": "plain"},
                {"name": "d", "url": "ftp://x/d", "format": "plain"},
                {"name": "e", "url": "https://x/e", "format": "plain", "categry": "pool"},
                {"name": "f", "url": "https://x/f", "format": "plain", "category": "malware"},
                {"name": "g", "url": "https://x/g", "format": "plain", "refresh": "soon"},
                {"name": "h", "url": "https://x/h", "format": "plain", "confidence": 2},
                {"name": "i", "url": "https://x/i", "format": "plain", "enabled": "yes"},
                {"name": "j", "url": "https://x/j", "format": "csv", "options": {"a": [1]}},
                {"name": "k", "url": "https://x/k", "format": "plain"},
                {"name": "k", "url": "https://x/k2", "format": "plain"},
            ]
        },
        tmp_path,
    )
    expected = [
        "source 'a': unknown format 'nope' (registered parsers: adblock, csv,",
        "source 'b': needs exactly one of 'url' or 'path'",
        "source 'c': needs exactly one of 'url' or 'path'",
        "source 'Bad Name': bad source name",
        "source 'learned': source name 'learned' is reserved",
        "source 'd': url must be http://, https:// or file://",
        "source 'e': unknown key(s) categry",
        "source 'f': unknown category 'malware'",
        "source 'g': not a duration",
        "source 'h': confidence must be a number within [0, 1]",
        "source 'i': enabled must be true or false",
        "source 'j': options must map names to scalar values",
        "source 'k': duplicate name",
    ]
    assert len(problems) == len(expected)
    for got, want in zip(problems, expected, strict=True):
        assert got.startswith(want), (got, want)


def test_unknown_format_is_judged_by_the_registry_given(tmp_path: Path) -> None:
    doc = {"sources": [{"name": "a", "url": "https://x/a", "format": "maltrail"}]}
    assert len(parse_index(doc)) == 1
    with pytest.raises(SourceError, match="unknown format 'maltrail'"):
        parse_index(doc, formats={"plain"})
    assert _load({"nope": 1}, tmp_path) == ["the index must be a mapping with a 'sources' list"]
    bad = tmp_path / "broken.yaml"
    bad.write_text("sources: [\n")
    with pytest.raises(SourceError, match="not valid YAML"):
        load_index(bad)
    with pytest.raises(SourceError, match="cannot read"):
        load_index(tmp_path / "missing.yaml")


def test_paths_durations_and_options(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    doc = {
        "sources": [
            {"name": "local", "path": "sub/list.txt", "format": "plain", "refresh": "6h",
             "public_only": False, "category": "allowlist", "confidence": 1},
            {"name": "j", "url": "file:///x.json", "format": "json",
             "options": {"host": "Host", "port": "Port", "flag": True, "n": 3}},
        ]
    }  # fmt: skip
    path = tmp_path / "idx.yaml"
    path.write_text(yaml.safe_dump(doc))
    index = load_index(path)
    local = index.get("local")
    assert local is not None and local.path == tmp_path / "sub" / "list.txt"
    assert (local.refresh, local.public_only, local.confidence) == (21600, False, 1.0)
    assert local.location == str(tmp_path / "sub" / "list.txt")
    j = index.get("j")
    assert j is not None and dict(j.meta().options) == {
        "host": "Host", "port": "Port", "flag": "true", "n": "3"
    }  # fmt: skip
    assert [parse_duration(x) for x in (90, "90", "30m", "1d", "2w")] == [
        90, 90, 1800, 86400, 1209600
    ]  # fmt: skip
    for bad in (0, "-1h", "1y", True, 1.5):
        with pytest.raises(ValueError):
            parse_duration(bad)
