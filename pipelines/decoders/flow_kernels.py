"""Compiled loops of the flow-export decoders (numba): set walking, record extraction,
sequence tracking.

They run over a whole batch of datagrams (one byte buffer plus offsets), so the per-datagram
cost is a few array reads, not a Python call. Nothing here raises on bad input: a length that
points past the end stops the walk of that datagram and flags it, and everything decoded before
the damage is kept.
"""

from __future__ import annotations

import numba as nb
import numpy as np

from pipelines.decoders.bigendian import be16 as _be16
from pipelines.decoders.bigendian import be32 as _be32

NTP_EPOCH = 2208988800  # seconds from 1900-01-01 (NTP era 0) to 1970-01-01
UPTIME_SLACK_MS = 10_000  # sysUptime this much below the last one = exporter restart
FUTURE_SLACK_MS = 10_000  # a switched time at most this far past sysUptime is clock jitter

# Datagram status written by scan_sets (d_bad); extraction may raise 0 to BAD_BODY.
OK, BAD_BODY, BAD_HEADER = 0, 1, 2


@nb.njit(cache=True, inline="always")
def uptime_offset(switched, uptime):  # type: ignore[no-untyped-def]
    """Seconds from the header's sysUptime to a switched time (both ms, 32-bit counters).

    A flow cannot start or end in the future: a switched time far past sysUptime was taken
    before the counter wrapped (49.7 days), so it lies 2**32 ms earlier; only a few ms past
    is exporter clock jitter and kept as it is.
    """
    before = (uptime - switched) & 0xFFFFFFFF
    if before > 0x100000000 - FUTURE_SLACK_MS:
        before -= 0x100000000
    return -np.float64(before) / 1000.0


@nb.njit(cache=True)
def sampling_rate(interval, random_interval, pkt_interval, pkt_space, size, population, prob):  # type: ignore[no-untyped-def]
    """1-in-N from whichever sampling IEs are present (0 = none).

    samplingPacketInterval/Space (305/306) select `interval` packets then skip `space`, so one
    packet in (interval + space) / interval is kept; n-out-of-N (309/310) keeps size of
    population; probabilistic (311) keeps a fraction p. Non-integer ratios round to nearest.
    """
    r = 0.0
    if interval > 0:
        r = interval
    elif random_interval > 0:
        r = random_interval
    elif pkt_interval > 0:
        r = (pkt_interval + pkt_space) / pkt_interval
    elif size > 0 and population >= size:
        r = population / size
    elif prob > 0.0 and prob <= 1.0:
        r = 1.0 / prob
    if r <= 0.0:
        return np.int64(0)
    if r >= 4294967295.0:
        return np.int64(4294967295)
    return max(np.int64(1), np.int64(r + 0.5))


@nb.njit(cache=True)
def scan_sets(  # type: ignore[no-untyped-def]
    buf, d_off, d_len, d_ver, d_dom, d_seq, d_up, d_secs, d_bad, s_dg, s_id, s_off, s_len
):
    """Read v9/IPFIX headers and locate every set; returns the number of sets found."""
    ns = 0
    cap = s_dg.shape[0]
    for i in range(d_off.shape[0]):
        off = d_off[i]
        end = off + d_len[i]
        d_bad[i] = BAD_HEADER
        d_ver[i] = 0
        d_up[i] = -1
        if d_len[i] < 16:
            continue
        ver = _be16(buf, off)
        if ver == 9:
            if d_len[i] < 20:
                continue
            d_up[i] = _be32(buf, off + 4)
            d_secs[i] = _be32(buf, off + 8)
            d_seq[i] = _be32(buf, off + 12)
            d_dom[i] = _be32(buf, off + 16)
            p = off + 20
            d_bad[i] = OK
        elif ver == 10:
            mlen = _be16(buf, off + 2)
            d_secs[i] = _be32(buf, off + 4)
            d_seq[i] = _be32(buf, off + 8)
            d_dom[i] = _be32(buf, off + 12)
            p = off + 16
            d_bad[i] = OK
            if mlen != d_len[i]:  # a truncated datagram or trailing bytes: decode the overlap
                d_bad[i] = BAD_BODY
                if mlen < end - off:
                    end = off + mlen
        else:
            continue
        d_ver[i] = ver
        while p + 4 <= end:
            slen = _be16(buf, p + 2)
            if slen < 4 or p + slen > end:
                d_bad[i] = BAD_BODY
                break
            if ns < cap:
                s_dg[ns] = i
                s_id[ns] = _be16(buf, p)
                s_off[ns] = p
                s_len[ns] = slen
                ns += 1
            p += slen
    return ns


