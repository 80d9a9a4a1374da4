"""The whole store path on the bundled samples: `subscribers import-*`, then `scan` with the
settings' internal networks and GeoIP databases; cases carry account, sector, region and the
pool's country/ASN, and an address that changed hands between two hits is two cases."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from minewatch.cli import main
from tests.attribution.test_enrich import build
from tests.hooks import HookServer

ROOT = Path(__file__).resolve().parents[2]


def _run(*args: str, env: dict[str, str] | None = None) -> str:
    res = CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)
    assert res.exit_code == 0, res.output
    return res.output


def test_scan_attributes_and_enriches(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'm.db'}"
    subs = ROOT / "samples" / "subscribers"
    _run("subscribers", "import-registry", "--db", url, str(subs / "registry.csv"))
    _run("subscribers", "import-sessions", "--db", url, str(subs / "sessions.csv"))
    country = build(tmp_path / "c.mmdb", 6, "GeoLite2-Country",
                    {"198.51.100.0/24": {"country": {"iso_code": "NL"}}})  # fmt: skip
    asn = build(tmp_path / "a.mmdb", 6, "GeoLite2-ASN",
                {"198.51.100.0/24": {"autonomous_system_number": 64500,
                                     "autonomous_system_organization": "Pool AS"}})  # fmt: skip
    env = {"MINEWATCH_GEOIP_COUNTRY": str(country), "MINEWATCH_GEOIP_ASN": str(asn),
           "MINEWATCH_INTERNAL_NETWORKS": '["10.0.0.0/8", "2001:db8:20::/48"]'}  # fmt: skip
    _run("scan", "--db", url, "--blocklist", str(ROOT / "samples/blocklist.txt"),
         str(ROOT / "samples"), env=env)  # fmt: skip
    cases = [json.loads(x) for x in _run("cases", "list", "--db", url, "--format", "jsonl")
             .splitlines()]  # fmt: skip
    hits = [json.loads(x) for x in _run("hits", "--db", url, "--format", "jsonl").splitlines()]
    assert sum(c["hits"] for c in cases) == len(hits)
    # every subscriber inside the registry got its account and sector
    school = [c for c in cases if c["subscriber_ip"].startswith("10.20.2.")]
    assert school and all(c["account"] == "EDU-1002" and c["sector"] == "school"
                          and c["region"] == "杭州" for c in school)  # fmt: skip
    # 10.20.55.6 changed hands (RADIUS sessions): one case per account
    moved = sorted(c["account"] for c in cases if c["subscriber_ip"] == "10.20.55.6")
    assert moved == ["H-5501", "H-5502"]
    enriched = [c for c in cases if c["pool_ip"].startswith("198.51.100.")]
    assert enriched and all(c["pool_country"] == "NL" and c["pool_asn"] == 64500
                            for c in enriched)  # fmt: skip
    others = [c for c in cases if not c["pool_ip"].startswith("198.51.100.")]
    assert all(c["pool_country"] is None for c in others)


def test_scan_sends_case_events_to_a_webhook(tmp_path: Path) -> None:
    """Each case opened by a scan is announced once to the configured webhook, signed."""
    url = f"sqlite:///{tmp_path / 'm.db'}"
    with HookServer("s3cret-for-tests") as hook:
        env = {"MINEWATCH_EVENT_TARGETS": json.dumps([hook.url]),
               "MINEWATCH_WEBHOOK_SECRET": "s3cret-for-tests"}  # fmt: skip
        _run("scan", "--db", url, "--blocklist", str(ROOT / "samples/blocklist.txt"),
             str(ROOT / "samples"), env=env)  # fmt: skip
    cases = [json.loads(x) for x in _run("cases", "list", "--db", url, "--format", "jsonl")
             .splitlines()]  # fmt: skip
    assert not hook.bad
    assert sorted(e["data"]["id"] for e in hook.events if e["type"] == "case.opened") == sorted(
        c["id"] for c in cases)  # fmt: skip


def test_bad_settings_stop_a_storing_scan_with_a_clear_message(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'm.db'}"
    cases = {
        "MINEWATCH_GEOIP_COUNTRY": (str(tmp_path / "missing.mmdb"), "not found"),
        "MINEWATCH_INTERNAL_NETWORKS": ('["10.0.0.0/33"]', "internal_networks"),
        "MINEWATCH_EVENT_TARGETS": ('["ftp://x"]', "unknown event target scheme"),
    }
    for var, (value, why) in cases.items():
        res = CliRunner().invoke(main, ["scan", "--db", url, str(ROOT / "samples")],
                                 env={var: value})  # fmt: skip
        assert res.exit_code == 2 and "settings:" in res.output and why in res.output, res.output
