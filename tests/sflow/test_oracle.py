"""tshark's sFlow dissector as the independent oracle, both ways round:

- datagrams a real switch sent (the shared ndpi__sflow.pcap) decode to what tshark reads;
- datagrams our test encoder builds from real frames read back in tshark as they were meant
  (so the encoder the other tests rely on is right), and our decoder agrees field by field.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest
from conftest import need_tshark  # tests/conftest.py

from pipelines.batch import addr_text
from pipelines.decoders.sflow import SflowBatch, SflowState, SflowStats, decode_datagrams, pack

from . import xdr
from .conftest import REAL_SFLOW, Frame

pytestmark = pytest.mark.tshark
SEP = "|"


def tshark(pcap: Path, fields: list[str]) -> list[dict[str, list[str]]]:
    """Per frame, every occurrence of each field, in dissection order."""
    cmd = [need_tshark(), "-r", str(pcap), "-T", "fields", "-E", "occurrence=a",
           "-E", f"aggregator={SEP}", "-E", "separator=\t"]  # fmt: skip
    for f in fields:
        cmd += ["-e", f]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    rows = []
    for line in out.splitlines():
        cells = line.split("\t")
        rows.append({f: (c.split(SEP) if c else []) for f, c in zip(fields, cells, strict=True)})
    return rows


def decode_all(datagrams: list[bytes]) -> tuple[SflowBatch, SflowStats]:
    stats = SflowStats()
    buf, off, length = pack(datagrams)
    return decode_datagrams(buf, off, length, 0.0, SflowState(), stats), stats


DATAGRAM_FIELDS = ["sflow_245.agent", "sflow_245.agent.v6", "sflow_245.sub_agent_id",
                   "sflow_245.sequence_number", "sflow_245.sysuptime",
                   "sflow_245.numsamples"]  # fmt: skip
SAMPLE_FIELDS = ["sflow.flow_sample.sequence_number", "sflow.flow_sample.sampling_rate",
                 "sflow.flow_sample.sample_pool", "sflow.flow_sample.dropped_packets",
                 "sflow.flow_sample.output_interface_value"]  # fmt: skip
COMPACT_FIELDS = ["sflow.flow_sample.index", "sflow.flow_sample.source_id_class",
                  "sflow.flow_sample.input_interface"]  # fmt: skip
EXPANDED_FIELDS = ["sflow.flow_sample.source_id_index", "sflow.flow_sample.source_id_type",
                   "sflow.flow_sample.input_interface_value"]  # fmt: skip
HEADER_FIELDS = ["sflow_245.header_protocol", "sflow_245.header.frame_length",
                 "sflow_245.header.payload_stripped", "sflow_245.header.sampled_header_length",
                 "sflow_245.header"]  # fmt: skip
OTHER_FIELDS = ["sflow.counters_sample.sequence_number", "sflow_245.ipv4_src",
                "sflow_245.ipv4_dst", "sflow_245.ip.source_port", "sflow.ip.destination_port",
                "tcp.srcport", "tcp.dstport"]  # fmt: skip
FIELDS = DATAGRAM_FIELDS + SAMPLE_FIELDS + COMPACT_FIELDS + EXPANDED_FIELDS + HEADER_FIELDS
FIELDS += OTHER_FIELDS


def check_against_tshark(pcap: Path, datagrams: list[bytes]) -> tuple[SflowBatch, SflowStats]:
    """Compare every datagram, flow sample, raw header and sampled IPv4 record with tshark."""
    batch, stats = decode_all(datagrams)
    rows = tshark(pcap, FIELDS)
    assert len(rows) == len(datagrams)
    pk = batch.packet_batch().packets
    recs = batch.chunk.records
    for i, row in enumerate(rows):
        dg = batch.datagrams[i]
        agent = addr_text(int(dg["agent_hi"]), int(dg["agent_lo"]))
        assert (row["sflow_245.agent"] or row["sflow_245.agent.v6"]) == [agent]
        for field, col in (("sub_agent_id", "sub_agent"), ("sequence_number", "seq"),
                           ("sysuptime", "uptime"), ("numsamples", "samples")):  # fmt: skip
            assert row[f"sflow_245.{field}"] == [str(dg[col])], field
        smp = batch.samples[batch.samples["datagram"] == i]
        for field, col in zip(SAMPLE_FIELDS, ["seq", "sampling_rate", "sample_pool", "drops",
                                              "output"], strict=True):  # fmt: skip
            assert row[field] == [str(v) for v in smp[col]], field
        compact = smp[smp["expanded"] == 0]
        wide = smp[smp["expanded"] == 1]
        for fields, part in ((COMPACT_FIELDS, compact), (EXPANDED_FIELDS, wide)):
            for field, col in zip(fields, ["source_index", "source_type", "input"], strict=True):
                assert row[field] == [str(v) for v in part[col]], field
        mine = np.flatnonzero(batch.sampled["datagram"] == i)
        assert row["sflow_245.header_protocol"] == [str(batch.sampled["header_protocol"][j])
                                                    for j in mine]  # fmt: skip
        assert row["sflow_245.header.frame_length"] == [
            str(batch.sampled["frame_length"][j]) for j in mine
        ]
        assert row["sflow_245.header.payload_stripped"] == [
            str(batch.sampled["stripped"][j]) for j in mine
        ]
        lengths = [int(v) for v in row["sflow_245.header.sampled_header_length"]]
        assert lengths == [int(recs[j]["caplen"]) for j in mine]
        buf = batch.chunk.buf
        for j, hexed, n in zip(mine, row["sflow_245.header"], lengths, strict=True):
            off = int(recs[j]["off"])
            assert bytes(buf[off : off + n]) == bytes.fromhex(hexed.replace(":", ""))[:n]
        tcp = [j for j in mine if pk[j]["proto"] == 6 and pk[j]["status"] == 0]
        assert row["tcp.srcport"] == [str(pk[j]["sport"]) for j in tcp]
        assert row["tcp.dstport"] == [str(pk[j]["dport"]) for j in tcp]
        fl = batch.flows[batch.flows["datagram"] == i]
        v4 = fl[fl["family"] == 4]
        assert row["sflow_245.ipv4_src"] == [addr_text(0, int(v)) for v in v4["src_lo"]]
        assert row["sflow_245.ipv4_dst"] == [addr_text(0, int(v)) for v in v4["dst_lo"]]
        assert row["sflow_245.ip.source_port"] == [str(v) for v in v4["sport"]]
        assert row["sflow.ip.destination_port"] == [str(v) for v in v4["dport"]]
    counter_seqs = sum(len(r["sflow.counters_sample.sequence_number"]) for r in rows)
    assert counter_seqs == stats.samples["counters"] + stats.samples["counters-expanded"]
    return batch, stats


def test_real_switch_datagrams(real_sflow: list[tuple[float, bytes]]) -> None:
    """Nine datagrams from a real Alcatel switch: counter samples and one sampled VLAN frame."""
    datagrams = [d for _, d in real_sflow]
    batch, stats = check_against_tshark(REAL_SFLOW, datagrams)
    assert stats.datagrams == 9 and stats.malformed_datagrams == 0
    assert stats.samples == {"counters": 8, "flow": 1}
    assert stats.counter_records == {"generic-interface": 8}
    assert stats.lost_datagrams == 0 and stats.restarts == 0  # sequence 415..423
    assert batch.datagrams["seq"].tolist() == list(range(415, 424))
    s = batch.sampled[0]
    got = (s["sampling_rate"], s["source_index"], s["input"], s["output"])
    assert got == (2048, 1043, 1048, 1043)
    rec = batch.chunk.records[0]
    assert (rec["caplen"], rec["wirelen"], rec["linktype"]) == (78, 78, 1)  # 82 − 4 stripped
    p = batch.packet_batch().packets[0]
    assert addr_text(int(p["src_hi"]), int(p["src_lo"])) == "172.21.32.254"
    assert addr_text(int(p["dst_hi"]), int(p["dst_lo"])) == "172.21.32.241"
    assert p["proto"] == 1  # ICMP behind an 802.1Q tag


def test_encoder_and_decoder_agree_with_tshark(tmp_path: Path, bitcoin_mining: list[Frame]) -> None:
    frames = [f.data for f in bitcoin_mining]
    datagrams = []
    seqs: dict[tuple[str, int], int] = {}

    def next_seq(agent: str, source: int) -> int:  # flow-sample sequences count per source
        seqs[agent, source] = seqs.get((agent, source), 0) + 1
        return seqs[agent, source]

    for n, start in enumerate(range(0, len(frames), 6)):
        chunk = frames[start : start + 6]
        if n % 2 == 0:  # agent A: IPv4, compact samples, 128-byte headers, extended switch
            samples = [
                xdr.flow_sample(
                    [xdr.sampled_header(f), xdr.extended_switch()],
                    seq=next_seq("a", 3 + k % 2),
                    rate=512,
                    source_index=3 + k % 2,
                    drops=n,
                    output_format=k % 2,
                    output_if=7 + k,
                )
                for k, f in enumerate(chunk)
            ]
            samples.append(xdr.counter_sample([xdr.generic_interface_counters()], seq=n))
            samples.append(xdr.flow_sample(
                [xdr.sampled_ipv4("10.20.0.5", "203.0.113.9", 40000 + n, 3333)],
                seq=next_seq("a", 5), source_index=5,
            ))  # fmt: skip
            datagrams.append(xdr.datagram(samples, seq=n // 2 + 1, uptime=1000 * n))
        else:  # agent B: IPv6, sub-agent 2, expanded samples, whole frames, stripped 0
            samples = [
                xdr.flow_sample(
                    [xdr.sampled_header(f, max_header=1 << 16, stripped=0)],
                    seq=next_seq("b", k),
                    rate=4096,
                    source_type=2,
                    source_index=0x01000000 + k,
                    input_if=11,
                    expanded=True,
                )
                for k, f in enumerate(chunk)
            ]
            samples.append(xdr.counter_sample([xdr.generic_interface_counters()], expanded=True))
            datagrams.append(xdr.datagram(samples, agent="2001:db8::a", sub_agent=2,
                                          seq=n // 2 + 1, uptime=1000 * n))  # fmt: skip
    pcap = tmp_path / "sflow.pcap"
    xdr.udp_pcap(pcap, datagrams)
    _, stats = check_against_tshark(pcap, datagrams)
    assert stats.packets == len(frames) and stats.flows == len(datagrams[::2])
    assert stats.lost_datagrams == stats.lost_samples == stats.malformed_datagrams == 0
    last = 2 * (len(datagrams[::2]) - 1)  # agent A's counters read n in its datagram n
    assert stats.drops == 2 * last  # sources 3 and 4 each grew from 0 to `last`
