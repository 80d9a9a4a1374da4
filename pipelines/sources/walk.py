"""Compiled record walkers for pcap and pcapng chunks.

Finding where each packet starts is inherently sequential (every record header says how long the
record is), so it is the one loop we compile with numba instead of vectorising. The walkers only
locate records; decoding happens later on whole batches.

Return codes tell the Python side what stopped the walk.
"""

from __future__ import annotations

import numba as nb
import numpy as np

WALK_NEED_DATA = 0  # the next record is not complete in the buffer
WALK_FULL = 1  # the output arrays are full
WALK_CORRUPT = 2  # a record header is impossible (length out of range)
WALK_BLOCK = 3  # pcapng: a non-packet block the Python side must read (SHB, IDB, ...)

MAX_RECORD = 1 << 22  # 4 MiB: larger captured lengths mean a corrupt file


@nb.njit(cache=True, inline="always")
def _u32(buf, i, big):  # type: ignore[no-untyped-def]
    if big:
        return (
            (np.int64(buf[i]) << 24)
            | (np.int64(buf[i + 1]) << 16)
            | (np.int64(buf[i + 2]) << 8)
            | np.int64(buf[i + 3])
        )
    return (
        (np.int64(buf[i + 3]) << 24)
        | (np.int64(buf[i + 2]) << 16)
        | (np.int64(buf[i + 1]) << 8)
        | np.int64(buf[i])
    )


@nb.njit(cache=True)
def walk_pcap(  # type: ignore[no-untyped-def]
    buf, end, pos, big, frac_scale, linktype, snap_max, out_off, out_cap, out_wire, out_ts, out_lt
):
    """Locate classic pcap records in buf[pos:end]; returns (count, new_pos, code)."""
    n = 0
    cap_out = out_off.shape[0]
    while True:
        if n >= cap_out:
            return n, pos, WALK_FULL
        if pos + 16 > end:
            return n, pos, WALK_NEED_DATA
        ts_sec = _u32(buf, pos, big)
        ts_frac = _u32(buf, pos + 4, big)
        caplen = _u32(buf, pos + 8, big)
        wirelen = _u32(buf, pos + 12, big)
        if caplen > snap_max:
            return n, pos, WALK_CORRUPT
        if pos + 16 + caplen > end:
            return n, pos, WALK_NEED_DATA
        out_off[n] = pos + 16
        out_cap[n] = caplen
        out_wire[n] = wirelen if wirelen >= caplen else caplen
        out_ts[n] = ts_sec + ts_frac * frac_scale
        out_lt[n] = linktype
        n += 1
        pos += 16 + caplen


@nb.njit(cache=True)
def walk_pcapng(  # type: ignore[no-untyped-def]
    buf,
    end,
    pos,
    big,
    if_linktype,
    if_scale,
    if_snaplen,
    n_if,
    out_off,
    out_cap,
    out_wire,
    out_ts,
    out_lt,
):
    """Locate packet blocks (EPB, SPB, OPB) in buf[pos:end]; stop at any other block."""
    n = 0
    cap_out = out_off.shape[0]
    while True:
        if n >= cap_out:
            return n, pos, WALK_FULL
        if pos + 12 > end:
            return n, pos, WALK_NEED_DATA
        btype = _u32(buf, pos, big)
        blen = _u32(buf, pos + 4, big)
        if blen < 12 or blen % 4 != 0 or blen > MAX_RECORD:
            return n, pos, WALK_CORRUPT
        if btype != 6 and btype != 3 and btype != 2:
            return n, pos, WALK_BLOCK
        if pos + blen > end:
            return n, pos, WALK_NEED_DATA
        if btype == 6 or btype == 2:  # enhanced / obsolete packet block
            if blen < 32:
                return n, pos, WALK_CORRUPT
            if btype == 6:
                ifid = _u32(buf, pos + 8, big)
            elif big:
                ifid = (np.int64(buf[pos + 8]) << 8) | np.int64(buf[pos + 9])
            else:
                ifid = (np.int64(buf[pos + 9]) << 8) | np.int64(buf[pos + 8])
            ts_hi = _u32(buf, pos + 12, big)
            ts_lo = _u32(buf, pos + 16, big)
            caplen = _u32(buf, pos + 20, big)
            wirelen = _u32(buf, pos + 24, big)
            if 28 + caplen > blen:
                return n, pos, WALK_CORRUPT
            data = pos + 28
        else:  # simple packet block: interface 0, no timestamp
            ifid = np.int64(0)
            ts_hi = np.int64(0)
            ts_lo = np.int64(0)
            wirelen = _u32(buf, pos + 8, big)
            caplen = blen - 16
            if wirelen < caplen:
                caplen = wirelen
            data = pos + 12
        if ifid < n_if:
            ticks = (np.uint64(ts_hi) << np.uint64(32)) | np.uint64(ts_lo)
            out_ts[n] = np.float64(ticks) * if_scale[ifid]
            out_lt[n] = if_linktype[ifid]
            if btype == 3 and if_snaplen[ifid] > 0 and caplen > if_snaplen[ifid]:
                caplen = if_snaplen[ifid]
        else:
            out_ts[n] = 0.0
            out_lt[n] = 0xFFFF  # no such interface: decoded as an unsupported link
        out_off[n] = data
        out_cap[n] = caplen
        out_wire[n] = wirelen if wirelen >= caplen else caplen
        n += 1
        pos += blen
