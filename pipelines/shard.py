"""Which worker sees which packet: shard by the subscriber side of the flow, not by 5-tuple.

Detection keeps memories per worker (the pair cache, per-flow inspection state), and the ones
that matter tie the flows of one subscriber together: its DNS lookups, its pool connections, its
later TLS flows to the same pool. So every packet goes to the shard of its *subscriber*
address, and all flows of one subscriber meet in one worker.

Which side is the subscriber is a hook (`SideFn`: packet columns in, "the source is the
subscriber" per packet out). Without configuration it is the endpoint with the higher port (the
ephemeral side; equal ports → the lower address), which is the same for every packet of a flow in
both directions. A later "internal networks" setting plugs in here as another `SideFn` (the side
inside the operator's prefixes); it only has to be a function of the packet's endpoints so that
both directions of a flow agree.
"""

from __future__ import annotations

from collections.abc import Callable

import numba as nb
import numpy as np
import numpy.typing as npt

from pipelines.batch import ST_OK, Packets

Shards = npt.NDArray[np.int16]
SideFn = Callable[[Packets], npt.NDArray[np.bool_]]
"""Per packet: True when the *source* endpoint is the subscriber. Must be symmetric: both
directions of one flow must pick the same endpoint."""
Sharder = Callable[[Packets, int], Shards]
"""Per packet: the shard in [0, n) that processes it, or -1 (not a TCP/UDP packet: no flow)."""

MAX_SHARDS = 1 << 14


@nb.njit(cache=True)
def _higher_port_side(pk, out):  # type: ignore[no-untyped-def]
    for i in range(pk.shape[0]):
        p = pk[i]
        if p.sport != p.dport:
            out[i] = p.sport > p.dport
        else:
            out[i] = (p.src_hi, p.src_lo) <= (p.dst_hi, p.dst_lo)


def higher_port_side(pk: Packets) -> npt.NDArray[np.bool_]:
    """Default `SideFn`: the higher-port endpoint is the subscriber (equal ports: lower address)."""
    out = np.empty(len(pk), dtype=np.bool_)
    if len(pk):
        _higher_port_side(pk, out)
    return out


@nb.njit(cache=True, inline="always")
def _mix64(x):  # type: ignore[no-untyped-def]
    """splitmix64 finaliser: every input bit moves about half of the output bits."""
    x ^= x >> np.uint64(30)
    x *= np.uint64(0xBF58476D1CE4E5B9)
    x ^= x >> np.uint64(27)
    x *= np.uint64(0x94D049BB133111EB)
    x ^= x >> np.uint64(31)
    return x


@nb.njit(cache=True)
def _shard(pk, src_side, n, out):  # type: ignore[no-untyped-def]
    for i in range(pk.shape[0]):
        p = pk[i]
        if p.status != ST_OK:
            out[i] = -1
            continue
        if src_side[i]:
            hi, lo = p.src_hi, p.src_lo
        else:
            hi, lo = p.dst_hi, p.dst_lo
        h = _mix64(_mix64(hi) ^ lo)
        out[i] = h % np.uint64(n)


def address_shard(hi: int, lo: int, n: int) -> int:
    """The shard of one subscriber address (the same hash as `shard_packets`, for tools/tests)."""
    m = (1 << 64) - 1

    def mix(x: int) -> int:
        x ^= x >> 30
        x = (x * 0xBF58476D1CE4E5B9) & m
        x ^= x >> 27
        x = (x * 0x94D049BB133111EB) & m
        return x ^ (x >> 31)

    return mix(mix(hi) ^ lo) % n


def shard_packets(pk: Packets, n: int, side: SideFn = higher_port_side) -> Shards:
    """Shard of every packet: a hash of its subscriber address modulo `n`; -1 when not OK."""
    if not 1 <= n <= MAX_SHARDS:
        raise ValueError(f"shard count must be in 1..{MAX_SHARDS}, not {n}")
    out = np.empty(len(pk), dtype=np.int16)
    if len(pk):
        _shard(pk, side(pk), n, out)
    return out
