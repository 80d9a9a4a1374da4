"""Ethereum devp2p RLPx handshake and discv4 signatures, and the Keccak-256 they rely on."""

from __future__ import annotations

import pytest

from detector.base import EvidenceKind, HitClass, Outcome, Signature, Verdict
from detector.signatures import SIGNATURES
from detector.signatures.ethereum_p2p import on_curve
from detector.signatures.keccak import keccak256

from . import samples as s
from .test_sig_registry import match_is_well_formed

RLPX = SIGNATURES["ethereum-rlpx"]
DISCV4 = SIGNATURES["ethereum-discv4"]


def check(sig: Signature, data: bytes, from_client: bool = True, transport: int = 6) -> Verdict:
    verdict = sig.inspect(data, from_client, transport)
    if verdict.outcome is Outcome.MATCH:
        match_is_well_formed(verdict)
        assert verdict.kind is EvidenceKind.COIN_P2P and verdict.cls is HitClass.COIN_P2P
    return verdict


@pytest.mark.parametrize(
    "message, digest",
    [
        (b"", "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"),
        (b"abc", "4e03657aea45a94fc7d47ba826c8d667c0d1e6e33a64a036ec44f58fa12d6c45"),
        (
            b"The quick brown fox jumps over the lazy dog",
            "4d741b6f1eb29cb2a9b9911c82f56fa8d73b04959d3d9d222895df6c0b28aa15",
        ),
    ],
)
def test_keccak256_vectors(message: bytes, digest: str) -> None:
    assert keccak256(message).hex() == digest


def test_keccak256_block_boundaries_differ() -> None:
    digests = {keccak256(b"a" * n) for n in (134, 135, 136, 137, 272)}
    assert len(digests) == 5


def test_curve_check() -> None:
    assert on_curve(s.ec_point(1))
    assert on_curve(s.ec_point(0xDEADBEEF))
    point = bytearray(s.ec_point(7))
    point[-1] ^= 1
    assert not on_curve(bytes(point))
    assert not on_curve(b"\xff" * 64)


@pytest.mark.parametrize("k, size", [(3, 427), (0xC0FFEE, 316), (2**200 + 5, 581)])
def test_rlpx_eip8_auth_and_ack(k: int, size: int) -> None:
    data = s.rlpx_auth(k, size)
    v = check(RLPX, data)
    assert v.outcome is Outcome.MATCH and v.variant == "ethereum-devp2p"
    assert v.detail["methods"] == ["auth-eip8"] and v.detail["size"] == size
    assert check(RLPX, data, from_client=False).detail["methods"] == ["ack-eip8"]


def test_rlpx_legacy_handshake() -> None:
    data = b"\x04" + s.ec_point(99) + b"\x00" * (307 - 65)
    v = check(RLPX, data)
    assert v.outcome is Outcome.MATCH and v.detail["methods"] == ["auth-legacy"]


def test_rlpx_needs_the_point_and_a_plausible_size() -> None:
    data = s.rlpx_auth()
    assert check(RLPX, data[:40]).outcome is Outcome.NEED_MORE
    not_a_point = data[:3] + b"\x11" * 64 + data[67:]
    assert check(RLPX, not_a_point).outcome is Outcome.EXCLUDE
    too_small = (100).to_bytes(2, "big") + data[2:102]
    assert check(RLPX, too_small).outcome is Outcome.EXCLUDE
    too_big = (5000).to_bytes(2, "big") + data[2:]
    assert check(RLPX, too_big).outcome is Outcome.EXCLUDE
    assert check(RLPX, b"\x16\x03\x01\x02\x00").outcome is Outcome.EXCLUDE


def test_discv4_packets() -> None:
    for ptype in range(1, 7):
        v = check(DISCV4, s.discv4_packet(ptype), transport=17)
        assert v.outcome is Outcome.MATCH and v.variant == "ethereum-discv4"
        assert v.detail["hash"] == "verified"
    ping = check(DISCV4, s.DISCV4_PING, transport=17)
    assert ping.detail["methods"] == ["ping"]


def test_discv4_long_rlp_list_and_concatenated_datagrams() -> None:
    big = s.rlp_list([s.rlp_bytes(bytes(range(60))), s.rlp_bytes(b"\x05")])
    packet = s.discv4_packet(4, big)
    assert check(DISCV4, packet, transport=17).outcome is Outcome.MATCH
    assert check(DISCV4, packet + s.DISCV4_PING, transport=17).outcome is Outcome.MATCH


def test_discv4_trailing_data_is_hashed() -> None:
    body = bytes(range(64)) + b"\x00" + b"\x02" + s.rlp_list([s.rlp_bytes(b"\x01")]) + b"junk"
    packet = keccak256(body) + body
    assert check(DISCV4, packet, transport=17).outcome is Outcome.MATCH


def test_discv4_wrong_hash_or_shape() -> None:
    packet = bytearray(s.DISCV4_PING)
    packet[0] ^= 1
    assert check(DISCV4, bytes(packet), transport=17).outcome is Outcome.EXCLUDE
    bad_type = bytearray(s.DISCV4_PING)
    bad_type[97] = 9
    assert check(DISCV4, bytes(bad_type), transport=17).outcome is Outcome.EXCLUDE
    assert check(DISCV4, s.DISCV4_PING[:60], transport=17).outcome is Outcome.EXCLUDE
    assert check(DISCV4, b"", transport=17).outcome is Outcome.NEED_MORE
