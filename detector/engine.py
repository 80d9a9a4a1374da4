"""The detection engine: flow-level detectors on new and ended flows, payload inspection on the
few candidates, and the verdict for every flow that ends.

Per batch the order is: new flows → flow detectors (vectorised); candidates → inspectors (Python,
few); then ended flows → catch-up flow detectors → `hit_of` → sink.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from detector.base import Evidence, EvidenceKind
from detector.context import DetectContext
from detector.flowlevel import FLOW_DETECTORS, FlowDetector
from detector.hits import FlowHit, hit_of
from detector.inspect import FlowState, inspect_packet
from detector.prefilter import BUDGET, select
from pipelines.batch import PacketBatch
from pipelines.flows import Flows, FlowTable

Sink = Callable[[FlowHit], None]
# checked when a flow appears / again when it ends (what was learned meanwhile); weak
# decorations (the port prior) only for ended flows that have other evidence
ON_NEW = ("ip-list", "dns-learned", "pair-cache")
ON_END = ("dns-learned", "pair-cache")
DECORATE = ("port-only",)
# The flow table's `state` column: HELD when the engine keeps a FlowState for the flow, plus
# a bit per ON_NEW detector that gave it evidence. That evidence stays in the FlowState, and
# `finish` drops a second evidence of the same kind, so ON_END skips those rows (`skip`):
# ~4k pair-cache evidences a x10 benchmark scan that were made only to be dropped.
HELD = 1
KEPT = {"dns-learned": 2, "pair-cache": 4}


ENDPOINT_ONLY = frozenset(
    {
        EvidenceKind.IP_LIST,
        EvidenceKind.DNS_LEARNED,
        EvidenceKind.PAIR_CACHE,
        EvidenceKind.PORT_ONLY,
    }
)


# Plain loops, not any() over a generator (0.07 against 0.5 us for three evidences): they run
# a few times for each ended flow with evidence.
def _payload_evidence(evidence: list[Evidence]) -> bool:
    for e in evidence:  # noqa: SIM110 (see above)
        if e.kind not in ENDPOINT_ONLY:
            return True
    return False


def _strong(evidence: list[Evidence]) -> bool:
    """Not all weak: weak evidence alone never makes a hit."""
    for e in evidence:  # noqa: SIM110 (see above)
        if not e.weak:
            return True
    return False


def _has_kind(evidence: list[Evidence], kind: EvidenceKind) -> bool:
    for e in evidence:  # noqa: SIM110 (see above)
        if e.kind == kind:
            return True
    return False


def _answered(proto: int, flags_s2c: int, pkts_c2s: int, pkts_s2c: int) -> bool:
    """TCP: the server answered the handshake; UDP: both sides spoke."""
    if proto == 6:
        return bool(flags_s2c & 0x12 == 0x12 or pkts_s2c > 0)
    return bool(pkts_c2s and pkts_s2c)


# the flow columns a hit is made of, in `finish`'s unpacking order
_HIT_COLUMNS = (
    "first_ts", "last_ts", "proto", "c_hi", "c_lo", "cport", "s_hi", "s_lo", "sport",
    "pkts_c2s", "pkts_s2c", "bytes_c2s", "bytes_s2c", "data_c2s", "data_s2c", "flags_s2c",
)  # fmt: skip


class Engine:
    """Runs all detectors over batches of one source and reports hits to `sink`."""

    def __init__(self, ctx: DetectContext, sink: Sink) -> None:
        self.ctx = ctx
        self.sink = sink
        self.states: dict[int, FlowState] = {}
        self.on_new: list[FlowDetector] = [FLOW_DETECTORS[n] for n in ON_NEW]
        self.on_end: list[FlowDetector] = [FLOW_DETECTORS[n] for n in ON_END]
        self.decorate: list[FlowDetector] = [FLOW_DETECTORS[n] for n in DECORATE]
        self.name_screen = True  # compiled screen (detector.screen); off: every candidate in Python
        self._screened = np.zeros(3, dtype=np.int64)  # the screen's counts per batch

    def _state(self, uid: int, slot: int, held: npt.NDArray[np.uint8]) -> FlowState:
        """The flow's Python state, made on first use and marked in the table's `state`
        column (`held`), so that `finish` visits only the ended flows that have one."""
        st = self.states.get(uid)
        if st is None:
            st = self.states[uid] = FlowState()
            held[slot] = HELD
            self.ctx.stats.flows_inspected += 1
        return st

    def process(
        self,
        batch: PacketBatch,
        table: FlowTable,
        slot: npt.NDArray[np.int64],
        direction: npt.NDArray[np.uint8],
        new: npt.NDArray[np.uint8],
    ) -> None:
        cols = table.cols
        ts = batch.records["ts"]
        now = float(ts.max()) if len(ts) else 0.0
        held = cols["state"]
        new_slots = slot[new == 1]
        if len(new_slots):
            flows = cols.take(new_slots)  # whole records: fancy indexing copies field by field
            new_uids: list[int] = []
            for det in self.on_new:
                found = det.check(self.ctx, flows, now)
                if not found:
                    continue
                if not new_uids:
                    new_uids, at = flows["uid"].tolist(), new_slots.tolist()
                for row, ev in found:
                    self._state(new_uids[row], at[row], held).add(ev)
                mark = KEPT.get(det.name)
                if mark:  # after `_state`, which sets the column to HELD on first use
                    held[new_slots[[row for row, _ in found]]] |= mark
        stats = self.ctx.stats
        # sampled packets are judged one by one in Python (see PacketBatch): no screen
        screen = self.name_screen and batch.sampling is None
        names = self.ctx.matcher.name_table if screen else None
        screened = self._screened
        cand = select(batch.packets, slot, direction, cols, batch.buf, names, screened)
        stats.candidates += len(cand)
        if screen:
            dns, sni, http = screened.tolist()
            stats.dns += dns
            stats.sni += sni
            stats.screened += dns + sni + http
            screened[:] = 0
        if not len(cand):
            return
        # one conversion per batch: per-candidate numpy scalar access is the slow part here
        p = batch.packets.take(cand)
        at = slot[cand]
        rows = zip(
            at.tolist(),
            cols["uid"][at].tolist(),
            (direction[cand] == 0).tolist(),
            p["proto"].tolist(),
            p["sport"].tolist(),
            p["dport"].tolist(),
            ts[cand].tolist(),
            p["payload_off"].tolist(),
            p["payload_len"].tolist(),
            # (client, server) address words: the pair-cache key when a candidate confirms
            zip(*(cols[c][at].tolist() for c in ("c_hi", "c_lo", "s_hi", "s_lo")), strict=True),
            strict=True,
        )
        buf = batch.buf
        if batch.sampling is None:
            alone = cut = [False] * len(cand)
        else:  # sampled packets (see PacketBatch): 1-in-1 whole frames are still a stream;
            # a header cut short by the sampler is never one (its missing bytes are lost)
            recs = batch.records[cand]
            cut_mask = recs["caplen"] < recs["wirelen"]
            alone = ((batch.sampling[cand] != 1) | cut_mask).tolist()
            cut = cut_mask.tolist()
        # columns looked up once: this loop runs for every candidate
        pending, done = cols["pending"], cols["done"]
        seen = {True: cols["seen_c2s"], False: cols["seen_s2c"]}
        ctx, states = self.ctx, self.states
        for (s, uid, from_client, proto, sport, dport, t, off, length, pair), single, truncated \
                in zip(rows, alone, cut, strict=True):  # fmt: skip
            st = states.get(uid) or self._state(uid, s, held)
            if st.done:  # decided earlier in this batch
                continue
            if single:  # a sample is not the continuation of the previous one
                st.restart()
            payload = buf[off : off + length].tobytes()
            confirmed = inspect_packet(ctx, st, payload, from_client, proto, sport, dport, t,
                                       truncated)  # fmt: skip
            pending[s] = st.pending
            for fc in () if single else st.finished:  # nothing left to ask that way:
                seen[fc][s] = BUDGET  # spend its budget
            if st.done:
                done[s] = 1
                for stream in st.streams:
                    stream.clear()
            if confirmed:
                self._remember_pair(pair, uid, st, t)

    def _remember_pair(
        self, pair: tuple[int, int, int, int], uid: int, st: FlowState, now: float
    ) -> None:
        ev = st.evidence[-1]
        self.ctx.pairs.remember(pair[:2], pair[2:], now, f"{ev.kind} {ev.variant}", ev.variant, uid)

    def finish(self, flows: Flows, source: str) -> int:
        """Decide every ended flow; returns the number of hits reported."""
        by_row = self._evidence(flows) if len(flows) else None
        if not by_row:
            return 0
        order = list(by_row)  # ascending
        at = np.array(order)  # an index array: a list is converted again for every column
        if self.decorate:  # weak decorations only for flows that are hits anyway
            others = np.ones(len(flows), dtype=bool)
            others[at] = False
            now = float(flows["last_ts"].max())
            for det in self.decorate:
                for row, ev in det.check(self.ctx, flows, now, others):
                    by_row[row][0].append(ev)
        # one conversion per column for all hit rows: per-row numpy record access is slow
        cols = [flows[name][at].tolist() for name in _HIT_COLUMNS]
        stats = self.ctx.stats
        hits = 0
        for row, first, last, proto, c_hi, c_lo, cport, s_hi, s_lo, sport, p_c, p_s, b_c, b_s, \
                d_c, d_s, f_s in zip(order, *cols, strict=True):  # fmt: skip
            evidence, paid = by_row[row]
            if d_c + d_s == 0 and not paid:
                if p_c + p_s < 2:
                    stats.lone_packets += 1  # a stray SYN/RST is not a connection
                    continue
                attempt = not _answered(proto, f_s, p_c, p_s)
                for ev in evidence:
                    ev.detail.setdefault("attempt", attempt)
            hit = hit_of(source, evidence, first, last, proto, c_hi, c_lo, cport, s_hi, s_lo,
                         sport, p_c + p_s, b_c + b_s)  # fmt: skip
            if hit is not None:
                stats.hits[str(hit.cls)] += 1
                self.sink(hit)
                hits += 1
        return hits

    def _evidence(self, flows: Flows) -> dict[int, tuple[list[Evidence], bool]]:
        """Row → (evidence, whether any is from the payload) for the ended flows that are hit
        candidates, in ascending row order.

        Only the flows with Python state (the `state` column) or with evidence from the
        end-of-flow detectors are looked at: the rest (most flows) have nothing to say."""
        now = float(flows["last_ts"].max())
        state = flows["state"]
        extra: dict[int, list[Evidence]] = {}
        for det in self.on_end:
            mark = KEPT.get(det.name)
            skip = (state & mark) != 0 if mark else None
            for row, ev in det.check(self.ctx, flows, now, skip):
                extra.setdefault(row, []).append(ev)
        held = np.flatnonzero(state).tolist()
        rows = sorted(extra.keys() | held) if extra else held
        states = self.states
        by_row: dict[int, tuple[list[Evidence], bool]] = {}
        for row, uid in zip(rows, flows["uid"][rows].tolist(), strict=True):
            st = states.pop(uid, None)
            more = extra.get(row)
            if st is None:
                if more is None:
                    continue
                evidence, paid = more, False  # one per ON_END detector: distinct kinds
            else:
                evidence = list(st.evidence)
                paid = _payload_evidence(evidence)
                if not paid:
                    # the more bytes never came: what the payload said so far beats
                    # endpoint-only evidence (a pair-cache entry may arrive first, e.g. at a
                    # batch boundary)
                    left = st.leftover()
                    if left:
                        evidence.extend(left)
                        paid = _payload_evidence(left)
                for ev in more or ():
                    if not _has_kind(evidence, ev.kind):
                        evidence.append(ev)
            if _strong(evidence):
                by_row[row] = evidence, paid
        return by_row
