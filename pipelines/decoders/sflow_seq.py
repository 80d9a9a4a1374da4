"""Sequence tracking for sFlow v5: lost datagrams and samples, restarts, drop counters.

Datagram sequence numbers count per (agent, sub-agent) stream, flow-sample sequence numbers per
data source, and a flow sample's `drops` is the source's cumulative count since the agent (or
the sampler) was reset. State lives in `SflowState`: dicts map each key to a row of an int64
array that the compiled loop reads and updates in arrival order; Python work is per distinct
key in a batch, not per datagram or sample.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TypeAlias

import numba as nb
import numpy as np
import numpy.typing as npt

from pipelines.decoders.sflow_kernel import (
    C_DROPS,
    C_LOST_DATAGRAMS,
    C_LOST_SAMPLES,
    C_REORDERED_DATAGRAMS,
    C_REORDERED_SAMPLES,
    C_RESTARTS,
    C_SAMPLER_RESETS,
    C_UNTRACKED,
    DG_PARTIAL,
)

Rows: TypeAlias = npt.NDArray[np.void]
I64: TypeAlias = npt.NDArray[np.int64]
U64: TypeAlias = npt.NDArray[np.uint64]

# Sequence-tracking columns of the state arrays.
ST_SEQ = 0  # last sequence number
ST_AUX = 1  # streams: last uptime (ms); sources: last cumulative drops
ST_SEEN = 2
ST_EPOCH = 3  # streams: restarts so far; sources: the stream epoch of their last sample
ST_COLS = 4

REORDER_WINDOW = 64  # datagrams a late one may lag before a backwards sequence means a restart
SAMPLE_WINDOW = 256  # the same for flow samples of one source
UPTIME_SLACK_MS = 10_000  # uptime going back by more than this is a restart, not reordering
_M32 = 0xFFFFFFFF
_HALF = 0x80000000
_UPTIME_WRAP = 1 << 30  # uptime near 2**32 followed by a small one: the 49.7-day wrap
SMALL = 32  # up to this many rows, per-row dict lookups beat numpy's sorting machinery


@dataclass(slots=True)
class SflowState:
    """Sequence state of every (agent, sub-agent) stream and data source, kept between batches.

    `streams` maps (agent_hi, agent_lo, sub_agent) and `sources` maps (stream row, source type,
    source index) to rows of `stream_rows` / `source_rows` (columns ST_*). Tables are bounded:
    keys beyond `max_streams` / `max_sources` are not tracked (counted as `untracked`), so
    garbage agent addresses cannot grow memory without limit. Plain data: pickle to save it.
    """

    max_streams: int = 4096
    max_sources: int = 1 << 20
    streams: dict[tuple[int, ...], int] = field(default_factory=dict)
    sources: dict[tuple[int, ...], int] = field(default_factory=dict)
    stream_rows: npt.NDArray[np.int64] = field(
        default_factory=lambda: np.zeros((16, ST_COLS), np.int64)
    )
    source_rows: npt.NDArray[np.int64] = field(
        default_factory=lambda: np.zeros((64, ST_COLS), np.int64)
    )


def _group(cols: list[U64]) -> tuple[I64, I64]:
    """(one row index per distinct key, group number of every row), the key being the tuple of
    `cols`. Sorts plain integer columns: numpy sorts structured rows an order slower."""
    if len(cols) == 1:
        _, first, inverse = np.unique(cols[0], return_index=True, return_inverse=True)
        return first, inverse.reshape(-1)
    order = np.lexsort(cols[::-1])
    change = np.zeros(len(order), dtype=bool)
    change[0] = True
    for col in cols:
        ordered = col[order]
        change[1:] |= ordered[1:] != ordered[:-1]
    inverse = np.empty(len(order), dtype=np.int64)
    inverse[order] = np.cumsum(change) - 1
    return order[change], inverse


def _slots(
    table: dict[tuple[int, ...], int],
    cols: list[U64],
    limit: int,
    rows: npt.NDArray[np.int64],
    group: U64 | None = None,
) -> tuple[I64, npt.NDArray[np.int64]]:
    """Map each key (the tuple of `cols`) to its state row; new keys get fresh rows, -1 once
    the table is full. Large batches look up each distinct key once (grouped by `group`, one
    integer column equivalent to the key, when given)."""
    n = len(cols[0])
    inverse: I64 | None = None
    if n > SMALL:
        first, inverse = _group([group] if group is not None else cols)
        keys = zip(*(col[first].tolist() for col in cols), strict=True)
    else:
        keys = zip(*(col.tolist() for col in cols), strict=True)
    slots = []
    for key in keys:
        slot = table.get(key)
        if slot is None:
            if len(table) >= limit:
                slot = -1
            else:
                slot = table[key] = len(table)
                if slot >= len(rows):
                    grown = np.zeros((min(2 * len(rows), limit), ST_COLS), np.int64)
                    grown[: len(rows)] = rows
                    rows = grown
        slots.append(slot)
    out = np.array(slots, dtype=np.int64)
    return (out if inverse is None else out[inverse]), rows


def track_batch(state: SflowState, dgs: Rows, smp: Rows, counts: I64) -> None:
    """Follow one decoded batch's datagram (`dgs`) and flow-sample (`smp`) sequences, adding to
    `counts`. Stream rows are never reused, so a source's key can name its stream by row."""
    valid = dgs["status"] <= DG_PARTIAL
    dg_slot = np.full(len(dgs), -2, dtype=np.int64)
    cols = [dgs[name][valid].astype(np.uint64) for name in ("agent_hi", "agent_lo", "sub_agent")]
    dg_slot[valid], state.stream_rows = _slots(
        state.streams, cols, state.max_streams, state.stream_rows
    )
    stream = dg_slot[smp["datagram"]]
    tracked = stream >= 0
    s_slot = np.where(stream == -1, -1, -2)
    cols = [stream[tracked].astype(np.uint64), smp["source_type"][tracked].astype(np.uint64),
            smp["source_index"][tracked].astype(np.uint64)]  # fmt: skip
    packed = None
    if len(cols[0]) > SMALL and int(cols[1].max()) < 256 and len(state.streams) < (1 << 24):
        packed = (cols[0] << np.uint64(40)) | (cols[1] << np.uint64(32)) | cols[2]
    s_slot[tracked], state.source_rows = _slots(
        state.sources, cols, state.max_sources, state.source_rows, packed
    )
    track(
        dg_slot,
        dgs["seq"].astype(np.int64),
        dgs["uptime"].astype(np.int64),
        smp["datagram"],
        s_slot,
        smp["seq"].astype(np.int64),
        smp["drops"].astype(np.int64),
        state.stream_rows,
        state.source_rows,
        counts,
    )


