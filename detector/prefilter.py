"""Vectorised choice of the few packets whose payload is worth a Python look.

Per batch, in numpy: a packet is a candidate when its flow is still under inspection, it carries
payload, its per-direction ordinal is within the inspection budget, and its first bytes could
start something a signature or name extractor understands (a JSON object, an HTTP message, a TLS
handshake, DNS, a coin P2P header). Flows whose budget is spent are marked done in the flow table,
so long-lived flows cost nothing after their first packets.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from detector.signatures.coinp2p import BTC_MAGIC, LEVIN_SIGNATURE
from pipelines.batch import ST_OK, Packets, U8
from pipelines.flows import Flows

BUDGET = 8  # payload packets per direction offered to inspection
PEEK = 8

_HTTP_HEADS = [b"POST", b"GET ", b"HTTP", b"PUT "]
_BTC_MAGICS = list(BTC_MAGIC)
DNS_PORTS = (53, 5353, 5355)


def _u32be(b: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint32]:
    w = b[:, :4].astype(np.uint32)
    return (w[:, 0] << 24) | (w[:, 1] << 16) | (w[:, 2] << 8) | w[:, 3]  # type: ignore[no-any-return]


def _word(magic: bytes) -> int:
    return int.from_bytes(magic[:4], "big")


_HTTP_WORDS = np.array([_word(h) for h in _HTTP_HEADS], dtype=np.uint32)
_BTC_WORDS = np.array([_word(m) for m in _BTC_MAGICS], dtype=np.uint32)


def peek(buf: U8, off: npt.NDArray[np.int64], length: npt.NDArray[np.uint32]) -> U8:
    """First PEEK payload bytes of each row (zero-filled past the payload end)."""
    cols = np.arange(PEEK, dtype=np.int64)
    idx = off[:, None] + cols[None, :]
    inside = cols[None, :] < length[:, None].astype(np.int64)
    idx = np.where(inside, idx, 0)
    out = buf[idx]
    out[~inside] = 0
    return out  # type: ignore[no-any-return]


def plausible(
    head: U8, length: npt.NDArray[np.uint32], proto: npt.NDArray[np.uint8],
    sport: npt.NDArray[np.uint16], dport: npt.NDArray[np.uint16],
) -> npt.NDArray[np.bool_]:  # fmt: skip
    """Could this payload start a message that some inspector understands?"""
    b0 = head[:, 0]
    ws = (b0 == 0x20) | (b0 == 0x0A) | (b0 == 0x0D) | (b0 == 0x09)
    json = (b0 == ord("{")) | (ws & (head[:, 1] == ord("{"))) | (b0 == ord("["))
    word = _u32be(head)
    http = np.isin(word, _HTTP_WORDS)
    tls = (b0 == 0x16) & (head[:, 1] == 0x03)
    dns = np.isin(sport, DNS_PORTS) | np.isin(dport, DNS_PORTS)
    btc = np.isin(word, _BTC_WORDS)
    levin = np.all(head == np.frombuffer(LEVIN_SIGNATURE, dtype=np.uint8)[None, :], axis=1)
    size_prefix = (head[:, 0].astype(np.int64) << 8) | head[:, 1]
    rlpx = (proto == 6) & (
        ((size_prefix == length.astype(np.int64) - 2) & (head[:, 2] == 0x04))
        | ((length == 307) & (b0 == 0x04))
    )
    discv4 = (proto == 17) & (length >= 98)
    return json | http | tls | dns | btc | levin | rlpx | discv4  # type: ignore[no-any-return]


def select(
    pk: Packets, slot: npt.NDArray[np.int64], direction: npt.NDArray[np.uint8],
    flows: Flows, buf: U8, pending: npt.NDArray[np.bool_],
) -> npt.NDArray[np.intp]:  # fmt: skip
    """Indices of candidate packets, in capture order; updates per-flow budgets in `flows`.

    `pending` marks packets of flows that are mid-message (a signature asked for more bytes):
    those bypass the first-bytes test, since a continuation segment starts anywhere.
    """
    ok = (pk["status"] == ST_OK) & (pk["payload_len"] > 0) & (slot >= 0)
    idx = np.flatnonzero(ok)
    if not len(idx):
        return idx
    s = slot[idx]
    idx = idx[flows["done"][s] == 0]
    if not len(idx):
        return idx
    s = slot[idx]
    d = direction[idx].astype(np.int64)
    # ordinal of each packet within its (flow, direction) in this batch, plus what came before
    key = s * 2 + d
    order = np.argsort(key, kind="stable")
    ks = key[order]
    starts = np.r_[0, np.flatnonzero(ks[1:] != ks[:-1]) + 1]
    group = np.repeat(starts, np.diff(np.r_[starts, len(ks)]))
    rank = np.empty(len(ks), dtype=np.int64)
    rank[order] = np.arange(len(ks)) - group
    before = np.where(d == 0, flows["seen_c2s"][s], flows["seen_s2c"][s]).astype(np.int64)
    within = (rank + before) < BUDGET
    # advance the budgets (saturating) and retire flows whose both directions are spent
    uk, counts = np.unique(key, return_counts=True)
    us, ud = uk // 2, uk % 2
    for col, which in (("seen_c2s", 0), ("seen_s2c", 1)):
        m = ud == which
        cur = flows[col][us[m]].astype(np.int64) + counts[m]
        flows[col][us[m]] = np.minimum(cur, BUDGET)
    spent = (flows["seen_c2s"][us] >= BUDGET) & (flows["seen_s2c"][us] >= BUDGET)
    flows["done"][us[spent]] = 1
    idx, s = idx[within], s[within]
    if not len(idx):
        return idx
    p = pk[idx]
    head = peek(buf, p["payload_off"], p["payload_len"])
    keep = plausible(head, p["payload_len"], p["proto"], p["sport"], p["dport"]) | pending[idx]
    return idx[keep]
