"""Flow-level detectors: evidence from a flow's endpoints alone, checked on whole arrays.

They run when flows appear (so the first packet already carries the verdict) and again when flows
end (so knowledge learned meanwhile — a DNS answer, a confirmed pair — still counts). Each is one
small class with `check(ctx, flows, now) -> [(row, Evidence)]`; the registry is `FLOW_DETECTORS`.
Memories are judged at each flow's own last packet time, not at the batch's, so the verdict does
not depend on which flows happen to end together.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

import numpy as np
import numpy.typing as npt

from blacklist.builtin import port_prior
from blacklist.entries import Category
from detector.base import Evidence, EvidenceKind, HitClass
from pipelines.flows import Flows

if TYPE_CHECKING:
    from detector.context import DetectContext

Found = list[tuple[int, Evidence]]
# rows whose evidence of this kind the caller already holds (see `FlowDetector.check`)
Skip = npt.NDArray[np.bool_] | None
_NOT_POOL = frozenset({Category.ALLOWLIST, Category.REGULATOR})
# looked up once: an enum member lookup costs ~0.1 us, twice per evidence of ~10k a scan
_DNS_LEARNED, _PAIR_CACHE = EvidenceKind.DNS_LEARNED, EvidenceKind.PAIR_CACHE
_PORT_ONLY = EvidenceKind.PORT_ONLY
_MINING = HitClass.MINING


class FlowDetector(Protocol):
    name: str

    def check(self, ctx: DetectContext, flows: Flows, now: float, skip: Skip = None) -> Found:
        """`(row, evidence)` for the rows of `flows` this detector flags.

        Rows marked in `skip` give no evidence: the engine already holds this detector's
        evidence for them (it checks again when a flow ends, and drops a second evidence of the
        same kind). They are still looked up, so a memory's LRU order and hit count are the
        same with or without the mask; only the evidence nobody would keep is not made."""
        ...


class IpList:
    """Server (or, for mid-session guesses, client) address in the compiled block list.

    A listed address inside an allowlisted range (CDN, cloud, public DNS, sinkholes: shared
    infrastructure, list-pitfalls §1) gives only weak evidence: it never makes a hit on the
    list's word alone and needs a second signal (payload, SNI/DNS name, remembered pair).
    """

    name = "ip-list"

    def check(self, ctx: DetectContext, flows: Flows, now: float, skip: Skip = None) -> Found:
        m = ctx.matcher
        found: Found = []
        sides = (("server", "s_hi", "s_lo", "sport"), ("client", "c_hi", "c_lo", "cport"))
        for side, hi, lo, port in sides:
            idx = m.lookup(flows[hi], flows[lo], flows[port])
            rows = np.flatnonzero(idx >= 0)
            if skip is not None:
                rows = rows[~skip[rows]]
            if not len(rows):
                continue
            shared = (
                ctx.allow.contains(flows[hi][rows], flows[lo][rows])
                if ctx.allow is not None
                else np.zeros(len(rows), dtype=bool)
            )
            for row, in_allow in zip(rows.tolist(), shared.tolist(), strict=True):
                e = m.entries[int(idx[row])]
                if e.category in _NOT_POOL:
                    continue  # an exception, or a subscriber address to verify: not a pool
                detail: dict[str, object] = {
                    "list_entry": e.value,
                    "list_source": e.source,
                    "list_side": side,
                }
                if e.port is not None:
                    detail["list_port"] = e.port
                if in_allow:
                    detail["shared_infrastructure"] = True
                ev = Evidence(
                    EvidenceKind.IP_LIST,
                    float(e.confidence),
                    HitClass.MINING,
                    f"ip-list-{e.category}",
                    detail,
                    weak=in_allow,
                )
                found.append((row, ev))
        return found


class DnsLearned:
    """Server address learned from a DNS answer for a pool domain earlier in the traffic."""

    name = "dns-learned"

    def check(self, ctx: DetectContext, flows: Flows, now: float, skip: Skip = None) -> Found:
        learned = ctx.learned
        rows = np.flatnonzero(learned.candidates(flows["s_lo"]))
        if not len(rows):
            return []
        # one conversion per column of the candidate rows (not of their whole records)
        s_hi, s_lo, when = (flows[c][rows].tolist() for c in ("s_hi", "s_lo", "last_ts"))
        at = rows.tolist()
        live = learned.live(zip(s_hi, s_lo, strict=True), when)
        if skip is not None:
            known = skip[rows].tolist()
            live = [(i, item) for i, item in live if not known[i]]
        return [
            (
                at[i],
                Evidence(_DNS_LEARNED, 0.85, _MINING, "dns-learned", {"learned_from": item.why}),
            )
            for i, item in live
        ]


class PairCacheCheck:
    """A client already confirmed mining against this server: TLS and no-payload flows too."""

    name = "pair-cache"

    def check(self, ctx: DetectContext, flows: Flows, now: float, skip: Skip = None) -> Found:
        pairs = ctx.pairs
        rows = np.flatnonzero(pairs.candidates(flows["s_lo"]))
        if not len(rows):
            return []
        # one conversion per column of the candidate rows (not of their whole records)
        c_hi, c_lo, s_hi, s_lo, when, uid = (
            flows[c][rows].tolist() for c in ("c_hi", "c_lo", "s_hi", "s_lo", "last_ts", "uid")
        )
        at = rows.tolist()
        known = skip[rows].tolist() if skip is not None else None
        found: Found = []
        for i, item in pairs.live(zip(c_hi, c_lo, s_hi, s_lo, strict=True), when):
            if item.origin != uid[i] and not (known is not None and known[i]):
                ev = Evidence(
                    _PAIR_CACHE, 0.9, _MINING, item.variant, {"pair_confirmed_by": item.label()}
                )
                found.append((at[i], ev))
        return found


class PortPrior:
    """A well-known pool port: a weak observation that never makes a hit on its own."""

    name = "port-only"

    def check(self, ctx: DetectContext, flows: Flows, now: float, skip: Skip = None) -> Found:
        sport = flows["sport"]
        prior = port_prior(sport)
        if skip is not None:
            prior = prior & ~skip
        rows = np.flatnonzero(prior)
        # one conversion for the rows and one for their ports (not a numpy scalar per row)
        return [
            (row, Evidence(_PORT_ONLY, 0.1, _MINING, "", {"pool_port": port}, weak=True))
            for row, port in zip(rows.tolist(), sport[rows].tolist(), strict=True)
        ]


FLOW_DETECTORS: dict[str, FlowDetector] = {
    "ip-list": IpList(),
    "dns-learned": DnsLearned(),
    "pair-cache": PairCacheCheck(),
    "port-only": PortPrior(),
}