@nb.njit(cache=True)
def _forward(last, seq):  # type: ignore[no-untyped-def]
    """Sequence distance last → seq modulo 2**32: (forward steps, backward steps)."""
    fwd = (seq - last) & _M32
    if fwd >= _HALF:
        return 0, (_M32 + 1) - fwd
    return fwd, 0


@nb.njit(cache=True)
def track(  # type: ignore[no-untyped-def]
    dg_slot, dg_seq, dg_up, s_dg, s_slot, s_seq, s_drops, streams, sources, counts
):
    """Follow datagram sequences per stream (agent, sub-agent) and flow-sample sequences and
    cumulative drop counters per source, in arrival order, updating the state rows in place.

    Slot -1: not tracked because the state table is full (counted); -2: a datagram without a
    usable header (nothing to track). A restart (uptime
    back by more than UPTIME_SLACK_MS, or the sequence back by more than REORDER_WINDOW)
    starts a new epoch: the stream's sources start over. A late or repeated datagram counts as
    reordered and its samples are not tracked (they would look like resets).
    """
    j = 0
    n_s = s_dg.shape[0]
    for i in range(dg_slot.shape[0]):
        d = dg_slot[i]
        late = False
        if d >= 0:
            seq = dg_seq[i]
            up = dg_up[i]
            if streams[d, ST_SEEN] == 0:
                streams[d, ST_SEEN] = 1
                streams[d, ST_SEQ] = seq
                streams[d, ST_AUX] = up
            else:
                last_up = streams[d, ST_AUX]
                up_back = 0
                if up < last_up and not (last_up > _M32 - _UPTIME_WRAP and up < _UPTIME_WRAP):
                    up_back = last_up - up
                fwd, back = _forward(streams[d, ST_SEQ], seq)
                if up_back > UPTIME_SLACK_MS or back > REORDER_WINDOW:
                    counts[C_RESTARTS] += 1
                    streams[d, ST_EPOCH] += 1
                    streams[d, ST_SEQ] = seq
                    streams[d, ST_AUX] = up
                elif fwd == 0:
                    counts[C_REORDERED_DATAGRAMS] += 1
                    late = True
                else:
                    counts[C_LOST_DATAGRAMS] += fwd - 1
                    streams[d, ST_SEQ] = seq
                    streams[d, ST_AUX] = up
        elif d == -1:
            counts[C_UNTRACKED] += 1
        while j < n_s and s_dg[j] == i:
            k = s_slot[j]
            if d < 0 or k < 0:
                counts[C_UNTRACKED] += 1
            elif late:
                counts[C_REORDERED_SAMPLES] += 1
            else:
                seq = s_seq[j]
                drops = s_drops[j]
                epoch = streams[d, ST_EPOCH]
                if sources[k, ST_SEEN] == 0:
                    sources[k, ST_SEEN] = 1  # first sight: a baseline, nothing to count
                    sources[k, ST_SEQ] = seq
                    sources[k, ST_AUX] = drops
                    sources[k, ST_EPOCH] = epoch
                elif sources[k, ST_EPOCH] != epoch:  # agent restarted: counters start over
                    counts[C_DROPS] += drops
                    sources[k, ST_SEQ] = seq
                    sources[k, ST_AUX] = drops
                    sources[k, ST_EPOCH] = epoch
                else:
                    fwd, back = _forward(sources[k, ST_SEQ], seq)
                    if back > SAMPLE_WINDOW:  # the sampler alone was reset
                        counts[C_SAMPLER_RESETS] += 1
                        counts[C_DROPS] += drops
                        sources[k, ST_SEQ] = seq
                        sources[k, ST_AUX] = drops
                    elif fwd == 0:
                        counts[C_REORDERED_SAMPLES] += 1
                    else:
                        counts[C_LOST_SAMPLES] += fwd - 1
                        last = sources[k, ST_AUX]
                        counts[C_DROPS] += drops - last if drops >= last else drops
                        sources[k, ST_SEQ] = seq
                        sources[k, ST_AUX] = drops
            j += 1