@nb.njit(cache=True)
def track_sequences(  # type: ignore[no-untyped-def]
    d_slot,
    d_seq,
    d_inc,
    d_up,
    gap_limit,
    reorder_limit,
    expected,
    uptime,
    gaps,
    lost,
    reordered,
    restarts,
):
    """Follow each stream's sequence number in arrival order.

    d_inc is how far this datagram moves the sequence (-1 = unknown, e.g. an IPFIX message with
    sets we could not count: the next datagram resynchronises). A forward jump is a gap of lost
    flows/packets/records; a sequence that goes far backwards or back to 0, a jump beyond
    gap_limit, or sysUptime going backwards (not by a 32-bit wrap) is an exporter restart; a
    small step back is a reordered datagram, which refunds what its gap counted as lost.
    """
    for i in range(d_slot.shape[0]):
        sl = d_slot[i]
        if sl < 0:
            continue
        seq = d_seq[i]
        inc = d_inc[i]
        up = d_up[i]
        last = uptime[sl]
        restart = False
        wrapped = last > 0xC0000000 and up < 0x40000000  # 32-bit ms uptime wraps in 49.7 days
        if up >= 0 and last >= 0 and up + UPTIME_SLACK_MS < last and not wrapped:
            restart = True
        exp = expected[sl]
        if exp >= 0 and not restart:
            diff = (seq - exp) & 0xFFFFFFFF
            if diff != 0 and diff < 0x80000000:
                if diff > gap_limit:
                    restart = True
                else:
                    gaps[sl] += 1
                    lost[sl] += diff
            elif diff != 0:
                back = 0x100000000 - diff
                if seq == 0 or back > reorder_limit:
                    restart = True
                else:
                    reordered[sl] += 1
                    if inc > 0:
                        lost[sl] -= min(inc, lost[sl])
                    continue
        if restart:
            restarts[sl] += 1
        expected[sl] = (seq + inc) & 0xFFFFFFFF if inc >= 0 else -1
        if up >= 0:
            uptime[sl] = up


@nb.njit(cache=True)
def decode_v5(buf, d_off, d_len, d_slot, d_exp, slot_records, slot_nosamp, out, d_bad):  # type: ignore[no-untyped-def]
    """NetFlow v5: 24-byte header, then `count` 48-byte records; returns records written.

    A datagram shorter than its count claims is flagged, and its complete records are kept.
    sampling_interval: top 2 bits are the mode, the low 14 bits the interval (0 = unknown).
    """
    n = 0
    mapped = np.uint64(0xFFFF_0000_0000)
    for i in range(d_off.shape[0]):
        sl = d_slot[i]
        if sl < 0:
            continue
        off = d_off[i]
        count = _be16(buf, off + 2)
        avail = (d_len[i] - 24) // 48
        if count > avail:
            d_bad[i] = BAD_BODY
            count = avail
        up = _be32(buf, off + 4)
        export = np.float64(_be32(buf, off + 8)) + np.float64(_be32(buf, off + 12)) * 1e-9
        rate = _be16(buf, off + 22) & 0x3FFF
        dom = _be16(buf, off + 20)
        for k in range(count):
            p = off + 24 + 48 * k
            r = out[n]
            r.src_hi = 0
            r.src_lo = mapped | np.uint64(_be32(buf, p))
            r.dst_hi = 0
            r.dst_lo = mapped | np.uint64(_be32(buf, p + 4))
            r.packets = _be32(buf, p + 16)
            r.bytes = _be32(buf, p + 20)
            r.first_ts = export + uptime_offset(_be32(buf, p + 24), up)
            r.last_ts = export + uptime_offset(_be32(buf, p + 28), up)
            r.sport = _be16(buf, p + 32)
            r.dport = _be16(buf, p + 34)
            r.tcp_flags = buf[p + 37]
            r.proto = buf[p + 38]
            r.sampler = 0
            r.sampling = rate
            r.exporter = d_exp[i]
            r.domain = dom
            r.family = 4
            r.version = 5
            n += 1
        slot_records[sl] += count
        if rate == 0:
            slot_nosamp[sl] += count
    return n
