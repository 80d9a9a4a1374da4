"""Compiled walker for sFlow v5 datagrams (numba); `pipelines.decoders.sflow` is the API.

Walking XDR is sequential (every sample and record says how long it is), so, as for pcap records
in `pipelines.sources.walk`, it is one compiled loop over a whole batch of datagrams. Sequence
numbers are followed afterwards, in `pipelines.decoders.sflow_seq`.

Layouts (sflow.org sflow_version_5.txt; XDR: big-endian 32-bit words, opaque data padded to 4):

    datagram      version=5, address agent (type 0 unknown | 1 IPv4 | 2 IPv6, then the bytes),
                  sub_agent_id, sequence_number, uptime (ms), sample_record samples<>
    sample_record data_format (enterprise << 12 | format), opaque sample_data<>
    flow_sample (0:1)           sequence_number, source_id (type << 24 | index), sampling_rate,
                                sample_pool, drops, input, output (format << 30 | value),
                                flow_record flow_records<>
    flow_sample_expanded (0:3)  sequence_number, source_id_type, source_id_index, sampling_rate,
                                sample_pool, drops, input format, input value, output format,
                                output value, flow_record flow_records<>
    counters_sample (0:2 / 0:4) sequence_number, source_id (one word, or type and index),
                                counter_record counters<>
    flow_record / counter_record  data_format, opaque data<>
    sampled_header (0:1)  header_protocol, frame_length, stripped, opaque header<>
    sampled_ipv4 (0:3)    length, protocol, src_ip, dst_ip, src_port, dst_port, tcp_flags, tos
    sampled_ipv6 (0:4)    length, protocol, src_ip (16), dst_ip (16), src_port, dst_port,
                          tcp_flags, priority

A sample whose records do not fit in it is dropped whole (nothing of it is emitted) and the walk
goes on with the next sample; a sample that does not fit in its datagram ends the datagram. The
samples decoded before either are kept. Every loop advances by at least 8 bytes per step and is
bounded by the datagram's length, whatever the declared counts say.
"""

from __future__ import annotations

import numba as nb
import numpy as np

from pipelines.decoders.bigendian import be32 as _u32
from pipelines.decoders.bigendian import be64 as _u64

# Datagram status (column `status` of DATAGRAM_DTYPE).
DG_OK = 0
DG_PARTIAL = 1  # header fine; some samples were malformed or cut off (the others were kept)
DG_TRUNCATED = 2  # the datagram header itself is incomplete or has a bad address type
DG_VERSION = 3  # not sFlow version 5

# Indices into the `counts` array (shared with the sequence kernel in `sflow_seq`).
C_MALFORMED_SAMPLES = 0
C_UNKNOWN_RECORDS = 1
C_SHADOWED_FLOWS = 2  # sampled_ipv4/6 records in a sample that also has the raw header
C_NO_RATE = 3  # flow samples with sampling_rate 0
C_S_FLOW = 4  # samples by kind: 4..9
C_S_FLOW_EXP = 5
C_S_COUNTERS = 6
C_S_COUNTERS_EXP = 7
C_S_DISCARDED = 8
C_S_OTHER = 9
C_LOST_DATAGRAMS = 10
C_LOST_SAMPLES = 11
C_RESTARTS = 12
C_SAMPLER_RESETS = 13
C_REORDERED_DATAGRAMS = 14
C_REORDERED_SAMPLES = 15
C_UNTRACKED = 16
C_DROPS = 17
N_COUNTS = 18

# Record formats get a histogram slot each when enterprise 0 and in one of these ranges
# (first, end, first slot); everything else (vendor enterprises too) shares slot 0, "other".
FORMAT_SLOT_RANGES = ((1, 16, 1), (1000, 1064, 16), (2000, 2048, 80))
N_FORMAT_SLOTS = 128


@nb.njit(cache=True, inline="always")
def _pad(n):  # type: ignore[no-untyped-def]
    return (n + 3) & ~np.int64(3)


@nb.njit(cache=True, inline="always")
def _v4(buf, i):  # type: ignore[no-untyped-def]
    return np.uint64(0xFFFF00000000) | np.uint64(_u32(buf, i))


@nb.njit(cache=True)
def _fmt_slot(ent, fmt):  # type: ignore[no-untyped-def]
    """Bounded histogram slot of a record format (see FORMAT_SLOT_RANGES)."""
    if ent != 0:
        return 0
    for first, stop, base in FORMAT_SLOT_RANGES:
        if first <= fmt < stop:
            return base + fmt - first
    return 0


