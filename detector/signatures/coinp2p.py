"""Coin-network P2P over TCP: Bitcoin-family message headers and Monero Levin.

Nodes gossiping blocks and transactions are *not* pool mining; these signatures exist so such
flows are labelled `coin-p2p` (class `HitClass.COIN_P2P`) instead of being left unknown or,
worse, scored as mining because of the port or the peer's address.

Bitcoin family: every message starts with a 24-byte header — 4-byte network magic, 12-byte
NUL-padded ASCII command, payload length (u32 LE), checksum (first 4 bytes of
SHA256(SHA256(payload))). When the whole payload is in view the checksum is verified, which
makes the match certain even for a network whose magic is not in our table.

Monero (and other CryptoNote coins): Levin, a 33-byte little-endian header — signature
0x0101010101012101, body size u64, have-to-return u8, command u32, return code i32,
flags u32, protocol version u32.
"""

from __future__ import annotations

import hashlib
import re
import struct

from detector.base import EXCLUDE, NEED_MORE, EvidenceKind, HitClass, Outcome, Verdict

BTC_MAGIC: dict[bytes, str] = {
    bytes.fromhex("f9beb4d9"): "bitcoin-mainnet",
    bytes.fromhex("0b110907"): "bitcoin-testnet3",
    bytes.fromhex("1c163f28"): "bitcoin-testnet4",
    bytes.fromhex("fabfb5da"): "bitcoin-regtest",
    bytes.fromhex("0a03cf40"): "bitcoin-signet",
    bytes.fromhex("fbc0b6db"): "litecoin-mainnet",
    bytes.fromhex("fdd2c8f1"): "litecoin-testnet",
    bytes.fromhex("c0c0c0c0"): "dogecoin-mainnet",
    bytes.fromhex("fcc1b7dc"): "dogecoin-testnet",
    bytes.fromhex("e3e1f3e8"): "bitcoin-cash-mainnet",
    bytes.fromhex("f4e5f3f4"): "bitcoin-cash-testnet",
    bytes.fromhex("bf0c6bbd"): "dash-mainnet",
    bytes.fromhex("f9beb4fe"): "namecoin-mainnet",
    bytes.fromhex("24e92764"): "zcash-mainnet",
    bytes.fromhex("fac3b6da"): "digibyte-mainnet",
}
BTC_COMMANDS = frozenset(
    {
        "version", "verack", "addr", "addrv2", "sendaddrv2", "inv", "getdata", "notfound",
        "getblocks", "getheaders", "tx", "block", "headers", "getaddr", "mempool", "ping",
        "pong", "reject", "sendheaders", "feefilter", "sendcmpct", "cmpctblock", "getblocktxn",
        "blocktxn", "filterload", "filteradd", "filterclear", "merkleblock", "alert",
        "wtxidrelay", "getcfilters", "cfilter", "getcfheaders", "cfheaders", "getcfcheckpt",
        "cfcheckpt", "sendtxrcncl",
    }
)  # fmt: skip
BTC_HEADER = struct.Struct("<4s12sI4s")
BTC_MAX_PAYLOAD = 0x02000000  # 32 MiB, Bitcoin Core's MAX_SIZE
BTC_MAX_HASHED = 65536  # verify checksums of payloads up to this size only (bounded work)
_COMMAND = re.compile(rb"[a-z0-9]{1,12}\x00*")

LEVIN_SIGNATURE = bytes.fromhex("0121010101010101")
LEVIN_HEADER = struct.Struct("<8sQBIiII")  # 33 bytes
LEVIN_MAX_BODY = 100_000_000  # Monero's default maximum packet size
LEVIN_COMMANDS: dict[int, str] = {
    1001: "handshake",
    1002: "timed_sync",
    1003: "ping",
    1004: "request_stat_info",
    1005: "request_network_state",
    1006: "request_peer_id",
    1007: "request_support_flags",
    2001: "new_block",
    2002: "new_transactions",
    2003: "request_get_objects",
    2004: "response_get_objects",
    2006: "request_chain",
    2007: "response_chain_entry",
    2008: "new_fluffy_block",
    2009: "request_fluffy_missing_tx",
    2010: "get_txpool_complement",
}


def _p2p_match(variant: str, confidence: float, detail: dict[str, object]) -> Verdict:
    return Verdict(
        Outcome.MATCH,
        kind=EvidenceKind.COIN_P2P,
        cls=HitClass.COIN_P2P,
        variant=variant,
        confidence=confidence,
        detail=detail,
    )


