"""Bidirectional flow table over packet batches (numpy hash map + numpy columns).

Each TCP/UDP 5-tuple maps to a slot in columnar arrays; a batch update is one compiled pass that
assigns every packet its slot and direction and bumps the counters. The client is the connection
initiator when the handshake is seen (SYN without ACK, or the receiver of a SYN/ACK); otherwise a
port heuristic: the side with an ephemeral port (>= 32768), else the higher port, else whoever
spoke first. Flows leave the table when idle or closed (FIN/RST) and are handed back as records,
so memory depends on concurrent flows, never on capture size. Keys map to slots through
`pipelines.flowkeys` (open addressing in numpy arrays, hashed under a per-table random seed;
nothing but probe order depends on it).
"""

from __future__ import annotations

import numba as nb
import numpy as np
import numpy.typing as npt

from pipelines.batch import ST_OK, Packets
from pipelines.flowkeys import FlowKeys, find, fits_nb, insert, remove

FLOW_DTYPE = np.dtype(
    [
        ("uid", np.uint64),  # 0 = free slot
        ("c_hi", np.uint64),
        ("c_lo", np.uint64),
        ("s_hi", np.uint64),
        ("s_lo", np.uint64),
        ("cport", np.uint16),
        ("sport", np.uint16),
        ("proto", np.uint8),
        ("family", np.uint8),
        ("client_by_syn", np.uint8),
        ("closed", np.uint8),  # bit 0 FIN from client, bit 1 FIN from server, bit 2 RST
        ("flags_c2s", np.uint8),
        ("flags_s2c", np.uint8),
        ("first_ts", np.float64),
        ("last_ts", np.float64),
        ("pkts_c2s", np.uint64),
        ("pkts_s2c", np.uint64),
        ("bytes_c2s", np.uint64),
        ("bytes_s2c", np.uint64),
        ("data_c2s", np.uint32),  # packets with payload, per direction
        ("data_s2c", np.uint32),
        ("seen_c2s", np.uint16),  # payload packets offered to inspection, per direction
        ("seen_s2c", np.uint16),
        ("done", np.uint8),  # 1 = inspection finished (matched, excluded or budget spent)
        ("pending", np.uint8),  # 1 = an inspector waits for the rest of a message
        ("state", np.uint8),  # engine marks: HELD (1) and KEPT bits (detector.engine)
    ],
    align=True,
)
Flows = npt.NDArray[np.void]

TH_FIN, TH_SYN, TH_RST, TH_ACK = 0x01, 0x02, 0x04, 0x10


@nb.njit(cache=True, inline="always")
def _is_client_port(p: int, q: int) -> bool:
    """Port heuristic: does the side with port p look like the client against port q?"""
    pe = p >= 32768
    qe = q >= 32768
    if pe != qe:
        return pe
    return p > q