@nb.njit(cache=True)
def _check_flow_records(buf, p, end, nrec):  # type: ignore[no-untyped-def]
    """Validate the record list of one flow sample: (ok, raw headers, sampled IPv4/6 records)."""
    headers = 0
    ips = 0
    for _ in range(nrec):
        if p + 8 > end:
            return False, 0, 0
        rf = _u32(buf, p)
        rl = _u32(buf, p + 4)
        b = p + 8
        if b + rl > end:
            return False, 0, 0
        if (rf >> 12) == 0:
            f = rf & 0xFFF
            if f == 1:
                if rl < 16:
                    return False, 0, 0
                hlen = _u32(buf, b + 12)
                if hlen == 0 or 16 + hlen > rl:
                    return False, 0, 0
                headers += 1
            elif f == 3 or f == 4:
                if rl < (32 if f == 3 else 56):
                    return False, 0, 0
                ips += 1
        p = b + _pad(rl)
    return True, headers, ips


@nb.njit(cache=True)
def _check_counter_records(buf, p, end, nrec):  # type: ignore[no-untyped-def]
    for _ in range(nrec):
        if p + 8 > end:
            return False
        rl = _u32(buf, p + 4)
        if p + 8 + rl > end:
            return False
        p = p + 8 + _pad(rl)
    return True


@nb.njit(cache=True)
def _set_ctx(dst, j, smp, si):  # type: ignore[no-untyped-def]
    """Copy the sample context columns of sample `si` onto row `j` of a packet or flow array."""
    dst[j].sampling_rate = smp[si].sampling_rate
    dst[j].agent_hi = smp[si].agent_hi
    dst[j].agent_lo = smp[si].agent_lo
    dst[j].sub_agent = smp[si].sub_agent
    dst[j].source_type = smp[si].source_type
    dst[j].source_index = smp[si].source_index
    dst[j].input = smp[si].input
    dst[j].output = smp[si].output
    dst[j].output_format = smp[si].output_format
    dst[j].sample = si
    dst[j].datagram = smp[si].datagram


