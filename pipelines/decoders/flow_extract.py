"""The NetFlow v9 / IPFIX data-record kernel: walk data sets with compiled template layouts.

Per field the layout gives the wire length (-1: IPFIX variable length, RFC 7011 §7: one length
octet, or 255 then two) and a target code from `templates`; unknown and enterprise fields have
code SKIP and are only stepped over. Unsigned integers are read at whatever size the template
says (reduced-size encoding, RFC 7011 §6.2).
"""

from __future__ import annotations

import numba as nb
import numpy as np

from pipelines.decoders import templates as T
from pipelines.decoders.bigendian import beu as _beu
from pipelines.decoders.flow_kernels import BAD_BODY, NTP_EPOCH, sampling_rate, uptime_offset

V4_MAPPED = np.uint64(0xFFFF_0000_0000)


@nb.njit(cache=True, inline="always")
def _ntp(v):  # type: ignore[no-untyped-def]
    return (
        np.float64(v >> np.uint64(32))
        - NTP_EPOCH
        + np.float64(v & np.uint64(0xFFFFFFFF)) / 4294967296.0
    )


@nb.njit(cache=True, inline="always")
def _sampler_rate(samp_slot, samp_id, samp_rate, slot, sampler):  # type: ignore[no-untyped-def]
    lo = 0
    hi = samp_slot.shape[0]
    while lo < hi:
        mid = (lo + hi) >> 1
        if samp_slot[mid] < slot or (samp_slot[mid] == slot and samp_id[mid] < sampler):
            lo = mid + 1
        else:
            hi = mid
    if lo < samp_slot.shape[0] and samp_slot[lo] == slot and samp_id[lo] == sampler:
        return samp_rate[lo]
    return np.int64(0)


