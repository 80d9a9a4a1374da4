"""Bitcoin-family P2P and Monero Levin signatures (coin P2P, never mining)."""

from __future__ import annotations

import struct

import pytest

from detector.base import EvidenceKind, HitClass, Outcome, Signature, Verdict
from detector.signatures import SIGNATURES

from . import samples as s
from .test_sig_registry import match_is_well_formed

BTC = SIGNATURES["bitcoin-p2p"]
LEVIN = SIGNATURES["monero-levin"]


def check(sig: Signature, data: bytes, from_client: bool = True) -> Verdict:
    verdict = sig.inspect(data, from_client, 6)
    if verdict.outcome is Outcome.MATCH:
        match_is_well_formed(verdict)
        assert verdict.kind is EvidenceKind.COIN_P2P and verdict.cls is HitClass.COIN_P2P
    return verdict


def test_bitcoin_version_with_verified_checksum() -> None:
    v = check(BTC, s.BITCOIN_VERSION + s.BITCOIN_VERACK)
    assert v.outcome is Outcome.MATCH and v.variant == "bitcoin-p2p"
    assert v.confidence == 0.99
    assert v.detail["methods"] == ["version"]
    assert v.detail["network"] == "bitcoin-mainnet"
    assert v.detail["checksum"] == "verified"


def test_bitcoin_header_only_is_enough_for_known_magic() -> None:
    v = check(BTC, s.BITCOIN_VERSION[:30])
    assert v.outcome is Outcome.MATCH and v.detail["checksum"] == "not-checked"


@pytest.mark.parametrize("magic", ["fbc0b6db", "c0c0c0c0", "0b110907", "fabfb5da", "0a03cf40"])
def test_other_networks(magic: str) -> None:
    data = s.bitcoin_message("ping", b"\x01" * 8, bytes.fromhex(magic))
    assert check(BTC, data).outcome is Outcome.MATCH


def test_unknown_magic_needs_verified_checksum() -> None:
    data = s.bitcoin_message("inv", b"\x00", b"\x11\x22\x33\x44")
    v = check(BTC, data)
    assert v.outcome is Outcome.MATCH and v.detail["network"] == "unknown-magic"
    assert check(BTC, data[:24]).outcome is Outcome.NEED_MORE
    assert check(BTC, data[:-1] + b"\x01").outcome is Outcome.EXCLUDE


def test_bad_checksum_is_excluded() -> None:
    data = bytearray(s.BITCOIN_VERSION)
    data[-1] ^= 0xFF
    assert check(BTC, bytes(data)).outcome is Outcome.EXCLUDE


def test_legacy_version_without_checksum() -> None:
    """2010-era clients: 20-byte header for version, protocol version 32001 right after."""
    payload = struct.pack("<i", 32001) + s.VERSION_PAYLOAD[4:]
    legacy = b"\xf9\xbe\xb4\xd9version\x00\x00\x00\x00\x00" + struct.pack("<I", len(payload))
    v = check(BTC, legacy + payload + b"\xf9\xbe\xb4\xd9verack" + b"\x00" * 10)
    assert v.outcome is Outcome.MATCH and v.detail["checksum"] == "absent-legacy"


def test_bitcoin_short_prefixes() -> None:
    assert check(BTC, b"\xf9\xbe").outcome is Outcome.NEED_MORE
    assert check(BTC, s.BITCOIN_VERSION[:23]).outcome is Outcome.NEED_MORE
    assert check(BTC, b"\xf9\x00").outcome is Outcome.EXCLUDE


@pytest.mark.parametrize(
    "data",
    [
        b"\xf9\xbe\xb4\xd9VERSION\x00\x00\x00\x00\x00" + b"\x00" * 8,  # upper-case command
        b"\xf9\xbe\xb4\xd9ver\x00sion\x00\x00\x00\x00" + b"\x00" * 8,  # NUL inside
        b"\xf9\xbe\xb4\xd9version\x00\x00\x00\x00\x00\xff\xff\xff\xff" + b"\x00" * 4,  # length
        s.STRATUM_CLIENT,
        s.LEVIN_HANDSHAKE,
    ],
)
def test_bitcoin_excluded(data: bytes) -> None:
    assert check(BTC, data).outcome is Outcome.EXCLUDE


def test_levin_handshake_both_directions() -> None:
    v = check(LEVIN, s.LEVIN_HANDSHAKE)
    assert v.outcome is Outcome.MATCH and v.variant == "monero-p2p-levin"
    assert v.detail["methods"] == ["handshake"]
    reply = s.levin_header(1001, 10, request=False) + b"\x00" * 10
    assert check(LEVIN, reply, False).outcome is Outcome.MATCH


def test_levin_unknown_command_lower_confidence() -> None:
    v = check(LEVIN, s.levin_header(4242, 0))
    assert v.outcome is Outcome.MATCH and v.confidence < 0.95


def test_levin_prefix_and_garbage() -> None:
    assert check(LEVIN, s.LEVIN_HANDSHAKE[:5]).outcome is Outcome.NEED_MORE
    assert check(LEVIN, s.LEVIN_HANDSHAKE[:20]).outcome is Outcome.NEED_MORE
    bad_flags = bytearray(s.LEVIN_HANDSHAKE)
    bad_flags[25] = 0x40
    assert check(LEVIN, bytes(bad_flags)).outcome is Outcome.EXCLUDE
    assert check(LEVIN, b"\x01\x22" + s.LEVIN_HANDSHAKE[2:]).outcome is Outcome.EXCLUDE
    assert check(LEVIN, s.BITCOIN_VERSION).outcome is Outcome.EXCLUDE
