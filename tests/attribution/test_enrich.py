"""GeoIP enrichment against tiny mmdb files built here with mmdb-writer (no downloads)."""

from __future__ import annotations

from pathlib import Path

import pytest
from mmdb_writer import MMDBWriter
from netaddr import IPSet

from store.enrich import EnrichError, Geo, GeoEnricher


def build(path: Path, ip_version: int, kind: str, records: dict[str, dict]) -> Path:
    w = MMDBWriter(ip_version=ip_version, ipv4_compatible=ip_version == 6, database_type=kind)
    for net, rec in records.items():
        w.insert_network(IPSet([net]), rec)
    w.to_db_file(str(path))
    return path


@pytest.fixture
def dbs(tmp_path: Path) -> tuple[Path, Path]:
    country = build(tmp_path / "country.mmdb", 6, "GeoLite2-Country", {
        "203.0.113.0/24": {"country": {"iso_code": "CN", "names": {"en": "China"}}},
        "198.51.100.0/24": {"registered_country": {"iso_code": "US"}},  # anycast: no country
        "2001:db8:99::/48": {"country": {"iso_code": "DE"}},
    })  # fmt: skip
    asn = build(tmp_path / "asn.mmdb", 6, "GeoLite2-ASN", {
        "203.0.113.0/25": {"autonomous_system_number": 4134,
                           "autonomous_system_organization": "CHINANET-BACKBONE"},
        "2001:db8:99::/48": {"autonomous_system_number": 3320,
                             "autonomous_system_organization": "Deutsche Telekom AG"},
    })  # fmt: skip
    return country, asn


def test_maxmind_layouts_v4_and_v6(dbs: tuple[Path, Path]) -> None:
    g = GeoEnricher(*dbs)
    assert g.lookup("203.0.113.10") == Geo("CN", 4134, "CHINANET-BACKBONE")
    assert g.lookup("203.0.113.200") == Geo("CN", None, None)
    assert g.lookup("198.51.100.7") == Geo("US", None, None)
    assert g.lookup("2001:db8:99::1:3") == Geo("DE", 3320, "Deutsche Telekom AG")
    assert g.lookup("192.0.2.1") == Geo(None, None, None)
    assert g.lookup("not an ip") == Geo(None, None, None)
    g.close()
    assert g.lookup("203.0.113.10") == Geo(None, None, None)


def test_ipv4_only_database_and_ipv6_query(tmp_path: Path) -> None:
    asn = build(tmp_path / "a4.mmdb", 4, "GeoLite2-ASN", {
        "203.0.113.0/24": {"autonomous_system_number": 64500,
                           "autonomous_system_organization": "X"},
    })  # fmt: skip
    g = GeoEnricher(asn_db=asn)
    assert g.lookup("203.0.113.1") == Geo(None, 64500, "X")
    assert g.lookup("2001:db8::1") == Geo(None, None, None)


def test_ipinfo_flat_layout_in_one_file(tmp_path: Path) -> None:
    both = build(tmp_path / "country_asn.mmdb", 6, "ipinfo country_asn.mmdb", {
        "203.0.113.0/24": {"country": "cn", "asn": "AS4837", "as_name": "CHINA UNICOM"},
        "198.51.100.0/24": {"country": "XX1", "asn": "ASx"},
    })  # fmt: skip
    g = GeoEnricher(both, both)
    assert g.lookup("203.0.113.9") == Geo("CN", 4837, "CHINA UNICOM")
    assert g.lookup("198.51.100.9") == Geo(None, None, None)
    g.close()


def test_cache_returns_the_same_answer(dbs: tuple[Path, Path]) -> None:
    g = GeoEnricher(*dbs)
    first = g.lookup("203.0.113.10")
    assert g.lookup("203.0.113.10") is first
    assert g._cached.cache_info().hits == 1  # type: ignore[attr-defined]


def test_missing_or_broken_files_fail_at_construction(tmp_path: Path) -> None:
    with pytest.raises(EnrichError, match="country database not found"):
        GeoEnricher(tmp_path / "nope.mmdb")
    junk = tmp_path / "junk.mmdb"
    junk.write_bytes(b"\x00" * 100)
    with pytest.raises(EnrichError, match=r"ASN database .* not usable"):
        GeoEnricher(asn_db=junk)


def test_from_env(dbs: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MINEWATCH_GEOIP_COUNTRY", raising=False)
    monkeypatch.delenv("MINEWATCH_GEOIP_ASN", raising=False)
    none = GeoEnricher.from_env()
    assert not none.enabled and none.lookup("203.0.113.10") == Geo(None, None, None)
    monkeypatch.setenv("MINEWATCH_GEOIP_COUNTRY", str(dbs[0]))
    monkeypatch.setenv("MINEWATCH_GEOIP_ASN", str(dbs[1]))
    assert GeoEnricher.from_env().lookup("203.0.113.10") == Geo("CN", 4134, "CHINANET-BACKBONE")
    monkeypatch.setenv("MINEWATCH_GEOIP_ASN", str(dbs[1].with_name("missing.mmdb")))
    with pytest.raises(EnrichError):
        GeoEnricher.from_env()