def _legacy_handshake(data: bytes, command: str, length: int) -> bool:
    """Old (2010-2011) nodes: `version`/`verack` with a 20-byte header and no checksum.

    The payload then starts at offset 20 with the sender's protocol version (int32), and the
    next message, if in view, starts with the same magic right after the payload.
    """
    if command not in ("version", "verack") or (command == "verack") != (length == 0):
        return False
    if command == "version":
        if length < 46:
            return False
        (version,) = struct.unpack_from("<i", data, 20)
        if not 100 <= version < 100_000:
            return False
    following = data[20 + length : 24 + length]
    return len(following) < 4 or following == data[:4]


def inspect_bitcoin(data: bytes) -> Verdict:
    """One Bitcoin-family message header at the start of the stream."""
    magic = data[:4]
    network = BTC_MAGIC.get(magic)
    if len(data) < BTC_HEADER.size:
        prefix_ok = any(m.startswith(magic) for m in BTC_MAGIC)
        return NEED_MORE if prefix_ok else EXCLUDE
    if network is None and not 0x61 <= data[4] <= 0x7A:
        return EXCLUDE  # unknown magic and no lower-case command: not worth a closer look
    _, raw_command, length, checksum = BTC_HEADER.unpack_from(data)
    if _COMMAND.fullmatch(raw_command) is None or length > BTC_MAX_PAYLOAD:
        return EXCLUDE
    command = raw_command.rstrip(b"\x00").decode("ascii")
    verified: bool | None = None
    end = BTC_HEADER.size + length
    if length <= BTC_MAX_HASHED and len(data) >= end:
        payload = data[BTC_HEADER.size : end]
        verified = hashlib.sha256(hashlib.sha256(payload).digest()).digest()[:4] == checksum
    if verified is False:
        if network is None or not _legacy_handshake(data, command, length):
            return EXCLUDE
        verified = None  # pre-0.2.9 clients sent version/verack without a checksum field
        checksum_note = "absent-legacy"
    else:
        checksum_note = "verified" if verified else "not-checked"
    known = command in BTC_COMMANDS
    if network is None:  # unknown magic: only a verified checksum on a known command will do
        if not known:
            return EXCLUDE
        if verified is None:
            return NEED_MORE if length <= BTC_MAX_HASHED else EXCLUDE
        confidence = 0.9
    else:
        confidence = (0.99 if verified else 0.95) if known else (0.95 if verified else 0.85)
    detail: dict[str, object] = {
        "methods": [command],
        "network": network or "unknown-magic",
        "magic": magic.hex(),
        "checksum": checksum_note,
        "excerpt": data[: BTC_HEADER.size].hex(),
    }
    return _p2p_match("bitcoin-p2p", confidence, detail)


def inspect_levin(data: bytes) -> Verdict:
    """One Levin header at the start of the stream."""
    if len(data) < LEVIN_HEADER.size:
        return NEED_MORE if LEVIN_SIGNATURE.startswith(data[:8]) else EXCLUDE
    signature, body, returns, command, _code, flags, version = LEVIN_HEADER.unpack_from(data)
    if signature != LEVIN_SIGNATURE or body > LEVIN_MAX_BODY or returns > 1:
        return EXCLUDE
    if flags == 0 or flags & ~0x0F or version > 1:
        return EXCLUDE
    name = LEVIN_COMMANDS.get(command)
    detail: dict[str, object] = {
        "methods": [name or str(command)],
        "excerpt": data[: LEVIN_HEADER.size].hex(),
    }
    return _p2p_match("monero-p2p-levin", 0.97 if name else 0.9, detail)


class BitcoinP2PSignature:
    """Bitcoin-family P2P message header (TCP)."""

    name: str = "bitcoin-p2p"
    transports: frozenset[int] = frozenset({6})

    def inspect(self, data: bytes, from_client: bool, transport: int) -> Verdict:
        if transport not in self.transports:
            return EXCLUDE
        if not data:
            return NEED_MORE
        return inspect_bitcoin(data)


class MoneroLevinSignature:
    """Monero / CryptoNote Levin P2P header (TCP)."""

    name: str = "monero-levin"
    transports: frozenset[int] = frozenset({6})

    def inspect(self, data: bytes, from_client: bool, transport: int) -> Verdict:
        if transport not in self.transports:
            return EXCLUDE
        if not data:
            return NEED_MORE
        if data[0] != 0x01:
            return EXCLUDE
        return inspect_levin(data)