@nb.njit(cache=True)
def walk(  # type: ignore[no-untyped-def]
    buf, d_off, d_len, d_ts, lt_map, emit, dgs, smp, rec, pkt, flows, counts, flow_fmt, ctr_fmt
):
    """Decode every datagram buf[d_off[i] : d_off[i] + d_len[i]].

    Fills `dgs` (one row per datagram), `smp` (one per flow sample), `rec` + `pkt` (one per
    raw packet header: where the header lies in `buf`, and its sample context) and `flows` (one
    per sampled_ipv4/6 record of a sample without a raw header). Returns (samples, packets,
    flows). With `emit` false only `dgs` and the counters are written: that first pass sizes
    the outputs exactly (cheaper than copying out of worst-case buffers). Never raises.
    """
    ns = 0
    npk = 0
    nfl = 0
    n_lt = lt_map.shape[0]
    for i in range(d_off.shape[0]):
        p = d_off[i]
        end = p + d_len[i]
        dgs[i].status = DG_TRUNCATED
        dgs[i].agent_hi = 0
        dgs[i].agent_lo = 0
        dgs[i].sub_agent = 0
        dgs[i].seq = 0
        dgs[i].uptime = 0
        dgs[i].samples = 0
        if p + 8 > end:
            continue
        if _u32(buf, p) != 5:
            dgs[i].status = DG_VERSION
            continue
        atype = _u32(buf, p + 4)
        p += 8
        if atype == 1:
            if p + 4 > end:
                continue
            dgs[i].agent_lo = _v4(buf, p)
            p += 4
        elif atype == 2:
            if p + 16 > end:
                continue
            dgs[i].agent_hi = _u64(buf, p)
            dgs[i].agent_lo = _u64(buf, p + 8)
            p += 16
        elif atype != 0:
            continue
        if p + 16 > end:
            continue
        dgs[i].sub_agent = _u32(buf, p)
        dgs[i].seq = _u32(buf, p + 4)
        dgs[i].uptime = _u32(buf, p + 8)
        nsamples = _u32(buf, p + 12)
        dgs[i].samples = nsamples
        p += 16
        status = DG_OK
        ts = d_ts[i]
        for _ in range(nsamples):
            if p + 8 > end:
                status = DG_PARTIAL  # fewer samples than declared
                break
            df = _u32(buf, p)
            sl = _u32(buf, p + 4)
            body = p + 8
            send = body + sl
            if send > end:
                counts[C_MALFORMED_SAMPLES] += 1
                status = DG_PARTIAL
                break
            p = body + _pad(sl)
            ent = df >> 12
            fmt = df & 0xFFF
            if ent != 0 or fmt > 5 or fmt == 0:
                counts[C_S_OTHER] += 1
                continue
            if fmt == 5:  # discarded packet (sFlow drop notifications): not decoded
                counts[C_S_DISCARDED] += 1
                continue
            if fmt == 2 or fmt == 4:
                counts[C_S_COUNTERS if fmt == 2 else C_S_COUNTERS_EXP] += 1
                hl = 12 if fmt == 2 else 16
                if sl < hl:
                    counts[C_MALFORMED_SAMPLES] += 1
                    status = DG_PARTIAL
                    continue
                q = body + hl
                nrec = _u32(buf, q - 4)
                if not _check_counter_records(buf, q, send, nrec):
                    counts[C_MALFORMED_SAMPLES] += 1
                    status = DG_PARTIAL
                    continue
                for _r in range(nrec):
                    rf = _u32(buf, q)
                    ctr_fmt[_fmt_slot(rf >> 12, rf & 0xFFF)] += 1
                    q += 8 + _pad(_u32(buf, q + 4))
                continue
            # flow sample, compact (1) or expanded (3)
            counts[C_S_FLOW if fmt == 1 else C_S_FLOW_EXP] += 1
            hl = 32 if fmt == 1 else 44
            if sl < hl:
                counts[C_MALFORMED_SAMPLES] += 1
                status = DG_PARTIAL
                continue
            q = body + hl
            nrec = _u32(buf, q - 4)
            ok, headers, ips = _check_flow_records(buf, q, send, nrec)
            if not ok:
                counts[C_MALFORMED_SAMPLES] += 1
                status = DG_PARTIAL
                continue
            if not emit:
                ns += 1
                npk += headers
                nfl += ips if headers == 0 else 0
                continue
            s = smp[ns]
            s.datagram = i
            s.agent_hi = dgs[i].agent_hi
            s.agent_lo = dgs[i].agent_lo
            s.sub_agent = dgs[i].sub_agent
            s.seq = _u32(buf, body)
            s.expanded = fmt == 3
            if fmt == 1:
                src = _u32(buf, body + 4)
                s.source_type = src >> 24
                s.source_index = src & 0xFFFFFF
                k = body + 8
            else:
                s.source_type = _u32(buf, body + 4)
                s.source_index = _u32(buf, body + 8)
                k = body + 12
            s.sampling_rate = _u32(buf, k)
            s.sample_pool = _u32(buf, k + 4)
            s.drops = _u32(buf, k + 8)
            if fmt == 1:
                inp = _u32(buf, k + 12)
                out = _u32(buf, k + 16)
                s.input = inp & 0x3FFFFFFF
                s.output = out & 0x3FFFFFFF
                s.output_format = out >> 30
            else:
                s.input = _u32(buf, k + 16)
                s.output_format = min(_u32(buf, k + 20), 255)
                s.output = _u32(buf, k + 24)
            s.records = nrec
            if s.sampling_rate == 0:
                counts[C_NO_RATE] += 1
            if headers and ips:
                counts[C_SHADOWED_FLOWS] += ips
            for _r in range(nrec):
                rf = _u32(buf, q)
                rl = _u32(buf, q + 4)
                b = q + 8
                ent = rf >> 12
                f = rf & 0xFFF
                flow_fmt[_fmt_slot(ent, f)] += 1
                if ent != 0 or not (1 <= f <= 4 or 1001 <= f <= 1012):
                    counts[C_UNKNOWN_RECORDS] += 1
                elif f == 1:
                    proto = _u32(buf, b)
                    frame_len = _u32(buf, b + 4)
                    stripped = _u32(buf, b + 8)
                    hlen = _u32(buf, b + 12)
                    rec[npk].off = b + 16
                    rec[npk].caplen = hlen
                    wire = frame_len - stripped
                    rec[npk].wirelen = wire if wire > hlen else hlen
                    rec[npk].ts = ts
                    rec[npk].linktype = lt_map[proto] if proto < n_lt else 0xFFFF
                    _set_ctx(pkt, npk, smp, ns)
                    pkt[npk].header_protocol = proto
                    pkt[npk].frame_length = frame_len
                    pkt[npk].stripped = stripped
                    npk += 1
                elif (f == 3 or f == 4) and headers == 0:
                    fl = flows[nfl]
                    fl.ts = ts
                    fl.ip_len = _u32(buf, b)
                    fl.proto = _u32(buf, b + 4) & 0xFF
                    if f == 3:
                        fl.family = 4
                        fl.src_hi = 0
                        fl.src_lo = _v4(buf, b + 8)
                        fl.dst_hi = 0
                        fl.dst_lo = _v4(buf, b + 12)
                        t = b + 16
                    else:
                        fl.family = 6
                        fl.src_hi = _u64(buf, b + 8)
                        fl.src_lo = _u64(buf, b + 16)
                        fl.dst_hi = _u64(buf, b + 24)
                        fl.dst_lo = _u64(buf, b + 32)
                        t = b + 40
                    fl.sport = _u32(buf, t) & 0xFFFF
                    fl.dport = _u32(buf, t + 4) & 0xFFFF
                    fl.tcp_flags = _u32(buf, t + 8) & 0xFF
                    fl.tos = _u32(buf, t + 12) & 0xFF
                    _set_ctx(flows, nfl, smp, ns)
                    nfl += 1
                q = b + _pad(rl)
            ns += 1
        dgs[i].status = status
    return ns, npk, nfl
