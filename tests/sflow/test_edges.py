"""Each sFlow edge case on its own: sample forms, agents, stripped bytes, sequences, restarts,
counters, unknown formats, sampled IPv4/IPv6 records, and malformed datagrams."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from scapy.layers.inet import IP, TCP
from scapy.layers.l2 import Ether

from pipelines.batch import ST_OK, ST_UNSUPPORTED_LINK, addr_text, addr_words
from pipelines.decoders.sflow import (
    SflowBatch,
    SflowState,
    SflowStats,
    decode_datagram,
    decode_datagrams,
    pack,
)
from pipelines.decoders.sflow_kernel import DG_OK, DG_PARTIAL, DG_TRUNCATED, DG_VERSION

from . import xdr

STRATUM = b'{"id": 1, "method": "mining.subscribe", "params": ["cgminer/4.10.0"]}\n'
FRAME = bytes(
    Ether(src="02:00:00:00:00:0a", dst="02:00:00:00:00:0b")
    / IP(src="10.20.0.5", dst="203.0.113.9")
    / TCP(sport=50000, dport=3333, flags="PA")
    / STRATUM
)


def header(**kw: int) -> bytes:
    return xdr.sampled_header(FRAME, **kw)


def run(datagrams: list[bytes], state: SflowState | None = None, stats: SflowStats | None = None,
        ts: float = 100.0) -> tuple[SflowBatch, SflowStats]:  # fmt: skip
    stats = SflowStats() if stats is None else stats
    buf, off, length = pack(datagrams)
    return decode_datagrams(buf, off, length, ts, state or SflowState(), stats), stats


def seqs(*numbers: int) -> list[bytes]:
    """One datagram per number, each with one flow sample numbered like the datagram."""
    return [xdr.datagram([xdr.flow_sample([header()], seq=n)], seq=n) for n in numbers]


# -- forms and fields -----------------------------------------------------------------------


def test_compact_and_expanded_samples_carry_the_same_fields() -> None:
    common: dict[str, Any] = {"seq": 7, "rate": 256, "pool": 9000, "drops": 2, "input_if": 11,
                              "output_if": 12}  # fmt: skip
    compact = xdr.flow_sample([header()], source_type=1, source_index=0xABCDEF, **common)
    wide = xdr.flow_sample(
        [header()], source_type=2, source_index=0x12345678, expanded=True, **common
    )
    batch, stats = run([xdr.datagram([compact, wide])])
    s = batch.samples
    assert s["expanded"].tolist() == [0, 1]
    assert s["source_type"].tolist() == [1, 2]
    assert s["source_index"].tolist() == [0xABCDEF, 0x12345678]  # > 24 bits only when expanded
    for col, value in (("seq", 7), ("sampling_rate", 256), ("sample_pool", 9000), ("drops", 2),
                       ("input", 11), ("output", 12)):  # fmt: skip
        assert s[col].tolist() == [value, value], col
    assert stats.samples == {"flow": 1, "flow-expanded": 1}
    assert batch.sampled["sample"].tolist() == [0, 1]
    assert batch.sampled["source_index"].tolist() == [0xABCDEF, 0x12345678]
    pb = batch.packet_batch()
    assert (pb.packets["status"] == ST_OK).all() and (pb.packets["dport"] == 3333).all()


def test_output_discarded_format() -> None:
    batch, _ = run([xdr.datagram([xdr.flow_sample([header()], output_format=1, output_if=259)])])
    assert batch.sampled["output_format"][0] == 1 and batch.sampled["output"][0] == 259
    wide = xdr.flow_sample([header()], output_format=2, output_if=4, expanded=True)
    batch, _ = run([xdr.datagram([wide])])
    assert batch.samples["output_format"][0] == 2 and batch.samples["output"][0] == 4


@pytest.mark.parametrize("agent", ["192.0.2.10", "2001:db8::10"])
def test_agent_address_families(agent: str) -> None:
    batch, _ = run([xdr.datagram([xdr.flow_sample([header()])], agent=agent, sub_agent=3)])
    row = batch.datagrams[0]
    assert addr_text(int(row["agent_hi"]), int(row["agent_lo"])) == agent
    assert row["sub_agent"] == 3 and row["status"] == DG_OK
    hi, lo = addr_words(agent)
    assert batch.sampled["agent_hi"][0] == hi and batch.sampled["agent_lo"][0] == lo


def test_unknown_agent_address_type() -> None:
    raw = xdr.u32(5, 0, 0, 1, 1000, 1) + xdr.flow_sample([header()])
    batch, stats = run([raw])
    assert batch.datagrams["status"][0] == DG_OK and stats.packets == 1
    assert batch.sampled["agent_hi"][0] == 0 and batch.sampled["agent_lo"][0] == 0


@pytest.mark.parametrize(
    ("frame_length", "stripped", "wirelen"),
    [(None, 4, len(FRAME)), (None, 0, len(FRAME)), (1518, 4, 1514), (1518, 0, 1518), (50, 0, 64)],
)
def test_stripped_bytes_and_wire_length(
    frame_length: int | None, stripped: int, wirelen: int
) -> None:
    """wirelen = frame_length − stripped (what is left of the frame once the agent removed the
    FCS), never below the header length; the raw values stay in the side array."""
    rec = xdr.sampled_header(FRAME[:64], frame_length=frame_length, stripped=stripped)
    if frame_length is None:  # the whole frame, as a switch reports a short one
        rec = xdr.sampled_header(FRAME, stripped=stripped)
    batch, _ = run([xdr.datagram([xdr.flow_sample([rec])])])
    r = batch.chunk.records[0]
    assert int(r["wirelen"]) == wirelen
    assert int(batch.sampled["stripped"][0]) == stripped
    expected_fl = frame_length if frame_length is not None else len(FRAME) + stripped
    assert int(batch.sampled["frame_length"][0]) == expected_fl


def test_header_protocols_map_to_link_types() -> None:
    recs = [xdr.sampled_header(FRAME, 7), xdr.sampled_header(FRAME, 99), header()]
    batch, stats = run([xdr.datagram([xdr.flow_sample(recs)])])
    assert batch.chunk.records["linktype"].tolist() == [9, 0xFFFF, 1]
    st = batch.packet_batch().packets["status"].tolist()
    assert st == [ST_UNSUPPORTED_LINK, ST_UNSUPPORTED_LINK, ST_OK]
    assert stats.packets == 3


def test_read_only_buffer_and_numpy_scalar_time() -> None:
    raw = b"".join(seqs(1, 2))
    buf = np.frombuffer(raw, dtype=np.uint8)  # read-only, as np.frombuffer(bytes) gives
    off = np.array([0, len(raw) // 2])
    length = np.array([len(raw) // 2] * 2)
    batch = decode_datagrams(buf, off, length, np.float64(7.5), SflowState(), SflowStats())
    assert batch.chunk.records["ts"].tolist() == [7.5, 7.5]
    assert (batch.packet_batch().packets["dport"] == 3333).all()


def test_receive_time_per_datagram() -> None:
    buf, off, length = pack(seqs(1, 2, 3))
    ts = np.array([10.0, 20.0, 30.0])
    batch = decode_datagrams(buf, off, length, ts, SflowState(), SflowStats())
    assert batch.chunk.records["ts"].tolist() == [10.0, 20.0, 30.0]
    assert batch.sampled["datagram"].tolist() == [0, 1, 2]


# -- records --------------------------------------------------------------------------------


def test_unknown_records_are_skipped_by_length() -> None:
    vendor = xdr.record(7, b"\x01\x02\x03\x04\x05", enterprise=4413)  # 5 bytes, padded to 8
    unassigned = xdr.record(1050, b"\xff" * 12)
    out_of_range = xdr.record(1999, b"")
    recs = [
        vendor,
        unassigned,
        header(),
        out_of_range,
        xdr.extended_switch(),
        xdr.extended_router(),
    ]
    batch, stats = run([xdr.datagram([xdr.flow_sample(recs), xdr.flow_sample([header()], seq=2)])])
    assert stats.unknown_records == 3 and stats.packets == 2
    assert stats.flow_records == {
        "other": 2, "1050": 1, "sampled-header": 2, "extended-switch": 1, "extended-router": 1,
    }  # fmt: skip
    assert batch.samples["records"].tolist() == [6, 1]
    assert (batch.packet_batch().packets["dport"] == 3333).all()
    assert stats.malformed_samples == 0


def test_unknown_and_discard_samples_are_counted_and_skipped() -> None:
    vendor = xdr.record(1, b"\0" * 20, enterprise=8800)
    discarded = xdr.record(5, b"\0" * 24)
    dgram = xdr.datagram([vendor, discarded, xdr.record(9, b""), xdr.flow_sample([header()])])
    batch, stats = run([dgram])
    assert stats.samples == {"other": 2, "discarded": 1, "flow": 1}
    assert stats.packets == 1 and batch.datagrams["status"][0] == DG_OK


def test_counter_samples_are_counted_not_decoded() -> None:
    ctr = [xdr.generic_interface_counters(), xdr.record(2, b"\0" * 52), xdr.record(2001, b"")]
    dgram = xdr.datagram(
        [xdr.counter_sample(ctr), xdr.counter_sample(ctr[:1], seq=2, expanded=True)]
    )
    batch, stats = run([dgram])
    assert stats.samples == {"counters": 1, "counters-expanded": 1}
    assert stats.counter_records == {"generic-interface": 2, "ethernet": 1, "2001": 1}
    assert stats.packets == 0 and len(batch.samples) == 0 and stats.flow_records == {}


def test_sampled_ipv4_and_ipv6_become_flows() -> None:
    v4 = xdr.sampled_ipv4("10.20.0.5", "203.0.113.9", 50000, 3333, length=140, tcp_flags=0x18)
    v6 = xdr.sampled_ipv6("2001:db8:20::5", "2001:db8:99::9", 40000, 4444, proto=17, length=90)
    dgram = xdr.datagram(
        [xdr.flow_sample([v4, xdr.extended_switch()], rate=100), xdr.flow_sample([v6], seq=2)]
    )
    batch, stats = run([dgram], ts=55.5)
    f = batch.flows
    assert stats.flows == 2 and stats.packets == 0
    assert [addr_text(int(h), int(lo)) for h, lo in zip(f["src_hi"], f["src_lo"], strict=True)] == [
        "10.20.0.5", "2001:db8:20::5",
    ]  # fmt: skip
    assert addr_text(int(f["dst_hi"][1]), int(f["dst_lo"][1])) == "2001:db8:99::9"
    assert f["family"].tolist() == [4, 6] and f["proto"].tolist() == [6, 17]
    assert f["sport"].tolist() == [50000, 40000] and f["dport"].tolist() == [3333, 4444]
    assert f["ip_len"].tolist() == [140, 90] and f["tcp_flags"].tolist() == [0x18, 0x18]
    assert f["sampling_rate"].tolist() == [100, 1000] and f["ts"].tolist() == [55.5, 55.5]


def test_sampled_ipv4_beside_a_raw_header_is_not_a_second_packet() -> None:
    v4 = xdr.sampled_ipv4("10.20.0.5", "203.0.113.9", 50000, 3333)
    _, stats = run([xdr.datagram([xdr.flow_sample([v4, header()])])])
    assert stats.packets == 1 and stats.flows == 0 and stats.shadowed_flows == 1


def test_zero_sampling_rate_is_counted() -> None:
    batch, stats = run([xdr.datagram([xdr.flow_sample([header()], rate=0)])])
    assert stats.no_sampling_rate == 1 and batch.sampled["sampling_rate"][0] == 0


# -- sequences, restarts, drops ---------------------------------------------------------------


def test_datagram_and_sample_gaps() -> None:
    _, stats = run(seqs(1, 2, 5, 6, 10))
    assert stats.lost_datagrams == 5 and stats.lost_samples == 5
    assert stats.restarts == stats.reordered_datagrams == 0


def test_gaps_across_batches_use_the_state() -> None:
    state, stats = SflowState(), SflowStats()
    run(seqs(1, 2), state, stats)
    run(seqs(3, 7), state, stats)
    assert stats.lost_datagrams == 3 and stats.datagrams == 4
    run(seqs(1, 2), SflowState(), stats)  # a fresh state knows nothing: no gap
    assert stats.lost_datagrams == 3


def test_state_survives_pickling() -> None:
    """Saved and restored (a collector restart), the state still knows the last sequences."""
    import pickle

    state, stats = SflowState(), SflowStats()
    run(seqs(*range(1, 41)), state, stats)
    restored = pickle.loads(pickle.dumps(state))
    run(seqs(42), restored, stats)
    assert stats.lost_datagrams == 1 and stats.lost_samples == 1 and stats.restarts == 0


def test_agent_restart_is_not_a_gap() -> None:
    before = [
        xdr.datagram([xdr.flow_sample([header()], seq=n, drops=7)], seq=n, uptime=9_000_000 + n)
        for n in (500, 501)
    ]
    after = [
        xdr.datagram([xdr.flow_sample([header()], seq=n, drops=3)], seq=n, uptime=1_000 + n)
        for n in (1, 2, 4)
    ]
    _, stats = run(before + after)
    assert stats.restarts == 1
    assert stats.lost_datagrams == 1 and stats.lost_samples == 1  # only 3 is missing
    assert stats.drops == 3  # the drop counter starts over with the agent
    assert stats.sampler_resets == 0


def test_sequence_reset_with_small_uptime_step_is_a_restart() -> None:
    dg = [xdr.datagram([], seq=n, uptime=u) for n, u in ((90_000, 5_000_000), (1, 5_000_100))]
    _, stats = run(dg)
    assert stats.restarts == 1 and stats.lost_datagrams == 0


def test_late_datagram_is_reordered_not_a_restart() -> None:
    _, stats = run(seqs(1, 2, 4, 3, 5))
    assert stats.reordered_datagrams == 1 and stats.reordered_samples == 1
    assert stats.lost_datagrams == 1 and stats.restarts == 0
    _, stats = run(seqs(1, 2, 2, 3))
    assert stats.reordered_datagrams == 1 and stats.lost_datagrams == 0


def test_uptime_wrap_is_not_a_restart() -> None:
    dg = [xdr.datagram([], seq=n, uptime=u) for n, u in ((1, 2**32 - 500), (2, 300), (3, 900))]
    _, stats = run(dg)
    assert stats.restarts == 0 and stats.lost_datagrams == 0


def test_sequence_wraps_at_2_32() -> None:
    _, stats = run(seqs(2**32 - 2, 2**32 - 1, 0, 1))
    assert stats.restarts == 0 and stats.lost_datagrams == 0 and stats.lost_samples == 0


def test_sub_agents_and_sources_are_separate_streams() -> None:
    dg = []
    for n in range(1, 6):
        for sub in (0, 1):
            samples = [xdr.flow_sample([header()], seq=10 * n + src, source_index=src)
                       for src in (1, 2)]  # fmt: skip
            dg.append(xdr.datagram(samples, seq=n + 100 * sub, sub_agent=sub))
    _, stats = run(dg)
    # each source's sequence steps by 10: 9 lost per step, 4 steps, 2 sources, 2 sub-agents
    assert stats.lost_datagrams == 0 and stats.lost_samples == 9 * 4 * 2 * 2
    assert stats.restarts == stats.reordered_datagrams == 0


def test_sampler_reset_alone() -> None:
    dg = [xdr.datagram([xdr.flow_sample([header()], seq=s, drops=d)], seq=n)
          for n, (s, d) in enumerate([(5000, 10), (5001, 12), (1, 4), (2, 4)], 1)]  # fmt: skip
    _, stats = run(dg)
    assert stats.sampler_resets == 1 and stats.restarts == 0 and stats.lost_samples == 0
    assert stats.drops == 2 + 4


def test_drops_add_increases_of_the_cumulative_counter() -> None:
    dg = [xdr.datagram([xdr.flow_sample([header()], seq=n, drops=d)], seq=n)
          for n, d in enumerate([100, 105, 105, 120], 1)]  # fmt: skip
    batch, stats = run(dg)
    assert stats.drops == 20  # the first value is a baseline: drops before we listened
    assert batch.samples["drops"].tolist() == [100, 105, 105, 120]


def test_full_state_tables_count_untracked() -> None:
    state = SflowState(max_streams=1, max_sources=1)
    dg = [*seqs(1, 3), xdr.datagram([xdr.flow_sample([header()])], agent="192.0.2.99", seq=9)]
    _, stats = run(dg, state)
    assert stats.untracked == 2 and stats.lost_datagrams == 1 and stats.packets == 3
    assert len(state.streams) == 1 and len(state.sources) == 1


def test_state_tables_grow() -> None:
    state = SflowState()
    dg = [
        xdr.datagram(
            [xdr.flow_sample([header()], source_index=i)], agent=f"10.0.{i // 256}.{i % 256}"
        )
        for i in range(300)
    ]
    _, stats = run(dg, state)
    _, stats = run(dg, state, stats)
    assert len(state.streams) == 300 and len(state.sources) == 300
    assert stats.reordered_datagrams == 300 and stats.lost_datagrams == 0


# -- versions and garbage -------------------------------------------------------------------


def test_other_versions_are_counted() -> None:
    batch, stats = run([xdr.datagram([xdr.flow_sample([header()])], version=4), seqs(1)[0]])
    assert batch.datagrams["status"].tolist() == [DG_VERSION, DG_OK]
    assert stats.bad_version == 1 and stats.packets == 1 and stats.malformed_datagrams == 0


def test_header_longer_than_its_record_drops_that_sample_only() -> None:
    good = xdr.flow_sample([header()], seq=1)
    bad_rec = bytearray(header())
    bad_rec[20:24] = xdr.u32(4000)  # header_length far beyond the record
    bad = xdr.flow_sample([bytes(bad_rec)], seq=2)
    batch, stats = run([xdr.datagram([good, bad, xdr.flow_sample([header()], seq=3)])])
    assert stats.packets == 2 and batch.samples["seq"].tolist() == [1, 3]
    assert stats.malformed_samples == 1 and stats.malformed_datagrams == 1
    assert batch.datagrams["status"][0] == DG_PARTIAL


def test_sample_longer_than_the_datagram_keeps_earlier_samples() -> None:
    good = xdr.flow_sample([header()], seq=1)
    bad = bytearray(xdr.flow_sample([header()], seq=2))
    bad[4:8] = xdr.u32(1 << 20)
    _, stats = run([xdr.datagram([good, bytes(bad)])])
    assert stats.packets == 1 and stats.malformed_samples == 1 and stats.malformed_datagrams == 1


@pytest.mark.parametrize("count", [3, 1000, 2**32 - 1])
def test_declared_sample_count_larger_than_present(count: int) -> None:
    raw = bytearray(xdr.datagram([xdr.flow_sample([header()], seq=n) for n in (1, 2)]))
    raw[24:28] = xdr.u32(count)
    batch, stats = run([bytes(raw)])
    assert stats.packets == 2 and batch.datagrams["status"][0] == DG_PARTIAL
    assert batch.datagrams["samples"][0] == count


def test_huge_record_count_drops_the_sample() -> None:
    bad = bytearray(xdr.flow_sample([header()], seq=1))
    bad[8 + 28 : 8 + 32] = xdr.u32(2**32 - 1)
    _, stats = run([xdr.datagram([bytes(bad), xdr.flow_sample([header()], seq=2)])])
    assert stats.packets == 1 and stats.malformed_samples == 1


def test_every_truncation_keeps_the_complete_samples() -> None:
    samples = [xdr.flow_sample([header(), xdr.extended_switch()], seq=n) for n in (1, 2, 3)]
    full = xdr.datagram(samples)
    ends = np.cumsum([28] + [len(s) for s in samples])  # where each sample ends
    for cut in range(len(full) + 1):
        batch, stats = run([full[:cut]])
        complete = int((ends[1:] <= cut).sum())
        assert stats.packets == complete, cut
        if cut < 28:
            assert batch.datagrams["status"][0] == DG_TRUNCATED
        elif cut < len(full):
            assert batch.datagrams["status"][0] == DG_PARTIAL
    assert stats.malformed_datagrams == 0


def test_arguments_are_checked_and_empty_batches_work() -> None:
    buf, off, length = pack([b"x" * 10])
    with pytest.raises(ValueError):
        decode_datagrams(buf, off, length + 1, 0.0, SflowState(), SflowStats())
    stats = SflowStats()
    batch = decode_datagrams(buf[:0], off[:0], length[:0], 0.0, SflowState(), stats)
    assert len(batch.chunk.records) == 0 and stats.datagrams == 0
    assert len(batch.packet_batch()) == 0
    one = decode_datagram(seqs(1)[0], 1.0, SflowState(), stats)
    assert len(one.sampled) == 1 and stats.datagrams == 1


def test_stats_items_are_bounded_and_complete() -> None:
    _, stats = run(seqs(1, 3))
    items = list(stats.items())
    names = {name for name, _, _ in items}
    assert {"datagrams", "lost_datagrams", "samples", "flow_records", "drops"} <= names
    assert ("samples", {"kind": "flow"}, 2) in items
    assert ("flow_records", {"format": "sampled-header"}, 2) in items


def test_known_flow_formats_agree_with_the_kernel() -> None:
    """The kernel counts as unknown exactly the enterprise-0 formats FLOW_FORMATS lacks."""
    from pipelines.decoders.sflow import FLOW_FORMATS

    assert set(FLOW_FORMATS) == {*range(1, 5), *range(1001, 1013)}
