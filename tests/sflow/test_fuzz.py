"""Property tests: no input makes the sFlow decoder raise or stall, the counters always add up,
and corruption never costs the samples that precede it."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipelines.batch import U8
from pipelines.decoders.sflow import (
    SflowBatch,
    SflowState,
    SflowStats,
    decode_datagrams,
    pack,
)
from pipelines.decoders.sflow_kernel import DG_PARTIAL, DG_TRUNCATED

from . import xdr

FAST = settings(
    max_examples=400,
    deadline=timedelta(milliseconds=500),
    suppress_health_check=[HealthCheck.too_slow],
)
U32 = st.integers(0, 2**32 - 1)
NASTY = st.sampled_from([0, 1, 3, 4, 5, 8, 16, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFC, 0xFFFFFFFF])


@st.composite
def flow_records(draw: st.DrawFn) -> list[bytes]:
    out = []
    for _ in range(draw(st.integers(0, 4))):
        kind = draw(st.sampled_from(["header", "header", "v4", "v6", "switch", "vendor"]))
        if kind == "header":
            frame = draw(st.binary(min_size=1, max_size=200))
            protocol = draw(st.sampled_from([1, 11, 12, 7, 99]))
            out.append(xdr.sampled_header(frame, protocol, max_header=draw(st.integers(1, 256))))
        elif kind == "v4":
            out.append(xdr.sampled_ipv4("10.0.0.1", "192.0.2.1", draw(st.integers(0, 65535)), 3333))
        elif kind == "v6":
            out.append(xdr.sampled_ipv6("2001:db8::1", "2001:db8::2", 1, 2))
        elif kind == "switch":
            out.append(xdr.extended_switch())
        else:
            out.append(xdr.record(draw(st.integers(0, 4095)), draw(st.binary(max_size=20)),
                                  enterprise=draw(st.integers(1, 2**20 - 1))))  # fmt: skip
    return out


@st.composite
def samples(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(["flow", "flow", "counters", "other"]))
    if kind == "flow":
        return xdr.flow_sample(
            draw(flow_records()), seq=draw(U32), rate=draw(U32), drops=draw(U32),
            source_index=draw(st.integers(0, 2**24 - 1)), expanded=draw(st.booleans()),
        )  # fmt: skip
    if kind == "counters":
        return xdr.counter_sample([xdr.generic_interface_counters()], expanded=draw(st.booleans()))
    enterprise = draw(st.integers(0, 3))  # a sample kind we do not decode
    fmt = draw(st.integers(6 if enterprise == 0 else 0, 4095))
    return xdr.record(fmt, draw(st.binary(max_size=40)), enterprise=enterprise)


@st.composite
def datagrams(draw: st.DrawFn) -> tuple[bytes, list[int]]:
    """A valid datagram and where each of its samples ends."""
    parts = draw(st.lists(samples(), max_size=6))
    agent = draw(st.sampled_from(["192.0.2.1", "192.0.2.2", "2001:db8::1"]))
    raw = xdr.datagram(parts, agent=agent, seq=draw(U32), uptime=draw(U32),
                       sub_agent=draw(st.integers(0, 3)))  # fmt: skip
    ends = np.cumsum([len(raw) - sum(map(len, parts)), *map(len, parts)])[1:].tolist()
    return raw, ends


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    raw, _ = draw(datagrams())
    data = bytearray(raw)
    for _ in range(draw(st.integers(1, 4))):
        if not data:
            break
        op = draw(st.sampled_from(["word", "byte", "cut", "insert"]))
        at = draw(st.integers(0, len(data) - 1))
        if op == "word":
            at -= at % 4
            data[at : at + 4] = xdr.u32(draw(NASTY))
        elif op == "byte":
            data[at] = draw(st.integers(0, 255))
        elif op == "cut":
            del data[at:]
        else:
            data[at:at] = draw(st.binary(min_size=1, max_size=8))
    return bytes(data)


def check(batch: SflowBatch, stats: SflowStats, buf: U8, off: np.ndarray, length: np.ndarray,
          ) -> None:  # fmt: skip
    """What must hold whatever the input."""
    n = len(off)
    assert stats.datagrams == n == len(batch.datagrams)
    assert stats.bytes == int(length.sum())
    recs, side = batch.chunk.records, batch.sampled
    assert len(recs) == len(side) == stats.packets and len(batch.flows) == stats.flows
    status = batch.datagrams["status"]
    assert stats.malformed_datagrams == int(
        ((status == DG_PARTIAL) | (status == DG_TRUNCATED)).sum()
    )
    assert stats.malformed_datagrams + stats.bad_version <= n
    assert sum(stats.samples.values()) >= len(batch.samples)
    assert sum(stats.flow_records.values()) >= stats.packets + stats.flows
    d = side["datagram"]
    assert ((recs["off"] >= off[d]) & (recs["off"] + recs["caplen"] <= off[d] + length[d])).all()
    assert (recs["caplen"] > 0).all() and (recs["wirelen"] >= recs["caplen"]).all()
    assert (side["sample"] < len(batch.samples)).all()
    assert (batch.samples["datagram"][side["sample"]] == d).all()
    assert (np.diff(batch.samples["datagram"]) >= 0).all()
    pk = batch.packet_batch().packets
    ends = recs["off"] + recs["caplen"]
    has = pk["payload_len"] > 0
    assert (pk["payload_off"][has] + pk["payload_len"][has] <= ends[has]).all()
    for name, _, value in stats.items():
        assert value >= 0, name


def run(raws: list[bytes], state: SflowState | None = None) -> tuple[SflowBatch, SflowStats]:
    stats = SflowStats()
    buf, off, length = pack(raws)
    batch = decode_datagrams(buf, off, length, 1.0, state or SflowState(), stats)
    check(batch, stats, buf, off, length)
    return batch, stats


def test_dense_adversarial_datagrams_finish_quickly() -> None:
    """64 KiB datagrams declaring 2**32 − 1 samples or records, packed with the smallest
    structures: the walk is bounded by the bytes, not by the declared counts."""
    import time

    tiny = xdr.record(9, b"")  # an 8-byte sample of a kind we skip
    many_samples = xdr.u32(5, 1, 0xC0000201, 0, 1, 1000, 2**32 - 1) + tiny * 8000
    record = xdr.record(1, xdr.u32(1, 64, 0) + xdr.opaque(b"\x45"))  # 1-byte raw header
    body = xdr.u32(1, 3, 1, 1, 0, 1, 2, 2**32 - 1) + record * 2600
    many_records = xdr.u32(5, 1, 0xC0000201, 0, 2, 1000, 1) + xdr.record(1, body)
    start = time.process_time()
    batch, stats = run([many_samples, many_records] * 8)
    assert time.process_time() - start < 2.0
    assert stats.samples["other"] == 8 * 8000 and stats.malformed_samples == 8
    assert stats.packets == 0  # the record list is shorter than declared: the sample is dropped
    fixed = xdr.u32(5, 1, 0xC0000201, 0, 3, 1000, 1) + xdr.record(
        1, xdr.u32(1, 3, 1, 1, 0, 1, 2, 2600) + record * 2600
    )
    batch, stats = run([fixed])
    assert stats.packets == 2600 and len(batch.chunk.records) == 2600


@FAST
@given(st.lists(st.binary(max_size=300), max_size=8))
def test_arbitrary_bytes(raws: list[bytes]) -> None:
    run(raws)


@FAST
@given(st.lists(st.binary(max_size=200), max_size=4))
def test_arbitrary_bytes_behind_a_valid_header(tails: list[bytes]) -> None:
    """Past the version check: garbage where the samples should be."""
    run([xdr.u32(5, 1, 0xC0000201, 0, i, 1000) + t for i, t in enumerate(tails)])


@FAST
@given(st.lists(datagrams(), min_size=1, max_size=6))
def test_valid_datagrams_decode_fully(items: list[tuple[bytes, list[int]]]) -> None:
    _, stats = run([raw for raw, _ in items])
    assert stats.malformed_datagrams == stats.malformed_samples == stats.bad_version == 0


@FAST
@given(st.lists(mutated(), min_size=1, max_size=6))
def test_mutated_datagrams(raws: list[bytes]) -> None:
    state = SflowState(max_streams=4, max_sources=8)
    run(raws, state)
    run(raws[::-1], state)  # the same state again: sequences jump around, restarts, reorders


@FAST
@given(datagrams(), st.data())
def test_corruption_keeps_the_samples_before_it(item: tuple[bytes, list[int]], data: st.DataObject,
                                                 ) -> None:  # fmt: skip
    raw, ends = item
    keep = data.draw(st.integers(0, len(ends)))
    cut = ends[keep - 1] if keep else 28 + (len(raw) > 28 and raw[7] == 2) * 12
    garbage = data.draw(st.binary(max_size=120))
    clean, _ = run([raw[:cut]])  # exactly the first `keep` samples
    dirty, _ = run([raw[:cut] + garbage])
    n = len(clean.sampled)
    assert len(dirty.sampled) >= n
    assert np.array_equal(dirty.sampled[:n], clean.sampled[:n])
    assert np.array_equal(dirty.chunk.records[:n], clean.chunk.records[:n])
    nf = len(clean.flows)
    assert np.array_equal(dirty.flows[:nf], clean.flows[:nf])
