"""NetFlow v9 (RFC 3954) and IPFIX (RFC 7011) decoder over a batch of datagrams.

One kernel pass locates every set of the batch; template sets (v9 FlowSet 0/1, IPFIX set 2/3)
are parsed in Python in arrival order, each new or changed layout tagged with the set index it
takes effect from; data sets (id >= 256) then find their layout with one vectorised search, so
a template change in the middle of a batch applies only to the sets after it. Data records are
extracted by the `flow_extract` kernel; options records and data whose template has not arrived
yet (held, decoded when it does) are the only per-set Python work.

v9 sequence numbers count export packets; IPFIX ones count data records per observation domain.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from pipelines.decoders import options
from pipelines.decoders.flow_extract import extract
from pipelines.decoders.flow_kernels import BAD_HEADER, scan_sets, track_sequences
from pipelines.decoders.flowrec import FlowRecords, empty_records
from pipelines.decoders.flowstate import FlowState
from pipelines.decoders.held import HeldSet
from pipelines.decoders.templates import Template, TemplateError, parse_template_set

I64 = npt.NDArray[np.int64]
U32 = npt.NDArray[np.uint32]
U8 = npt.NDArray[np.uint8]

GAP_LIMIT = {9: 1 << 20, 10: 1 << 26}  # packets (v9), records (IPFIX): more = a restart
REORDER_LIMIT = {9: 64, 10: 1 << 12}
TEMPLATE_SETS = {9: (0, 1), 10: (2, 3)}
SET_BITS = 24  # set index bits in a lookup key: at most 16 M sets per call
MAX_BATCH_BYTES = 4 << (SET_BITS)  # sets are >= 4 bytes, so this many bytes fit the index


def decode(
    state: FlowState, buf: U8, offsets: I64, lengths: I64, exporters: U32, now: float
) -> FlowRecords:
    """Decode a batch of v9 and/or IPFIX datagrams (in arrival order) into flow records."""
    parts = []
    start = 0
    sizes = np.cumsum(lengths)
    while start < len(offsets):  # keep every call within the lookup key's set index range
        base = sizes[start - 1] if start else 0
        stop = max(start + 1, int(np.searchsorted(sizes, base + MAX_BATCH_BYTES, side="right")))
        parts.append(
            _decode(
                state, buf, offsets[start:stop], lengths[start:stop], exporters[start:stop], now
            )
        )
        start = stop
    return np.concatenate(parts) if len(parts) > 1 else (parts[0] if parts else empty_records())


def _decode(
    state: FlowState, buf: U8, d_off: I64, d_len: I64, d_exp: U32, now: float
) -> FlowRecords:
    state.compact()
    state.batches += 1
    batch = state.batches
    state.held.expire(now)
    n = len(d_off)
    d_ver = np.empty(n, np.int64)
    d_dom = np.zeros(n, np.int64)
    d_seq = np.zeros(n, np.int64)
    d_up = np.empty(n, np.int64)
    d_secs = np.zeros(n, np.int64)
    d_bad = np.empty(n, np.uint8)
    cap = int(d_len.sum()) // 4 + 1
    s_dg, s_id, s_off, s_len = (np.empty(cap, np.int64) for _ in range(4))
    ns = scan_sets(
        buf, d_off, d_len, d_ver, d_dom, d_seq, d_up, d_secs, d_bad, s_dg, s_id, s_off, s_len
    )
    s_dg, s_id, s_off, s_len = s_dg[:ns], s_id[:ns], s_off[:ns], s_len[:ns]

    hdr = d_bad != BAD_HEADER
    d_slot = np.full(n, -1, np.int64)
    if hdr.any():
        d_slot[hdr] = state.slots_for(d_exp[hdr], d_ver[hdr], d_dom[hdr])
    state.tally.datagrams_refused += int(np.count_nonzero(hdr & (d_slot < 0)))
    np.add.at(state.slots["datagrams"], d_slot[d_slot >= 0], 1)
    s_slot = d_slot[s_dg]
    s_ver = d_ver[s_dg]
    live = s_slot >= 0

    base_keys, base_lay = state.lookup_arrays()  # templates as they were before this batch
    ev_keys: list[int] = []
    ev_lay: list[int] = []
    changes: dict[tuple[int, int], list[tuple[int, int]]] = {}  # key -> [(set index, layout)]
    is_tmpl = live & (((s_ver == 9) & (s_id <= 1)) | ((s_ver == 10) & ((s_id == 2) | (s_id == 3))))
    for s in np.flatnonzero(is_tmpl).tolist():
        slot, ver, sid, dg = int(s_slot[s]), int(s_ver[s]), int(s_id[s]), int(s_dg[s])
        body = bytes(buf[s_off[s] + 4 : s_off[s] + s_len[s]])
        last = state.template_sets.get((slot, sid))
        if last is not None and last[0] == body:  # a periodic resend: nothing to parse
            state.tally.templates_refreshed += last[1]
            continue
        try:
            events = parse_template_set(ver, sid, body)
        except TemplateError as exc:
            events = exc.args[1]
            d_bad[dg] = 1
        else:
            state.remember_template_set(slot, sid, body, events)
        for ev in events:
            if isinstance(ev, Template):
                lay = state.learn(slot, ev)
                changed = [ev.tid] if lay is not None else []
            else:
                lay, changed = -1, state.withdraw(slot, ev)
            for tid in changed:
                ev_keys.append((((slot << 16) | tid) << SET_BITS) | (s + 1))
                ev_lay.append(-1 if lay is None else lay)
                changes.setdefault((slot, tid), []).append((s, -1 if lay is None else lay))

    data = np.flatnonzero(live & (s_id >= 256))
    s_lay = _lookup(base_keys, base_lay, ev_keys, ev_lay, (s_slot[data] << 16) | s_id[data], data)
    d_nrec = np.zeros(n, np.int64)
    d_unknown = np.zeros(n, np.bool_)
    t_opt = state.table.options_mask()
    miss = s_lay < 0
    is_opt = ~miss & t_opt[np.maximum(s_lay, 0)] if len(t_opt) else np.zeros(len(data), np.bool_)
    for k in np.flatnonzero(miss).tolist():
        s = data[k]
        dg = s_dg[s]
        state.tally.template_misses += 1
        d_unknown[dg] = True
        body = bytes(buf[s_off[s] : s_off[s] + s_len[s]])
        state.held.hold(
            HeldSet(
                int(s_slot[s]), int(s_id[s]), body, int(d_secs[dg]), int(d_up[dg]), now, batch, s
            )
        )
    for k in np.flatnonzero(is_opt).tolist():
        s = data[k]
        tmpl = state.table.layouts[s_lay[k]]
        nrec, bad = _options(
            state, int(s_slot[s]), tmpl, bytes(buf[s_off[s] + 4 : s_off[s] + s_len[s]])
        )
        d_nrec[s_dg[s]] += nrec
        d_bad[s_dg[s]] |= bad

    rec = ~miss & ~is_opt
    out = _extract(
        state,
        buf,
        s_off[data[rec]],
        s_len[data[rec]],
        s_lay[rec],
        s_dg[data[rec]],
        d_slot,
        d_ver,
        d_exp,
        d_dom,
        d_secs,
        d_up,
        d_nrec,
        d_bad,
    )

    slots = state.slots
    for ver in (9, 10):
        m = d_ver == ver
        if not m.any():
            continue
        inc = np.ones(n, np.int64) if ver == 9 else np.where(d_unknown | (d_bad != 0), -1, d_nrec)
        track_sequences(
            d_slot[m],
            d_seq[m],
            inc[m],
            d_up[m],
            GAP_LIMIT[ver],
            REORDER_LIMIT[ver],
            slots["expected"],
            slots["uptime"],
            slots["gaps"],
            slots["lost"],
            slots["reordered"],
            slots["restarts"],
        )
    state.tally.malformed_datagrams += int(np.count_nonzero(d_bad))
    late = decode_held(state, changes, batch)
    return np.concatenate((out, late)) if len(late) else out


def _lookup(
    base_keys: I64, base_lay: I64, ev_keys: list[int], ev_lay: list[int], key: I64, set_index: I64
) -> I64:
    """Layout of each data set: the latest version of its key that takes effect at or before
    the set (baseline templates from index 0, in-batch ones from their set index + 1)."""
    if ev_keys:
        keys = np.concatenate((base_keys, np.array(ev_keys, np.int64)))
        lays = np.concatenate((base_lay, np.array(ev_lay, np.int64)))
        order = np.argsort(keys, kind="stable")
        keys, lays = keys[order], lays[order]
    else:
        keys, lays = base_keys, base_lay
    if not len(keys):
        return np.full(len(key), -1, np.int64)
    pos = np.searchsorted(keys, (key << SET_BITS) | set_index, side="right") - 1
    pos_c = np.maximum(pos, 0)
    found = (pos >= 0) & ((keys[pos_c] >> SET_BITS) == key)
    return np.where(found, lays[pos_c], -1)


def _extract(
    state: FlowState,
    buf: U8,
    s_off: I64,
    s_len: I64,
    s_lay: I64,
    s_dg: I64,
    d_slot: I64,
    d_ver: I64,
    d_exp: U32,
    d_dom: I64,
    d_secs: I64,
    d_up: I64,
    d_nrec: I64,
    d_bad: npt.NDArray[np.uint8],
) -> FlowRecords:
    if not len(s_off):
        return empty_records()
    t_first, t_nf, t_minlen, f_len, f_code = state.table.arrays()
    bound = int(((s_len - 4) // t_minlen[s_lay]).sum())
    out = empty_records(bound)
    samp_slot, samp_id, samp_rate = state.sampler_arrays()
    slots = state.slots
    n = extract(
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
        slots["rate"],
        slots["init_ms"],
        slots["records"],
        slots["nosamp"],
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
    )
    return out[:n]


def _options(state: FlowState, slot: int, tmpl: Template, body: bytes) -> tuple[int, int]:
    """Apply one options data set; returns (records read, 1 if the set was damaged)."""
    try:
        recs, bad = options.parse_records(tmpl, body), 0
    except options.OptionsError as exc:
        recs, bad = exc.args[1], 1
    for rec in recs:
        options.apply(state, slot, rec)
    state.tally.options_records += len(recs)
    return len(recs), bad


def decode_held(
    state: FlowState, changes: dict[tuple[int, int], list[tuple[int, int]]], batch: int
) -> FlowRecords:
    """Decode the held sets whose template arrived in this call, each with the first layout
    sent after it (as if datagrams had been decoded one at a time), as its own pseudo-datagram."""

    def choose(h: HeldSet) -> int | None:
        after = h.index if h.batch == batch else -1
        return next((lay for s, lay in changes[(h.slot, h.tid)] if s > after and lay >= 0), None)

    held = state.held.take(set(changes), choose)
    if not held:
        return empty_records()
    state.tally.held_sets_decoded += len(held)
    lays, datas, metas = [], [], []
    for h, lay in held:
        tmpl = state.table.layouts[lay]
        if tmpl.options:
            _options(state, h.slot, tmpl, h.data[4:])
            continue
        eid, ver, dom = state.slot_keys[h.slot]
        lays.append(lay)
        datas.append(h.data)
        metas.append((h.slot, ver, eid, dom, h.export_secs, h.uptime))
    if not datas:
        return empty_records()
    m = len(datas)
    buf = np.frombuffer(b"".join(datas), dtype=np.uint8)
    s_len = np.array([len(d) for d in datas], np.int64)
    s_off = np.concatenate(([0], np.cumsum(s_len)[:-1])).astype(np.int64)
    cols = np.array(metas, dtype=np.int64).reshape(m, 6).T
    d_slot, d_ver, d_exp, d_dom, d_secs, d_up = cols
    out = _extract(
        state,
        buf,
        s_off,
        s_len,
        np.array(lays, np.int64),
        np.arange(m, dtype=np.int64),
        d_slot.copy(),
        d_ver.copy(),
        d_exp.astype(np.uint32),
        d_dom.copy(),
        d_secs.copy(),
        d_up.copy(),
        np.zeros(m, np.int64),
        np.zeros(m, np.uint8),
    )
    state.tally.records_decoded_late += len(out)
    return out
