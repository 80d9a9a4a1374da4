"""Payload signatures: one module per protocol, one explicit registry table.

Each entry implements `detector.base.Signature` (match / exclude / need-more on the first
bytes of one flow direction). Adding a signature = one module + one line here. No directory
scanning and no import-time side effects: the table is the whole registry.
"""

from __future__ import annotations

from detector.base import Signature
from detector.signatures.coinp2p import BitcoinP2PSignature, MoneroLevinSignature
from detector.signatures.cryptonote import CryptoNoteSignature
from detector.signatures.ethereum_p2p import EthereumDiscv4Signature, EthereumRlpxSignature
from detector.signatures.ethproxy import EthProxySignature
from detector.signatures.http_mining import HTTP_HEADS, HttpMiningSignature
from detector.signatures.stratum import StratumSignature

SIGNATURES: dict[str, Signature] = {
    # mining (HitClass.MINING)
    "stratum": StratumSignature(),
    "ethproxy": EthProxySignature(),
    "cryptonote": CryptoNoteSignature(),
    "http-mining": HttpMiningSignature(),
    # coin-network P2P (HitClass.COIN_P2P), never mining
    "bitcoin-p2p": BitcoinP2PSignature(),
    "monero-levin": MoneroLevinSignature(),
    "ethereum-rlpx": EthereumRlpxSignature(),
    "ethereum-discv4": EthereumDiscv4Signature(),
}

# Dispatch: which signatures can match a stream, judged by how the stream starts. JSON-RPC
# signatures also see "other" streams, which may begin mid-line in a capture that started
# mid-session; HTTP and coin P2P headers can only be at the start.
FAMILIES: dict[str, tuple[str, ...]] = {
    "json": ("stratum", "ethproxy", "cryptonote"),
    "http": ("http-mining",),
    "other": ("stratum", "ethproxy", "cryptonote", "bitcoin-p2p", "monero-levin",
              "ethereum-rlpx", "ethereum-discv4"),
}  # fmt: skip
_HTTP_STARTS = frozenset(h[:4] for h in HTTP_HEADS)


def family_of(data: bytes) -> str:
    """The `FAMILIES` key for a stream that begins with `data`."""
    head = data[:8].lstrip(b" \t\r\n")
    if head[:1] in (b"{", b"["):
        return "json"
    if data[:4] in _HTTP_STARTS:
        return "http"
    return "other"


__all__ = ["FAMILIES", "SIGNATURES", "family_of"]