@nb.njit(cache=True)
def update_flows(  # type: ignore[no-untyped-def]
    index, keys, hk, cols, free, free_top, next_uid, hwm, pk, ts, start,
    slot_out, dir_out, new_out, ended, n_ended,
):  # fmt: skip
    """Assign packets pk[start:] to flows; stops early when free slots, room in the key index
    or `ended` run out. `hwm` bounds the slots ever used.

    Returns (next index to process, free_top, next_uid, hwm, n_ended).
    """
    n = pk.shape[0]
    i = start
    while i < n:
        p = pk[i]
        if p.status != ST_OK:
            slot_out[i] = -1
            i += 1
            continue
        src_first = (p.src_hi, p.src_lo, p.sport) < (p.dst_hi, p.dst_lo, p.dport)
        if src_first:
            a_hi, a_lo, a_p, b_hi, b_lo, b_p = (
                p.src_hi,
                p.src_lo,
                p.sport,
                p.dst_hi,
                p.dst_lo,
                p.dport,
            )
        else:
            a_hi, a_lo, a_p, b_hi, b_lo, b_p = (
                p.dst_hi,
                p.dst_lo,
                p.dport,
                p.src_hi,
                p.src_lo,
                p.sport,
            )
        meta = (
            (np.uint64(a_p) << np.uint64(24))
            | (np.uint64(b_p) << np.uint64(8))
            | np.uint64(p.proto)
        )
        flags = p.tcp_flags if p.proto == 6 else 0
        syn_only = (flags & TH_SYN) != 0 and (flags & TH_ACK) == 0
        s = find(index, keys, hk, a_hi, a_lo, b_hi, b_lo, meta)
        if s >= 0 and cols[s].closed != 0 and syn_only and cols[s].pkts_c2s + cols[s].pkts_s2c > 1:
            # a new connection on a closed 5-tuple (port reuse): end the old flow first
            if n_ended >= ended.shape[0]:
                return i, free_top, next_uid, hwm, n_ended
            ended[n_ended] = cols[s]
            n_ended += 1
            free[free_top] = s
            free_top += 1
            cols[s].uid = 0
            remove(index, keys, hk, s)
            s = -1
        if s < 0:
            if free_top == 0 or not fits_nb(cols.shape[0] - free_top + 1, index.shape[0]):
                return i, free_top, next_uid, hwm, n_ended
            free_top -= 1
            s = free[free_top]
            hwm = max(hwm, s + 1)
            insert(index, keys, hk, a_hi, a_lo, b_hi, b_lo, meta, s)
            f = cols[s]
            f.uid = next_uid
            next_uid += 1
            if p.proto == 6 and (flags & TH_SYN) != 0:
                src_is_client = (flags & TH_ACK) == 0
                f.client_by_syn = 1
            else:
                src_is_client = True
                if p.sport != p.dport:
                    src_is_client = _is_client_port(p.sport, p.dport)
                f.client_by_syn = 0
            if src_is_client:
                f.c_hi, f.c_lo, f.cport = p.src_hi, p.src_lo, p.sport
                f.s_hi, f.s_lo, f.sport = p.dst_hi, p.dst_lo, p.dport
            else:
                f.c_hi, f.c_lo, f.cport = p.dst_hi, p.dst_lo, p.dport
                f.s_hi, f.s_lo, f.sport = p.src_hi, p.src_lo, p.sport
            f.proto = p.proto
            f.family = p.family
            f.closed = 0
            f.flags_c2s = 0
            f.flags_s2c = 0
            f.first_ts = ts[i]
            f.last_ts = ts[i]
            f.pkts_c2s = 0
            f.pkts_s2c = 0
            f.bytes_c2s = 0
            f.bytes_s2c = 0
            f.data_c2s = 0
            f.data_s2c = 0
            f.seen_c2s = 0
            f.seen_s2c = 0
            f.done = 0
            f.pending = 0
            f.state = 0
            new_out[i] = 1
        else:
            new_out[i] = 0
        f = cols[s]
        if ts[i] > f.last_ts:
            f.last_ts = ts[i]
        from_client = p.src_lo == f.c_lo and p.src_hi == f.c_hi and p.sport == f.cport
        if from_client:
            f.pkts_c2s += 1
            f.bytes_c2s += p.ip_len
            f.flags_c2s |= flags
            if p.payload_len > 0:
                f.data_c2s += 1
            if flags & TH_FIN:
                f.closed |= 1
        else:
            f.pkts_s2c += 1
            f.bytes_s2c += p.ip_len
            f.flags_s2c |= flags
            if p.payload_len > 0:
                f.data_s2c += 1
            if flags & TH_FIN:
                f.closed |= 2
        if flags & TH_RST:
            f.closed |= 4
        slot_out[i] = s
        dir_out[i] = 0 if from_client else 1
        i += 1
    return i, free_top, next_uid, hwm, n_ended


@nb.njit(cache=True)
def _take(index, keys, hk, cols, slots, out):  # type: ignore[no-untyped-def]
    """Copy the flows in `slots` to `out`, unmap them and clear their uids (numpy's fancy
    indexing copies a padded record field by field, ~150 ns a row)."""
    for k in range(slots.shape[0]):
        s = slots[k]
        out[k] = cols[s]
        remove(index, keys, hk, s)
        cols[s].uid = 0


@nb.njit(cache=True)
def _idle_slots(cols, hwm, now, idle_timeout, closed_timeout):  # type: ignore[no-untyped-def]
    """Slots below `hwm` of the flows idle past their timeout at `now`, in slot order: one pass
    (numpy needed five full-table temporaries per sweep, and a scan sweeps per batch)."""
    out = np.empty(hwm, dtype=np.intp)
    n = 0
    for i in range(hwm):
        c = cols[i]
        if c.uid == 0:
            continue
        idle = now - c.last_ts
        if idle > idle_timeout or (c.closed != 0 and idle > closed_timeout):
            out[n] = i
            n += 1
    return out[:n]


