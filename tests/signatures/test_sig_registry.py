"""Generic checks every registered signature must pass."""

from __future__ import annotations

import importlib
import json

import pytest

import detector.signatures as registry_module
from detector.base import Outcome, Signature, Verdict
from detector.signatures import SIGNATURES

NAMES = sorted(SIGNATURES)


def test_registry_is_not_empty() -> None:
    assert {"stratum", "ethproxy", "cryptonote", "http-mining"} <= set(SIGNATURES)
    assert {"bitcoin-p2p", "monero-levin", "ethereum-rlpx", "ethereum-discv4"} <= set(SIGNATURES)


@pytest.mark.parametrize("name", NAMES)
def test_entry_name_and_transports(name: str) -> None:
    sig: Signature = SIGNATURES[name]
    assert sig.name == name
    assert isinstance(sig.transports, frozenset)
    assert sig.transports
    assert sig.transports <= {6, 17}


@pytest.mark.parametrize("name", NAMES)
def test_foreign_transport_is_excluded(name: str) -> None:
    sig = SIGNATURES[name]
    for transport in {6, 17} - sig.transports:
        assert sig.inspect(b'{"id":1,"method":"mining.subscribe"}\n', True, transport).outcome is (
            Outcome.EXCLUDE
        )


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("data", [b"", b"\x00", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"])
def test_trivial_inputs_give_a_verdict(name: str, data: bytes) -> None:
    sig = SIGNATURES[name]
    for transport in sorted(sig.transports):
        for from_client in (True, False):
            verdict = sig.inspect(data, from_client, transport)
            assert isinstance(verdict, Verdict)
            assert verdict.outcome is not Outcome.MATCH


@pytest.mark.parametrize("name", NAMES)
def test_tls_record_is_excluded_at_once(name: str) -> None:
    hello = b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(range(32)) * 8
    sig = SIGNATURES[name]
    for transport in sig.transports:
        assert sig.inspect(hello, True, transport).outcome is Outcome.EXCLUDE


def test_registry_import_is_side_effect_free() -> None:
    before = dict(SIGNATURES)
    reloaded = importlib.reload(registry_module)
    assert sorted(reloaded.SIGNATURES) == sorted(before)
    for name, sig in reloaded.SIGNATURES.items():
        assert type(sig) is type(before[name])


def match_is_well_formed(verdict: Verdict) -> None:
    """Invariants of every MATCH (shared with the other test modules)."""
    assert verdict.outcome is Outcome.MATCH
    assert verdict.variant
    assert 0.0 < verdict.confidence <= 1.0
    assert isinstance(verdict.detail.get("methods"), list)
    assert verdict.detail.get("excerpt")
    assert len(verdict.detail["excerpt"]) <= 160
    json.dumps(verdict.detail)
    assert (verdict.kind.value == "coin-p2p") == (verdict.cls.value == "coin-p2p")
