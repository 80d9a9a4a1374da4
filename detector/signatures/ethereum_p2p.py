"""Ethereum node-to-node traffic: devp2p RLPx handshakes (TCP) and discovery v4 (UDP).

Coin P2P, never mining. Both are mostly ciphertext or signatures, so the checks are
cryptographic facts rather than guesses, which keeps false positives on other binary
protocols at zero:

* RLPx handshake (EIP-8): `size (u16 BE) || 0x04 || X || Y || iv || ciphertext || mac`, the
  ECIES ephemeral public key being an uncompressed secp256k1 point. We require a plausible
  size AND the 0x04 byte AND that (X, Y) lies on the curve y² = x³ + 7 (mod p) — random bytes
  pass that with probability ~2⁻²⁵⁶. The pre-EIP-8 handshake (auth 307 bytes, ack 210 bytes)
  is the same without the size prefix.
* discv4: `hash (32) || signature (65) || type (1) || RLP list`, where hash =
  keccak256(signature || type || data). We check the recovery id (0/1), the type (1..6), the
  RLP list prefix, and then verify the hash.
"""

from __future__ import annotations

from detector.base import EXCLUDE, NEED_MORE, EvidenceKind, HitClass, Outcome, Verdict
from detector.signatures.keccak import keccak256

# secp256k1 field prime.
_P = 2**256 - 2**32 - 977

RLPX_MIN_SIZE = 200  # EIP-8 auth/ack bodies are padded; real ones are ~300..700 bytes
RLPX_MAX_SIZE = 2048

DISCV4_HEADER = 98  # hash 32 + signature 65 + type 1
DISCV4_MAX_PACKET = 1280
DISCV4_TYPES: dict[int, str] = {
    1: "ping",
    2: "pong",
    3: "findnode",
    4: "neighbors",
    5: "enrrequest",
    6: "enrresponse",
}


def on_curve(point: bytes) -> bool:
    """Whether 64 bytes X || Y (big-endian) are a point of secp256k1."""
    if len(point) != 64:
        return False
    x = int.from_bytes(point[:32], "big")
    y = int.from_bytes(point[32:], "big")
    if x >= _P or y >= _P:
        return False
    return (y * y - x * x * x - 7) % _P == 0


def _p2p(variant: str, confidence: float, detail: dict[str, object]) -> Verdict:
    return Verdict(
        Outcome.MATCH,
        kind=EvidenceKind.COIN_P2P,
        cls=HitClass.COIN_P2P,
        variant=variant,
        confidence=confidence,
        detail=detail,
    )


def inspect_rlpx(data: bytes, from_client: bool) -> Verdict:
    """An RLPx auth (initiator) or ack (recipient) message at the start of a TCP stream."""
    role = "auth" if from_client else "ack"
    if len(data) < 3:
        plausible = data[0] == 0x04 or data[0] <= RLPX_MAX_SIZE >> 8
        return NEED_MORE if plausible else EXCLUDE
    size = int.from_bytes(data[:2], "big")
    if data[2] == 0x04 and RLPX_MIN_SIZE <= size <= RLPX_MAX_SIZE:
        if len(data) < 67:
            return NEED_MORE
        if on_curve(data[3:67]):
            detail: dict[str, object] = {
                "methods": [f"{role}-eip8"],
                "size": size,
                "excerpt": data[:24].hex(),
            }
            return _p2p("ethereum-devp2p", 0.97, detail)
    if data[0] == 0x04:  # pre-EIP-8: fixed-size auth (307) / ack (210), no size prefix
        if len(data) < 65:
            return NEED_MORE
        if on_curve(data[1:65]):
            detail = {"methods": [f"{role}-legacy"], "excerpt": data[:24].hex()}
            return _p2p("ethereum-devp2p", 0.9, detail)
    return EXCLUDE


def _rlp_list_end(data: bytes, offset: int) -> int | None:
    """End offset of the RLP list starting at `offset`, or None if it is not a list."""
    if offset >= len(data):
        return None
    prefix = data[offset]
    if 0xC0 <= prefix <= 0xF7:
        return offset + 1 + prefix - 0xC0
    if prefix >= 0xF8:
        width = prefix - 0xF7
        if offset + 1 + width > len(data):
            return None
        return offset + 1 + width + int.from_bytes(data[offset + 1 : offset + 1 + width], "big")
    return None


def inspect_discv4(data: bytes) -> Verdict:
    """A discovery v4 packet at the start of a UDP flow direction."""
    if len(data) < DISCV4_HEADER + 1:  # datagrams arrive whole: too short is not discv4
        return NEED_MORE if not data else EXCLUDE
    if data[96] > 1 or data[97] not in DISCV4_TYPES:
        return EXCLUDE
    end = _rlp_list_end(data, DISCV4_HEADER)
    if end is None or end > DISCV4_MAX_PACKET:
        return EXCLUDE
    digest = data[:32]
    verified = end <= len(data) and keccak256(data[32:end]) == digest
    if not verified and end < len(data) <= DISCV4_MAX_PACKET:
        verified = keccak256(data[32:]) == digest  # trailing data after the list is allowed
    if not verified:
        return EXCLUDE
    detail: dict[str, object] = {
        "methods": [DISCV4_TYPES[data[97]]],
        "hash": "verified",
        "excerpt": data[:24].hex(),
    }
    return _p2p("ethereum-discv4", 0.99, detail)


class EthereumRlpxSignature:
    """Ethereum devp2p RLPx handshake (TCP)."""

    name: str = "ethereum-rlpx"
    transports: frozenset[int] = frozenset({6})

    def inspect(self, data: bytes, from_client: bool, transport: int) -> Verdict:
        if transport not in self.transports:
            return EXCLUDE
        if not data:
            return NEED_MORE
        if data[0] != 0x04 and (data[0] > RLPX_MAX_SIZE >> 8 or data[2:3] not in (b"", b"\x04")):
            return EXCLUDE
        return inspect_rlpx(data, from_client)


class EthereumDiscv4Signature:
    """Ethereum discovery v4 packet (UDP)."""

    name: str = "ethereum-discv4"
    transports: frozenset[int] = frozenset({17})

    def inspect(self, data: bytes, from_client: bool, transport: int) -> Verdict:
        if transport not in self.transports:
            return EXCLUDE
        if len(data) > 97 and (data[96] > 1 or data[97] not in DISCV4_TYPES):
            return EXCLUDE
        return inspect_discv4(data)
