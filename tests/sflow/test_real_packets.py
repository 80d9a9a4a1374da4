"""Real captured frames wrapped as sFlow raw-header samples must reach the packet path intact:
same 5-tuples and payload bytes as the capture path, the Stratum signature still fires, and each
packet keeps its own sample's rate, agent and source."""

from __future__ import annotations

import numpy as np
import pytest

from pipelines.batch import RECORD_DTYPE, ST_OK, PacketBatch, addr_words
from pipelines.decoders.sflow import SflowBatch, SflowState, SflowStats, decode_datagrams, pack

from . import xdr
from .conftest import Frame, decode_frames, payload, stratum_match

COLUMNS = ["status", "family", "proto", "tcp_flags", "src_hi", "src_lo", "dst_hi", "dst_lo",
           "sport", "dport", "ip_len", "payload_len"]  # fmt: skip


def wrap(
    frames: list[bytes], *, rate: int = 1000, agent: str = "192.0.2.10", per_datagram: int = 5,
    max_header: int = 1 << 16, source_index: int = 3, first_seq: int = 1, expanded: bool = False,
    protocol: int = 1,
) -> list[bytes]:  # fmt: skip
    """One flow sample per frame, `per_datagram` samples per datagram, sequences from 1."""
    samples = [
        xdr.flow_sample(
            [xdr.sampled_header(f, protocol, max_header=max_header)],
            seq=first_seq + i,
            rate=rate,
            source_index=source_index,
            expanded=expanded,
        )
        for i, f in enumerate(frames)
    ]
    return [
        xdr.datagram(samples[i : i + per_datagram], agent=agent, seq=1 + i // per_datagram)
        for i in range(0, len(samples), per_datagram)
    ]


def run(
    datagrams: list[bytes], ts: float = 1_714_521_600.0
) -> tuple[SflowBatch, PacketBatch, SflowStats]:
    stats = SflowStats()
    buf, off, length = pack(datagrams)
    batch = decode_datagrams(buf, off, length, ts, SflowState(), stats)
    return batch, batch.packet_batch(), stats


@pytest.mark.parametrize("expanded", [False, True])
def test_whole_frames_decode_like_the_capture(bitcoin_mining: list[Frame], expanded: bool) -> None:
    frames = [f.data for f in bitcoin_mining]
    batch, pb, stats = run(wrap(frames, expanded=expanded))
    obuf, orig = decode_frames(frames)
    assert len(pb) == len(frames) == stats.packets
    assert stats.malformed_datagrams == stats.malformed_samples == 0
    for col in COLUMNS:
        assert np.array_equal(pb.packets[col], orig[col]), col
    for i in np.flatnonzero(orig["payload_len"]):
        assert payload(pb.buf, pb.packets[i]) == payload(obuf, orig[i])
    assert (batch.chunk.records["linktype"] == 1).all()
    assert (batch.chunk.records["wirelen"] == batch.chunk.records["caplen"]).all()
    assert (batch.chunk.records["ts"] == 1_714_521_600.0).all()
    assert (batch.sampled["frame_length"] == [len(f) + 4 for f in frames]).all()


def test_stratum_fires_on_sampled_packets(
    bitcoin_mining: list[Frame], cgminer: list[Frame]
) -> None:
    for capture in (bitcoin_mining, cgminer):
        frames = [f.data for f in capture]
        _, pb, _ = run(wrap(frames))
        hits = [
            i
            for i, p in enumerate(pb.packets)
            if p["status"] == ST_OK and stratum_match(payload(pb.buf, p), int(p["proto"]))
        ]
        obuf, orig = decode_frames(frames)
        expected = [
            i
            for i, p in enumerate(orig)
            if p["status"] == ST_OK and stratum_match(payload(obuf, p), int(p["proto"]))
        ]
        assert hits == expected and len(hits) >= 40


def test_128_byte_headers_keep_the_payload_prefix(bitcoin_mining: list[Frame]) -> None:
    """Switches send the first 128 bytes: the packet path sees exactly that prefix, and the
    signature answers on it as it would on the same prefix of the captured packet."""
    frames = [f.data for f in bitcoin_mining]
    _, pb, _ = run(wrap(frames, max_header=128))
    obuf, orig = decode_frames(frames)
    matches = 0
    for i, p in enumerate(pb.packets):
        assert int(pb.records[i]["caplen"]) == min(128, len(frames[i]))
        assert int(pb.records[i]["wirelen"]) == len(frames[i])
        assert p["sport"] == orig[i]["sport"] and p["src_lo"] == orig[i]["src_lo"]
        if p["status"] == ST_OK and orig[i]["payload_len"]:
            cut = payload(pb.buf, p)
            full = payload(obuf, orig[i])
            assert full.startswith(cut) and len(cut) == min(len(full), 128 - (
                int(orig[i]["payload_off"]) - sum(len(f) for f in frames[:i])
            ))  # fmt: skip
            matches += stratum_match(cut, 6)
            assert stratum_match(cut, 6) == stratum_match(full[: len(cut)], 6)
    assert matches >= 10  # some Stratum lines are short enough to match within 128 bytes


def test_two_agents_keep_their_rates_and_sources(bitcoin_mining: list[Frame]) -> None:
    frames = [f.data for f in bitcoin_mining]
    a = wrap(frames[:60], rate=512, agent="192.0.2.10", source_index=3)
    b = wrap(frames[60:120], rate=4096, agent="2001:db8::77", source_index=9, expanded=True)
    mixed = [d for pair in zip(a, b, strict=True) for d in pair]
    batch, pb, stats = run(mixed)
    s = batch.sampled
    v4 = s["agent_lo"] == addr_words("192.0.2.10")[1]
    hi6, lo6 = addr_words("2001:db8::77")
    v6 = (s["agent_hi"] == hi6) & (s["agent_lo"] == lo6)
    assert v4.sum() == 60 and v6.sum() == 60
    assert (s["sampling_rate"][v4] == 512).all() and (s["sampling_rate"][v6] == 4096).all()
    assert (s["source_index"][v4] == 3).all() and (s["source_index"][v6] == 9).all()
    # packets stay in datagram order and keep their frames' identities
    order = [i for k in range(0, 60, 5) for i in (*range(k, k + 5), *range(60 + k, 65 + k))]
    _, orig = decode_frames([frames[i] for i in order])
    assert np.array_equal(pb.packets["sport"], orig["sport"])
    assert stats.lost_datagrams == stats.lost_samples == stats.restarts == 0
    assert set(batch.datagrams["seq"].tolist()) == set(range(1, 13))


@pytest.mark.parametrize(("protocol", "linktype"), [(11, 228), (12, 229)])
def test_raw_ip_headers(cgminer: list[Frame], protocol: int, linktype: int) -> None:
    """header_protocol 11/12: the agent sends the IP packet without a link layer."""
    from scapy.layers.inet6 import IPv6
    from scapy.layers.l2 import Ether

    if protocol == 11:
        ips = [f.data[14:] for f in cgminer if f.data[12:14] == b"\x08\x00"][:50]
    else:  # the same TCP segments carried over IPv6 (rebuilt, addresses from the docs range)
        ips = []
        for f in cgminer[:50]:
            ip = Ether(f.data).payload
            ips.append(bytes(IPv6(src="2001:db8:20::5", dst="2001:db8:99::9") / ip.payload))
    batch, pb, _ = run(wrap(ips, protocol=protocol))
    assert (batch.chunk.records["linktype"] == linktype).all()
    assert (batch.sampled["header_protocol"] == protocol).all()
    _, orig = decode_frames(ips, linktype)
    for col in COLUMNS:
        assert np.array_equal(pb.packets[col], orig[col]), col
    assert (pb.packets["status"] == ST_OK).all()


def _engine_hits(batches: list[PacketBatch]) -> list[tuple[int, int, tuple[str, ...], str, int]]:
    from blacklist.matcher import Matcher
    from detector.context import DetectContext
    from detector.engine import Engine
    from detector.hits import FlowHit
    from pipelines.scan import FlowStage

    hits: list[FlowHit] = []
    stage = FlowStage(Engine(DetectContext(Matcher([])), hits.append), "test")
    for pb in batches:
        stage.feed(pb, float(pb.records["ts"].max()))
    stage.drain()
    return sorted(
        (h.client_port, h.server_port, tuple(map(str, h.evidence)), h.variant, h.packets)
        for h in hits
    )


@pytest.mark.parametrize("max_header", [1 << 16, 128])
def test_engine_hits_on_sampled_packets(bitcoin_mining: list[Frame], max_header: int) -> None:
    """The whole detection path (flow table, prefilter, signatures, pair cache) on sFlow
    packets, against the same path on the capture: identical hits when the agent sends whole
    frames; with switch-like 128-byte headers the Stratum subscriptions are still found."""
    frames = [f.data for f in bitcoin_mining]
    times = np.array([f.ts for f in bitcoin_mining])
    # whole frames of every packet are a stream only when the agent says 1-in-1; cut headers
    # at 1-in-1000 are judged one by one (pipelines.batch.PacketBatch.sampling)
    rate = 1 if max_header > 1500 else 1000
    datagrams = wrap(frames, max_header=max_header, per_datagram=1, rate=rate)
    sampled = []
    for i in range(0, len(datagrams), 16):  # batches, as the receive loop hands them over
        buf, off, length = pack(datagrams[i : i + 16])
        batch = decode_datagrams(buf, off, length, times[i : i + 16], SflowState(), SflowStats())
        sampled.append(batch.packet_batch())
    got = _engine_hits(sampled)
    captured = []
    for i in range(0, len(frames), 16):
        buf, packets = decode_frames(frames[i : i + 16])
        recs = np.zeros(len(packets), dtype=RECORD_DTYPE)
        recs["caplen"] = recs["wirelen"] = [len(f) for f in frames[i : i + 16]]
        recs["off"] = np.concatenate([[0], np.cumsum(recs["caplen"][:-1].astype(np.int64))])
        recs["ts"], recs["linktype"] = times[i : i + 16], 1
        captured.append(PacketBatch(buf, recs, packets))
    expected = _engine_hits(captured)
    stratum = {h[0] for h in expected if "stratum" in h[2]}
    assert len(stratum) >= 3
    if max_header > 1500:
        assert got == expected
    else:
        assert {h[0] for h in got if "stratum" in h[2]} >= {53288, 50520, 53310}
        # nothing the capture would not report; the HTTP getwork headers past byte 128 are gone,
        # so a few pair-cache flows that hang on them are missed (13 of 15 flows found)
        assert {h[0] for h in got} <= {h[0] for h in expected}
        assert len({h[0] for h in got}) >= len({h[0] for h in expected}) - 2
