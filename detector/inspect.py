"""Per-flow payload inspection of candidate packets: signatures plus DNS and TLS names.

Only the packets chosen by `detector.prefilter` reach this module. Each flow under inspection
keeps the first bytes of each direction (so JSON split across segments, or a ClientHello spread
over several, can still be read) and, per direction, the signatures that already excluded it: a
pool's "400 Bad Request" excludes HTTP mining for the server side only, the client's getwork POST
that follows must still be read. A flow is decided when a signature matches, or when every
signature has excluded both directions.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from blacklist.entries import Category
from detector.base import Evidence, EvidenceKind, HitClass, Outcome, Signature, Verdict
from detector.extract import TLS_CAP, client_hello_sni, dns_names, dns_qname
from detector.extract.tls import TlsHello, sni_text
from detector.extract.tls_fast import FOUND, NO_SNI, sni_span
from detector.prefilter import DNS_PORTS, STREAM_CAP
from detector.signatures import FAMILIES, family_of
from detector.signatures.jsonlines import close_cut_line
from pipelines.batch import addr_words

if TYPE_CHECKING:
    from detector.context import DetectContext

CONFIRMING = frozenset({EvidenceKind.STRATUM, EvidenceKind.HTTP_MINING, EvidenceKind.SNI})
CONFIRM_MIN = (
    0.9  # weaker matches (a lone pool error reply, a miner UA) do not enter the pair cache
)


class FlowState:
    """Python-side state of one flow that has been looked at (few flows at a time).

    Most states only carry endpoint evidence (a listed address, a remembered pair) and never
    read a byte, so the inspection buffers (`streams`, `excluded`, `finished`, `provisional`)
    are made by `open`, on the flow's first payload; until then `streams` is empty and the other
    three are unset. A hand-written class: a scan makes one per flow with evidence, and the
    dataclass with six factories cost three times as much.
    """

    __slots__ = (
        "done",
        "evidence",
        "excluded",
        "finished",
        "pending",
        "provisional",
        "streams",
        "tls",
    )  # fmt: skip
    streams: tuple[bytearray, ...]
    excluded: tuple[set[str], ...]
    finished: set[bool]  # directions (from_client) with nothing live
    provisional: dict[str, Evidence]  # NEED_MORE with a verdict

    def __init__(self) -> None:
        self.evidence: list[Evidence] = []
        self.streams = ()
        self.pending = self.done = self.tls = False

    def open(self) -> None:
        """Make the inspection buffers (first payload of the flow)."""
        self.streams = (bytearray(), bytearray())
        self.excluded = (set(), set())
        self.finished = set()
        self.provisional = {}

    def restart(self) -> None:
        """Forget the bytes and the exclusions, keep the evidence: the next packet is judged
        on its own (a sample, not the continuation of the previous one)."""
        if not self.streams:
            return
        for stream in self.streams:
            stream.clear()
        for excluded in self.excluded:
            excluded.clear()
        self.finished.clear()
        self.pending = self.tls = False

    def leftover(self) -> list[Evidence]:
        """The provisional verdicts (what the payload said before the flow ended)."""
        return list(self.provisional.values()) if self.streams else []

    def add(self, ev: Evidence) -> None:
        for have in self.evidence:
            if have.kind == ev.kind and have.variant == ev.variant:
                have.confidence = max(have.confidence, ev.confidence)
                for k, v in ev.detail.items():
                    have.detail.setdefault(k, v)
                return
        self.evidence.append(ev)


def inspect_packet(
    ctx: DetectContext,
    st: FlowState,
    payload: bytes,
    from_client: bool,
    proto: int,
    sport: int,
    dport: int,
    now: float,
    truncated: bool = False,
) -> bool:
    """Feed one candidate payload to the inspectors; True when a confirming match was made.

    `truncated`: the packet was cut on purpose (a sampled header) and is inspected on its own:
    a JSON line it cuts off is judged by its opening members (`close_cut_line`)."""
    if not st.streams:
        st.open()
    if sport in DNS_PORTS or dport in DNS_PORTS:  # every packet of the flow: its bytes unread
        _dns(ctx, st, payload, proto == 6, now)
        return False
    stream = st.streams[0 if from_client else 1]
    if stream:  # a continuation: judge the direction's first bytes so far
        tls = st.tls
        room = (TLS_CAP if tls else STREAM_CAP) - len(stream)
        if room > 0:
            stream += payload[:room]
        data = bytes(stream)
    else:  # the first payload: judged as it is, kept only if the flow goes on
        tls = st.tls or payload[:2] == b"\x16\x03"
        cap = TLS_CAP if tls else STREAM_CAP
        data = payload if len(payload) <= cap else payload[:cap]
    confirmed = _judge(ctx, st, data, tls, from_client, proto, truncated)
    if not stream and not st.done:
        stream += data
    return confirmed


def _judge(
    ctx: DetectContext,
    st: FlowState,
    data: bytes,
    tls: bool,
    from_client: bool,
    proto: int,
    truncated: bool,
) -> bool:
    """`inspect_packet` on the direction's bytes so far (`data`)."""
    if tls:
        st.tls = True
        if from_client:
            hello = _hello(data)
            if hello.need_more:
                st.pending = True
                return False
            st.pending = False
            st.done = True  # after the ClientHello everything is encrypted
            if hello.sni:
                ctx.stats.sni += 1
                ev = _name_evidence(ctx, hello.sni, EvidenceKind.SNI, "sni")
                if ev is not None:
                    st.add(ev)
                    return ev.confidence >= CONFIRM_MIN
        return False
    if _signatures(ctx.signatures, st, data, from_client, proto):
        return True
    if truncated and not st.done and (closed := close_cut_line(data)) is not None:
        st.excluded[0 if from_client else 1].clear()
        confirmed = _signatures(ctx.signatures, st, closed, from_client, proto)
        if st.evidence and st.evidence[-1].kind == EvidenceKind.STRATUM:
            st.evidence[-1].detail["truncated"] = True
        return confirmed
    return False


