"""`inspect_packet` and `_signatures` give exactly what the straightforward versions gave.

The rewrite judges a direction's first payload as it is (no `bytes(stream)` copy) and keeps it
in the stream only when the flow goes on, leaves the stream of a DNS flow empty (no DNS packet
reads it), and tightens the signature loop. The oracle below is the code as it was. Both run
on copies of the same flow state for every candidate the scan makes from the repo's samples and
the shared mining captures, and on generated packet sequences; the states after each call
(evidence, provisional verdicts, exclusions, flags, and the kept bytes while the flow goes on)
and the answers must be identical.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import detector.engine as engine_module
from detector import inspect as ins
from detector.base import (
    EXCLUDE,
    NEED_MORE,
    Evidence,
    EvidenceKind,
    HitClass,
    Outcome,
    Signature,
    Verdict,
)
from detector.context import DetectContext
from detector.extract import TLS_CAP
from detector.prefilter import DNS_PORTS, STREAM_CAP
from detector.signatures import FAMILIES, family_of
from detector.signatures.jsonlines import close_cut_line
from minewatch.lists import build_matcher
from minewatch.scanrun import collect_hits
from tests.conftest import MINING, SAMPLES, captures, need_shared
from tests.signatures import samples

# --- the oracle: inspect_packet and _signatures as they were ------------------------------------


def _reference_signatures(
    sigs: dict[str, Signature], st: ins.FlowState, data: bytes, from_client: bool, proto: int
) -> bool:
    st.pending = False
    live = 0
    excluded = st.excluded[0 if from_client else 1]
    for name in FAMILIES[family_of(data)]:
        sig = sigs.get(name)
        if sig is None or name in excluded or proto not in sig.transports:
            continue
        verdict = sig.inspect(data, from_client, proto)
        if verdict.outcome is Outcome.MATCH:
            st.add(
                Evidence(
                    verdict.kind, verdict.confidence, verdict.cls, verdict.variant,
                    dict(verdict.detail),
                )
            )  # fmt: skip
            st.done = True
            return (
                verdict.cls == HitClass.MINING
                and verdict.kind in ins.CONFIRMING
                and verdict.confidence >= ins.CONFIRM_MIN
            )
        if verdict.outcome is Outcome.EXCLUDE:
            excluded.add(name)
            st.provisional.pop(name, None)
        else:
            st.pending = True
            live += 1
            if verdict.confidence > 0:
                st.provisional[name] = Evidence(
                    verdict.kind, verdict.confidence, verdict.cls, verdict.variant,
                    dict(verdict.detail),
                )  # fmt: skip
    if not live:
        st.finished.add(from_client)
        st.done = len(st.finished) == 2
    return False


def reference_inspect(
    ctx: DetectContext,
    st: ins.FlowState,
    payload: bytes,
    from_client: bool,
    proto: int,
    sport: int,
    dport: int,
    now: float,
    truncated: bool = False,
) -> bool:
    if not st.streams:
        st.open()
    stream = st.streams[0 if from_client else 1]
    tls = st.tls or (not stream and payload[:2] == b"\x16\x03")
    room = (TLS_CAP if tls else STREAM_CAP) - len(stream)
    if room > 0:
        stream += payload[:room]
    if sport in DNS_PORTS or dport in DNS_PORTS:
        ins._dns(ctx, st, payload, proto == 6, now)
        return False
    data = bytes(stream)
    if tls:
        st.tls = True
        if from_client:
            hello = ins._hello(data)
            if hello.need_more:
                st.pending = True
                return False
            st.pending = False
            st.done = True
            if hello.sni:
                ctx.stats.sni += 1
                ev = ins._name_evidence(ctx, hello.sni, EvidenceKind.SNI, "sni")
                if ev is not None:
                    st.add(ev)
                    return ev.confidence >= ins.CONFIRM_MIN
        return False
    if _reference_signatures(ctx.signatures, st, data, from_client, proto):
        return True
    if truncated and not st.done and (closed := close_cut_line(data)) is not None:
        st.excluded[0 if from_client else 1].clear()
        confirmed = _reference_signatures(ctx.signatures, st, closed, from_client, proto)
        if st.evidence and st.evidence[-1].kind == EvidenceKind.STRATUM:
            st.evidence[-1].detail["truncated"] = True
        return confirmed
    return False


# --- comparing ---------------------------------------------------------------------------------


def _state(st: ins.FlowState, dns: bool) -> tuple[Any, ...]:
    """Everything the engine and `finish` read, plus the kept bytes while the flow goes on (the
    engine clears them when it is done; a DNS flow never reads them)."""
    opened = bool(st.streams)
    return (
        st.done,
        st.pending,
        st.tls,
        repr(st.evidence),
        repr(st.provisional) if opened else None,
        [sorted(x) for x in st.excluded] if opened else None,
        sorted(st.finished) if opened else None,
        [bytes(s) for s in st.streams] if opened and not st.done and not dns else None,
    )


def _matcher() -> Any:
    return build_matcher((), None, use_db=False)[0]


class Twin:
    """Runs the product and the oracle side by side on copies of one flow state."""

    def __init__(self, ctx: DetectContext) -> None:
        self.ctx = ctx
        self.oracle_ctx = DetectContext(ctx.matcher, signatures=ctx.signatures)
        self.calls = 0

    def __call__(self, st: ins.FlowState, *args: Any) -> bool:
        before = copy.deepcopy(st)
        want = reference_inspect(self.oracle_ctx, before, *args)
        got = ins.inspect_packet(self.ctx, st, *args)
        dns = args[3] in DNS_PORTS or args[4] in DNS_PORTS
        assert (got, _state(st, dns)) == (want, _state(before, dns)), args[0][:80]
        self.calls += 1
        return got


# --- real candidates: every inspect_packet call of a scan ----------------------------------------


def _real_files() -> Iterator[Path]:
    yield from sorted(SAMPLES.glob("*.pcap"))
    need_shared()
    yield from captures(MINING)


def test_scan_candidates_agree(monkeypatch: pytest.MonkeyPatch) -> None:
    matcher = _matcher()
    twins: list[Twin] = []

    def twin(ctx: DetectContext, st: ins.FlowState, *args: Any) -> bool:
        if not twins or twins[-1].ctx is not ctx:
            twins.append(Twin(ctx))
        return twins[-1](st, *args)

    monkeypatch.setattr(engine_module, "inspect_packet", twin)
    files = list(_real_files())
    for path in files:
        collect_hits([path], matcher)
    assert sum(t.calls for t in twins) > 500, "too few candidates: the test lost its data"


# --- generated packet sequences ------------------------------------------------------------------


def _pieces() -> list[bytes]:
    found = [v for k, v in vars(samples).items() if k.isupper() and isinstance(v, bytes) and v]
    return [
        *found,
        b"POST / HTTP/1.1\r\nHost: p\r\nContent-Type: application/json\r\n"
        b"X-Mining-Extensions: midstate\r\nContent-Length: 44\r\n\r\n",
        b'{"method": "getwork", "params": [], "id": 0}\n',
        b"HTTP/1.1 200 OK\r\nX-Stratum: stratum+tcp://p:3333\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: example.com\r\nUser-Agent: cgminer/4.9\r\n\r\n",
        b"\x16\x03\x01\x00\x05\x01\x00\x00\x01\x03",
        b"\xf9\xbe\xb4\xd9version\x00\x00\x00\x00\x00",
        b"\x00" * 5000,
        b"",
    ]


PIECES = _pieces()


@st.composite
def packets(draw: st.DrawFn) -> list[tuple[bytes, bool, bool]]:
    """A flow's payloads: pieces (or cuts of them), each from one side, some cut on purpose."""
    out = []
    for _ in range(draw(st.integers(1, 5))):
        piece = draw(st.sampled_from(PIECES))
        if draw(st.integers(0, 2)) == 0:
            a = draw(st.integers(0, len(piece)))
            piece = piece[a:] if draw(st.booleans()) else piece[:a]
        out.append((piece, draw(st.booleans()), draw(st.integers(0, 5)) == 0))
    return out