class FlowTable:
    """Columnar flow table; `update` tags a batch, `expire`/`drain` hand back ended flows.

    `seed` keys the flow key hash (`FlowKeys`): random unless given; results never depend on it.
    """

    def __init__(
        self,
        capacity: int = 1 << 16,
        idle_timeout: float = 300.0,
        closed_timeout: float = 30.0,
        seed: int | None = None,
    ) -> None:
        self.keys = FlowKeys(capacity, seed=seed)
        self.cols = np.zeros(capacity, dtype=FLOW_DTYPE)
        self.free = np.arange(capacity - 1, -1, -1, dtype=np.int64)
        self.free_top = capacity
        self.next_uid = 1
        self.hwm = 0  # slots >= hwm were never used (the free list hands out low slots first)
        self.idle_timeout = idle_timeout
        self.closed_timeout = closed_timeout
        self.sweep_every = min(closed_timeout, idle_timeout) / 6
        self._last_sweep = -np.inf

    def __len__(self) -> int:
        return len(self.cols) - self.free_top

    def _grow(self) -> None:
        old = len(self.cols)
        cols = np.zeros(old * 2, dtype=FLOW_DTYPE)
        cols[:old] = self.cols
        self.cols = cols
        free = np.empty(old * 2, dtype=np.int64)
        free[: self.free_top] = self.free[: self.free_top]
        free[self.free_top : self.free_top + old] = np.arange(old * 2 - 1, old - 1, -1)
        self.free = free
        self.free_top += old
        self.keys.grow_slots(old * 2)

    def update(
        self, pk: Packets, ts: npt.NDArray[np.float64]
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.uint8], npt.NDArray[np.uint8], Flows]:
        """Tag packets with (slot, direction 0=c2s/1=s2c, is-new-flow); return port-reused flows."""
        n = len(pk)
        slot = np.full(n, -1, dtype=np.int64)
        direction = np.zeros(n, dtype=np.uint8)
        new = np.zeros(n, dtype=np.uint8)
        ended = np.zeros(max(16, n // 64), dtype=FLOW_DTYPE)
        n_ended = 0
        ended_parts = []
        i = 0
        while i < n:
            i, self.free_top, self.next_uid, self.hwm, n_ended = update_flows(
                self.keys.index, self.keys.keys, self.keys.hk, self.cols, self.free, self.free_top,
                self.next_uid, self.hwm, pk, ts, i, slot, direction, new, ended, n_ended,
            )  # fmt: skip
            if i < n:
                if self.free_top == 0:
                    self._grow()
                self.keys.reserve(len(self) + 1)
                if n_ended >= len(ended):
                    ended_parts.append(ended[:n_ended].copy())
                    n_ended = 0
        ended_parts.append(ended[:n_ended])
        return slot, direction, new, np.concatenate(ended_parts)

    def expire(self, now: float) -> Flows:
        """Remove and return flows idle past their timeout at packet time `now`.

        The sweep reads the used part of the table, so it runs only every `sweep_every` seconds
        of packet time (or when time goes backwards, as in concatenated captures); timeouts are
        therefore honoured within that granularity.
        """
        if 0 <= now - self._last_sweep < self.sweep_every:
            return np.zeros(0, dtype=FLOW_DTYPE)
        self._last_sweep = now
        gone = _idle_slots(self.cols, self.hwm, now, self.idle_timeout, self.closed_timeout)
        return self._remove(gone)

    def drain(self) -> Flows:
        """Remove and return every flow (end of input)."""
        return self._remove(np.flatnonzero(self.cols["uid"][: self.hwm] != 0))

    def _remove(self, slots: npt.NDArray[np.intp]) -> Flows:
        if not len(slots):
            return np.zeros(0, dtype=FLOW_DTYPE)
        out = np.zeros(len(slots), dtype=FLOW_DTYPE)
        _take(self.keys.index, self.keys.keys, self.keys.hk, self.cols, slots, out)
        self.free[self.free_top : self.free_top + len(slots)] = slots
        self.free_top += len(slots)
        return out
