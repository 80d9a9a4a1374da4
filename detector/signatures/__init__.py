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
from detector.signatures.http_mining import HttpMiningSignature
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

__all__ = ["SIGNATURES"]
