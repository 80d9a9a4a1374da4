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

from detector.extract import TLS_CAP
from detector.screen import (
    AGENT_TABLE,
    CLEAN,
    MAYBE,
    NAME_SCRATCH,
    dns_screen,
    http_screen,
    tls_screen,
)
from detector.signatures.coinp2p import BTC_MAGIC, LEVIN_SIGNATURE
from detector.signatures.ethereum_p2p import DISCV4_HEADER, DISCV4_TYPES
from detector.signatures.http_mining import HTTP_HEADS
from pipelines.batch import ST_OK, U8, Packets
from pipelines.flows import Flows

BUDGET = 8  # payload packets per direction offered to inspection
STREAM_CAP = 4096  # bytes kept per direction: the first few JSON-RPC messages
DNS_PORTS = (53, 5353, 5355)

_HTTP_WORDS = np.array(sorted({int.from_bytes(h[:4], "big") for h in HTTP_HEADS}), dtype=np.uint32)
_BTC_WORDS = np.array([int.from_bytes(m[:4], "big") for m in BTC_MAGIC], dtype=np.uint32)
DISCV4_LAST_TYPE = max(DISCV4_TYPES)
assert sorted(DISCV4_TYPES) == list(range(1, DISCV4_LAST_TYPE + 1))
_LEVIN = np.frombuffer(LEVIN_SIGNATURE, dtype=np.uint8).copy()
_NO_NAMES = np.zeros(0, dtype=np.uint64)
# what the screen did with a packet: left it to Python, finished it, finished its direction,
# or finished the whole flow's inspection
_KEEP, _FINISHED, _ENDS_DIRECTION, _ENDS_FLOW = 0, 1, 2, 3


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
def _screened(  # type: ignore[no-untyped-def]
    buf, p, first, from_client, table, name, tls_cap, counts
):
    """What the compiled screen (`detector.screen`) does with a plausible payload; `first`: the
    first payload of its direction. Counts what it finishes: counts[0] DNS questions,
    counts[1] server names, counts[2] HTTP messages."""
    off, length = p.payload_off, p.payload_len
    for port in DNS_PORTS:
        if p.sport == port or p.dport == port:
            if p.proto == 17 and dns_screen(buf, off, length, table, name) == CLEAN:
                counts[0] += 1
                return _FINISHED
            return _KEEP  # DNS over TCP and the unusual message: Python
    if not first:
        return _KEEP
    if from_client and length >= 2 and buf[off] == 0x16 and buf[off + 1] == 0x03:
        verdict = tls_screen(buf, off, min(length, tls_cap), table, name)
        if verdict == CLEAN:
            counts[1] += 1
        return _KEEP if verdict == MAYBE else _ENDS_FLOW
    head = buf[off : off + min(length, STREAM_CAP)]
    if p.proto == 6 and http_screen(head, AGENT_TABLE) == CLEAN:
        counts[2] += 1
        return _ENDS_DIRECTION
    return _KEEP


@nb.njit(cache=True)
def _select(  # type: ignore[no-untyped-def]
    pk, slot, direction, flows, buf, budget, http, btc, levin, table, screen, tls_cap, out, counts
):
    n_out = 0
    name = np.empty(NAME_SCRATCH, dtype=np.uint8)
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
        if f.pending:
            out[n_out] = i
            n_out += 1
        elif _plausible(
            buf, p.payload_off, p.payload_len, p.proto, p.sport, p.dport, http, btc, levin
        ):
            from_client = direction[i] == 0
            verdict = (
                _screened(buf, p, seen == 0, from_client, table, name, tls_cap, counts)
                if screen
                else _KEEP
            )
            if verdict == _ENDS_FLOW:
                f.done = 1
            elif verdict == _ENDS_DIRECTION:  # as the Python path spends a finished budget
                if from_client:
                    f.seen_c2s = budget
                else:
                    f.seen_s2c = budget
            if verdict != _KEEP:
                continue
            out[n_out] = i
            n_out += 1
    return n_out


def select(
    pk: Packets,
    slot: npt.NDArray[np.int64],
    direction: npt.NDArray[np.uint8],
    flows: Flows,
    buf: U8,
    table: npt.NDArray[np.uint64] | None = None,
    counts: npt.NDArray[np.int64] | None = None,
) -> npt.NDArray[np.int64]:
    """Indices of candidate packets, in capture order; advances the budgets in `flows`.

    With a name `table` (`Matcher.name_table`), DNS questions and ClientHellos whose names
    cannot be listed, and HTTP messages with nothing of mining, are finished here instead
    (`detector.screen`; a ClientHello also ends its flow's inspection and an HTTP message its
    direction's, as the Python path would) and counted into `counts` ([DNS, server
    names, HTTP messages]). Leave it out where packets are samples rather than a stream.
    """
    out = np.empty(len(pk), dtype=np.int64)
    screen = table is not None
    if table is None:
        table = _NO_NAMES
    if counts is None:
        counts = np.zeros(3, dtype=np.int64)
    n = _select(pk, slot, direction, flows, buf, BUDGET, _HTTP_WORDS, _BTC_WORDS, _LEVIN, table,
                screen, TLS_CAP, out, counts)  # fmt: skip
    return out[:n]
