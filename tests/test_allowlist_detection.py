"""A listed address inside an allowlisted range (CDN, cloud) is weak evidence: never a hit on the
list's word alone (list-pitfalls §1), still a hit when the protocol speaks too."""

from __future__ import annotations

from blacklist.entries import Category
from blacklist.matcher import Matcher
from blacklist.syntax import parse_item
from minewatch.scanrun import collect_hits
from tests.conftest import SAMPLES


def _matcher(*, allow: bool) -> Matcher:
    entries = [
        parse_item("198.51.100.200", source="feed", confidence=0.8, public_only=False),
        parse_item("198.51.100.7", source="feed", confidence=0.8, public_only=False),
    ]
    if allow:
        entries.append(parse_item("198.51.100.0/24", source="cdn", category=Category.ALLOWLIST))
    return Matcher(entries)


def test_list_only_hit_inside_allowlist_is_suppressed() -> None:
    target = "198.51.100.200"
    hits, _ = collect_hits([SAMPLES / "blocklist_only.pcap"], _matcher(allow=False))
    assert any(h.server_ip == target and "ip-list" in h.evidence for h in hits)
    hits, _ = collect_hits([SAMPLES / "blocklist_only.pcap"], _matcher(allow=True))
    assert not any(h.server_ip == target for h in hits)


def test_protocol_evidence_still_counts_inside_allowlist() -> None:
    hits, _ = collect_hits([SAMPLES / "pair_cache.pcap"], _matcher(allow=True))
    stratum = [h for h in hits if h.server_ip == "198.51.100.7" and "stratum" in h.evidence]
    assert stratum, hits
    listed = stratum[0]
    assert "ip-list" in listed.evidence  # rides along as weak evidence
    assert listed.detail.get("shared_infrastructure") is True