@nb.njit(cache=True)
def extract(  # type: ignore[no-untyped-def]
    buf,
    s_off,
    s_len,
    s_lay,
    s_dg,
    d_slot,
    d_ver,
    d_exp,
    d_dom,
    d_secs,
    d_up,
    slot_rate,
    slot_init,
    slot_records,
    slot_nosamp,
    t_first,
    t_nf,
    t_minlen,
    f_len,
    f_code,
    samp_slot,
    samp_id,
    samp_rate,
    out,
    d_nrec,
    d_bad,
):
    """Decode the records of every data set (s_lay: its layout) into `out`; returns the count."""
    n = 0
    cap = out.shape[0]
    nan = np.nan
    for s in range(s_off.shape[0]):
        lay = s_lay[s]
        dg = s_dg[s]
        slot = d_slot[dg]
        ver = d_ver[dg]
        export = np.float64(d_secs[dg])
        hdr_up = d_up[dg]
        p = s_off[s] + 4
        end = s_off[s] + s_len[s]
        f0 = t_first[lay]
        nf = t_nf[lay]
        minlen = t_minlen[lay]
        while p + minlen <= end and n < cap:
            b_delta = np.uint64(0)
            b_total = np.uint64(0)
            p_delta = np.uint64(0)
            p_total = np.uint64(0)
            has_bd = False
            has_pd = False
            proto = np.uint64(0)
            flags = np.uint64(0)
            sport = np.uint64(0)
            dport = np.uint64(0)
            fam = 0
            s_hi = np.uint64(0)
            s_lo = np.uint64(0)
            d_hi = np.uint64(0)
            d_lo = np.uint64(0)
            first = nan
            last = nan
            first_up = np.int64(-1)
            last_up = np.int64(-1)
            init = slot_init[slot]
            s_int = 0.0
            s_rnd = 0.0
            pint = 0.0
            pspace = 0.0
            ssize = 0.0
            spop = 0.0
            sprob = 0.0
            sampler = np.uint64(0)
            has_sampler = False
            q = p
            ok = True
            for k in range(nf):
                ln = f_len[f0 + k]
                if ln < 0:
                    if q >= end:
                        ok = False
                        break
                    ln = np.int64(buf[q])
                    q += 1
                    if ln == 255:
                        if q + 2 > end:
                            ok = False
                            break
                        ln = (np.int64(buf[q]) << 8) | np.int64(buf[q + 1])
                        q += 2
                if q + ln > end:
                    ok = False
                    break
                c = f_code[f0 + k]
                if c == T.SKIP:
                    q += ln
                    continue
                if c == T.SRC4 or c == T.DST4:
                    a = V4_MAPPED | _beu(buf, q, 4)
                    fam = 4
                    if c == T.SRC4:
                        s_hi = np.uint64(0)
                        s_lo = a
                    else:
                        d_hi = np.uint64(0)
                        d_lo = a
                elif c == T.SRC6 or c == T.DST6:
                    fam = 6
                    if c == T.SRC6:
                        s_hi = _beu(buf, q, 8)
                        s_lo = _beu(buf, q + 8, 8)
                    else:
                        d_hi = _beu(buf, q, 8)
                        d_lo = _beu(buf, q + 8, 8)
                elif c == T.S_PROB:
                    sprob = _f64(buf, q) if ln == 8 else _f32(buf, q)
                else:
                    v = _beu(buf, q, ln)
                    if c == T.SPORT:
                        sport = v
                    elif c == T.DPORT:
                        dport = v
                    elif c == T.PROTO:
                        proto = v
                    elif c == T.BYTES:
                        b_delta = v
                        has_bd = True
                    elif c == T.PKTS:
                        p_delta = v
                        has_pd = True
                    elif c == T.FLAGS:
                        flags = v & np.uint64(0xFF)
                    elif c == T.LAST_UP:
                        last_up = np.int64(v & np.uint64(0xFFFFFFFF))
                    elif c == T.FIRST_UP:
                        first_up = np.int64(v & np.uint64(0xFFFFFFFF))
                    elif c == T.BYTES_TOTAL:
                        b_total = v
                    elif c == T.PKTS_TOTAL:
                        p_total = v
                    elif c == T.START_S:
                        first = np.float64(v)
                    elif c == T.END_S:
                        last = np.float64(v)
                    elif c == T.START_MS:
                        first = np.float64(v) / 1000.0
                    elif c == T.END_MS:
                        last = np.float64(v) / 1000.0
                    elif c == T.START_US or c == T.START_NS:
                        first = _ntp(v)
                    elif c == T.END_US or c == T.END_NS:
                        last = _ntp(v)
                    elif c == T.START_DUS:
                        first = export - np.float64(v) / 1e6
                    elif c == T.END_DUS:
                        last = export - np.float64(v) / 1e6
                    elif c == T.INIT_MS:
                        init = np.int64(v & np.uint64(0x7FFFFFFFFFFFFFFF))
                    elif c == T.S_INTERVAL:
                        s_int = np.float64(v)
                    elif c == T.S_RANDOM:
                        s_rnd = np.float64(v)
                    elif c == T.SAMPLER:
                        sampler = v
                        has_sampler = True
                    elif c == T.PKT_INTERVAL:
                        pint = np.float64(v)
                    elif c == T.PKT_SPACE:
                        pspace = np.float64(v)
                    elif c == T.S_SIZE:
                        ssize = np.float64(v)
                    elif c == T.S_POP:
                        spop = np.float64(v)
                q += ln
            if not ok:
                d_bad[dg] = BAD_BODY
                break
            p = q
            # times: absolute IEs win, then sysUptime-relative ones, then the export time
            if first != first and first_up >= 0:
                first = _uptime_ts(ver, first_up, hdr_up, export, init)
            if last != last and last_up >= 0:
                last = _uptime_ts(ver, last_up, hdr_up, export, init)
            if first != first and last != last:
                first = export
                last = export
            elif first != first:
                first = last
            elif last != last:
                last = first
            rate = sampling_rate(s_int, s_rnd, pint, pspace, ssize, spop, sprob)
            if rate == 0 and has_sampler:
                rate = _sampler_rate(samp_slot, samp_id, samp_rate, slot, sampler)
            if rate == 0:
                rate = slot_rate[slot]
            r = out[n]
            r.first_ts = first
            r.last_ts = last
            r.src_hi = s_hi
            r.src_lo = s_lo
            r.dst_hi = d_hi
            r.dst_lo = d_lo
            r.packets = p_delta if has_pd else p_total
            r.bytes = b_delta if has_bd else b_total
            r.sampler = sampler
            r.sampling = rate
            r.exporter = d_exp[dg]
            r.domain = d_dom[dg]
            r.sport = sport
            r.dport = dport
            r.proto = proto
            r.tcp_flags = flags
            r.family = fam
            r.version = ver
            n += 1
            d_nrec[dg] += 1
            slot_records[slot] += 1
            if rate == 0:
                slot_nosamp[slot] += 1
    return n


@nb.njit(cache=True, inline="always")
def _uptime_ts(ver, up, hdr_up, export, init):  # type: ignore[no-untyped-def]
    """v9: ms of sysUptime relative to the header's; IPFIX: relative to system init time."""
    if ver == 9:
        return export + uptime_offset(up, hdr_up)
    if init >= 0:
        return np.float64(init + up) / 1000.0
    return np.nan


@nb.njit(cache=True, inline="always")
def _f64(buf, q):  # type: ignore[no-untyped-def]
    a = np.empty(1, dtype=np.uint64)
    a[0] = _beu(buf, q, 8)
    return a.view(np.float64)[0]


@nb.njit(cache=True, inline="always")
def _f32(buf, q):  # type: ignore[no-untyped-def]
    a = np.empty(1, dtype=np.uint32)
    a[0] = np.uint32(_beu(buf, q, 4))
    return np.float64(a.view(np.float32)[0])