@settings(
    max_examples=800,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(packets(), st.sampled_from([6, 6, 17]), st.sampled_from([3333, 443, 80, 53]))
def test_generated_flows_agree(flow: list[tuple[bytes, bool, bool]], proto: int, port: int) -> None:
    twin = Twin(DetectContext(_MATCHER))
    st_ = ins.FlowState()
    for payload, from_client, truncated in flow:
        if st_.done:
            break
        twin(st_, payload, from_client, proto, 50000, port, 1.0, truncated)
        if st_.done:  # as the engine does
            for stream in st_.streams:
                stream.clear()


_MATCHER = _matcher()


# --- the signature loop on its own, with scripted signatures --------------------------------------


class Scripted:
    """A signature that answers from a script, one verdict per call."""

    def __init__(self, name: str, script: list[Verdict], transports: frozenset[int]) -> None:
        self.name, self.script, self.transports = name, list(script), transports

    def inspect(self, data: bytes, from_client: bool, transport: int) -> Verdict:
        return self.script.pop(0) if self.script else EXCLUDE


_VERDICTS = [
    EXCLUDE,
    NEED_MORE,
    Verdict(Outcome.NEED_MORE, EvidenceKind.HTTP_MINING, HitClass.MINING, "h", 0.93, {"a": 1}),
    Verdict(Outcome.MATCH, EvidenceKind.STRATUM, HitClass.MINING, "s", 0.97, {"m": [1]}),
    Verdict(Outcome.MATCH, EvidenceKind.STRATUM, HitClass.MINING, "s", 0.6, {"m": [2]}),
    Verdict(Outcome.MATCH, EvidenceKind.COIN_P2P, HitClass.COIN_P2P, "b", 0.95, {}),
]


@settings(max_examples=600, deadline=None, database=None)
@given(
    st.dictionaries(
        st.sampled_from(FAMILIES["other"]),
        st.tuples(
            st.lists(st.sampled_from(_VERDICTS), max_size=4),
            st.sampled_from([frozenset({6}), frozenset({17}), frozenset({6, 17})]),
        ),
    ),
    st.lists(st.tuples(st.booleans(), st.sampled_from([b"\x00x", b"{}\n", b"GET / "])), max_size=6),
    st.sampled_from([6, 17]),
    st.booleans(),
)
def test_signature_loop_agrees(
    scripts: dict[str, tuple[list[Verdict], frozenset[int]]],
    calls: list[tuple[bool, bytes]],
    proto: int,
    evidence_first: bool,
) -> None:
    def sigs() -> dict[str, Signature]:
        return {n: Scripted(n, s, t) for n, (s, t) in scripts.items()}

    mine, theirs = sigs(), sigs()
    a, b = ins.FlowState(), ins.FlowState()
    for state in (a, b):
        state.open()
        if evidence_first:
            state.add(Evidence(EvidenceKind.STRATUM, 0.5, HitClass.MINING, "s", {"x": 1}))
    for from_client, data in calls:
        if a.done:
            break
        got = ins._signatures(mine, a, data, from_client, proto)
        want = _reference_signatures(theirs, b, data, from_client, proto)
        assert (got, _state(a, False)) == (want, _state(b, False))