def _hello(data: bytes) -> TlsHello:
    """The ClientHello's server name: the compiled walk for a well-formed single-record hello
    (nearly all of them), the full parser for everything else."""
    status, off, length = sni_span(np.frombuffer(data, dtype=np.uint8))
    if status == FOUND:
        return TlsHello(sni=sni_text(data[off : off + length]), is_client_hello=True)
    if status == NO_SNI:
        return TlsHello(is_client_hello=True)
    return client_hello_sni(data)


def _signatures(
    sigs: dict[str, Signature], st: FlowState, data: bytes, from_client: bool, proto: int
) -> bool:
    st.pending = False
    live = 0
    excluded = st.excluded[0 if from_client else 1]
    for name in FAMILIES[family_of(data)]:
        sig = sigs.get(name)
        if sig is None or name in excluded or proto not in sig.transports:
            continue
        verdict = sig.inspect(data, from_client, proto)
        outcome = verdict.outcome
        if outcome is _MATCH:
            ev = _evidence(verdict)
            if st.evidence:
                st.add(ev)
            else:  # the usual first evidence: nothing to merge with
                st.evidence.append(ev)
            st.done = True
            return (
                verdict.cls == _MINING
                and verdict.kind in CONFIRMING
                and verdict.confidence >= CONFIRM_MIN
            )
        if outcome is _EXCLUDE:
            excluded.add(name)
            if st.provisional:
                st.provisional.pop(name, None)
        else:
            st.pending = True
            live += 1
            if verdict.confidence > 0:
                st.provisional[name] = _evidence(verdict)
    if not live:
        st.finished.add(from_client)
        st.done = len(st.finished) == 2
    return False


_MATCH, _EXCLUDE, _MINING = Outcome.MATCH, Outcome.EXCLUDE, HitClass.MINING


def _evidence(verdict: Verdict) -> Evidence:
    """The verdict as evidence, with its own copy of the detail (evidence details grow)."""
    return Evidence(
        verdict.kind, verdict.confidence, verdict.cls, verdict.variant, dict(verdict.detail)
    )


def _name_evidence(
    ctx: DetectContext, name: str, kind: EvidenceKind, label: str
) -> Evidence | None:
    idx = ctx.matcher.match_domain(name)
    if idx < 0:
        return None
    entry = ctx.matcher.entries[idx]
    if entry.category is Category.ALLOWLIST:
        return None
    cls = HitClass.MINING
    return Evidence(
        kind,
        float(entry.confidence),
        cls,
        f"{label}-{entry.category}",
        {label: name, "list_entry": entry.value, "list_source": entry.source},
    )


def _dns(ctx: DetectContext, st: FlowState, payload: bytes, over_tcp: bool, now: float) -> None:
    """Names in DNS: a pool name in the question is evidence; its answers teach endpoints.

    The question is read by the hand-written fast path; the full (dpkt) parse of answers runs
    only for messages about listed names, so ordinary DNS costs a few microseconds.
    """
    qname = dns_qname(payload, over_tcp=over_tcp)
    if qname is None:
        ctx.stats.dns_bad += 1
        return
    ctx.stats.dns += 1
    if ctx.matcher.match_domain(qname) < 0:
        return
    info = dns_names(payload, over_tcp=over_tcp)
    if info is None:
        return
    pool_names: set[str] = set()
    for q in info.qnames:
        ev = _name_evidence(ctx, q, EvidenceKind.DNS, "domain")
        if ev is not None:
            pool_names.add(q)
            ev.detail["dns"] = "response" if info.is_response else "query"
            st.add(ev)
    if not info.is_response:
        return
    # follow CNAME chains from pool names; A/AAAA of any name in the chain become endpoints
    for _ in range(8):
        grew = False
        for ans in info.answers:
            if ans.rtype == "CNAME" and ans.name in pool_names and ans.value not in pool_names:
                pool_names.add(ans.value)
                grew = True
        if not grew:
            break
    for ans in info.answers:
        if ans.rtype in ("A", "AAAA") and (
            ans.name in pool_names or ctx.matcher.match_domain(ans.name) >= 0
        ):
            try:
                addr = addr_words(ans.value)
            except ValueError:
                continue
            ctx.learned.learn(addr, now, float(ans.ttl), f"{ans.rtype} of {ans.name}")
            ctx.stats.learned += 1
