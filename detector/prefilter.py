"""Choose, per batch, the few packets whose payload is worth a Python look.

One compiled pass over the batch: a packet is a candidate when its flow is still under inspection,
it carries payload, its ordinal within its flow direction is inside the inspection budget, and its
first bytes could start something an inspector understands (a JSON object, an HTTP message, a TLS
handshake, DNS, a coin P2P header) — or its flow is mid-message (`pending`), since a continuation
segment may start anywhere. Budgets live in the flow table, so long-lived flows cost nothing after
their first packets, and a flow whose both budgets are spent is marked done.
"""

from __future__ import annotations

import numba as nb
import numpy as np
import numpy.typing as npt

from detector.signatures.coinp2p import BTC_MAGIC, LEVIN_SIGNATURE
from detector.signatures.ethereum_p2p import DISCV4_HEADER, DISCV4_TYPES
from detector.signatures.http_mining import HTTP_HEADS
from pipelines.batch import ST_OK, U8, Packets
from pipelines.flows import Flows

BUDGET = 8  # payload packets per direction offered to inspection
DNS_PORTS = (53, 5353, 5355)

_HTTP_WORDS = np.array(sorted({int.from_bytes(h[:4], "big") for h in HTTP_HEADS}), dtype=np.uint32)
_BTC_WORDS = np.array([int.from_bytes(m[:4], "big") for m in BTC_MAGIC], dtype=np.uint32)
DISCV4_LAST_TYPE = max(DISCV4_TYPES)
assert sorted(DISCV4_TYPES) == list(range(1, DISCV4_LAST_TYPE + 1))
_LEVIN = np.frombuffer(LEVIN_SIGNATURE, dtype=np.uint8).copy()


@nb.njit(cache=True, inline="always")
def _plausible(buf, off, length, proto, sport, dport, http, btc, levin):  # type: ignore[no-untyped-def]
    b0 = buf[off]
    if b0 == 0x7B or b0 == 0x5B:  # '{' '['
        return True
    if (
        length > 1
        and (b0 == 0x20 or b0 == 0x0A or b0 == 0x0D or b0 == 0x09)
        and buf[off + 1] == 0x7B
    ):
        return True
    for p in DNS_PORTS:
        if sport == p or dport == p:
            return True
    if length >= 2 and b0 == 0x16 and buf[off + 1] == 0x03:
        return True
    if length >= 4:
        word = (
            (np.uint32(buf[off]) << 24)
            | (np.uint32(buf[off + 1]) << 16)
            | (np.uint32(buf[off + 2]) << 8)
            | np.uint32(buf[off + 3])
        )
        for w in http:
            if word == w:
                return True
        for w in btc:
            if word == w:
                return True
    if length >= 8:
        same = True
        for k in range(8):
            if buf[off + k] != levin[k]:
                same = False
                break
        if same:
            return True
    if proto == 6:  # Ethereum RLPx handshake: EIP-8 size prefix + 0x04, or legacy 307 bytes
        if length >= 3 and ((np.int64(b0) << 8) | buf[off + 1]) == length - 2 and buf[off + 2] == 4:
            return True
        if length == 307 and b0 == 4:
            return True
    elif length > DISCV4_HEADER:
        # discv4: hash(32) signature(65, recovery id 0/1) type(1..6) then an RLP list
        return (
            buf[off + 96] <= 1
            and 1 <= buf[off + 97] <= DISCV4_LAST_TYPE
            and buf[off + DISCV4_HEADER] >= 0xC0
        )
    return False


@nb.njit(cache=True)
def _select(pk, slot, direction, flows, buf, budget, http, btc, levin, out):  # type: ignore[no-untyped-def]
    n_out = 0
    for i in range(pk.shape[0]):
        p = pk[i]
        s = slot[i]
        if p.status != ST_OK or p.payload_len == 0 or s < 0:
            continue
        f = flows[s]
        if f.done:
            continue
        if direction[i] == 0:
            seen = f.seen_c2s
            if seen < budget:
                f.seen_c2s = seen + 1
        else:
            seen = f.seen_s2c
            if seen < budget:
                f.seen_s2c = seen + 1
        if seen >= budget:
            if f.seen_c2s >= budget and f.seen_s2c >= budget:
                f.done = 1
            continue
        if f.pending or _plausible(
            buf, p.payload_off, p.payload_len, p.proto, p.sport, p.dport, http, btc, levin
        ):
            out[n_out] = i
            n_out += 1
    return n_out


def select(
    pk: Packets,
    slot: npt.NDArray[np.int64],
    direction: npt.NDArray[np.uint8],
    flows: Flows,
    buf: U8,
) -> npt.NDArray[np.int64]:
    """Indices of candidate packets, in capture order; advances the budgets in `flows`."""
    out = np.empty(len(pk), dtype=np.int64)
    n = _select(pk, slot, direction, flows, buf, BUDGET, _HTTP_WORDS, _BTC_WORDS, _LEVIN, out)
    return out[:n]
