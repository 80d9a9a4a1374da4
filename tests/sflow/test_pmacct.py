"""A real sFlow exporter as the oracle: pmacct's pmacctd (Debian package `pmacct`) replays a
mining capture through its sfprobe plugin and exports sFlow v5 over loopback UDP to a socket
this test holds. Whatever pmacct samples must come out of our decoder as the capture's own
frames (128-byte header prefixes), with pmacct's agent, sub-agent, rate and sequences."""

from __future__ import annotations

import shutil
import socket
import subprocess
from pathlib import Path

import numpy as np
import pytest
from conftest import MINING, need_shared  # tests/conftest.py

from pipelines.batch import ST_OK, addr_text
from pipelines.decoders.sflow import SflowBatch, SflowState, SflowStats, decode_datagrams, pack

from .conftest import decode_frames, payload, read_frames, stratum_match

AGENT, SUB_AGENT = "192.0.2.77", 7


def need_pmacctd() -> str:
    exe = shutil.which("pmacctd", path="/usr/sbin:/usr/bin:/sbin:/bin")
    if exe is None:
        pytest.skip("SKIPPED LOUDLY: pmacctd (Debian package pmacct, a real sFlow exporter) "
                    "is not installed")  # fmt: skip
    return exe


def export(tmp_path: Path, capture: Path, rate: int) -> list[bytes]:
    """Run pmacctd over `capture` (sfprobe, 1-in-`rate`) and collect what it sends us."""
    exe = need_pmacctd()
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    rx.bind(("127.0.0.1", 0))
    conf = tmp_path / "pmacctd.conf"
    conf.write_text(
        "daemonize: false\n"
        f"pcap_savefile: {capture}\n"
        "plugins: sfprobe\n"
        f"sfprobe_receiver: 127.0.0.1:{rx.getsockname()[1]}\n"
        f"sfprobe_agentip: {AGENT}\n"
        f"sfprobe_agentsubid: {SUB_AGENT}\n"
        f"sampling_rate: {rate}\n"
    )
    try:
        subprocess.run([exe, "-f", str(conf)], capture_output=True, timeout=120, check=False)
        rx.settimeout(1.0)
        out = []
        while True:
            try:
                out.append(rx.recv(65535))
            except TimeoutError:
                return out
    finally:
        rx.close()


def decode(datagrams: list[bytes]) -> tuple[SflowBatch, SflowStats]:
    stats = SflowStats()
    batch = decode_datagrams(*pack(datagrams), 1.0, SflowState(), stats)
    assert stats.malformed_datagrams == stats.malformed_samples == stats.bad_version == 0
    assert stats.lost_datagrams == stats.lost_samples == stats.restarts == 0
    row = batch.datagrams[0]
    assert addr_text(int(row["agent_hi"]), int(row["agent_lo"])) == AGENT
    assert (batch.datagrams["sub_agent"] == SUB_AGENT).all()
    assert batch.datagrams["seq"].tolist() == list(range(1, len(datagrams) + 1))
    return batch, stats


def headers(batch: SflowBatch) -> list[bytes]:
    buf = batch.chunk.buf
    return [bytes(buf[int(r["off"]) : int(r["off"]) + int(r["caplen"])])
            for r in batch.chunk.records]  # fmt: skip


def test_every_packet_of_a_mining_capture(tmp_path: Path) -> None:
    need_shared()
    capture = MINING / "zeek-cryptomining__bitcoin-mining.pcap"
    frames = [f.data for f in read_frames(capture)]
    batch, stats = decode(export(tmp_path, capture, rate=1))
    got = headers(batch)
    # pmacct sends every packet; it may drop the last, unfilled datagram when it exits
    assert len(frames) - 16 <= len(got) <= len(frames) == 188
    # pmacct may also send a counter sample when its counter interval comes round mid-replay
    assert stats.samples["flow"] == len(got) and stats.packets == len(got)
    assert set(stats.samples) <= {"flow", "counters"}
    assert (batch.sampled["sampling_rate"] == 1).all()
    for h, f in zip(got, frames, strict=False):
        assert h == f[:128]  # sfprobe's 128-byte raw headers, in capture order
    assert batch.chunk.records["wirelen"].tolist() == [len(f) for f in frames[: len(got)]]
    pk = batch.packet_batch().packets
    obuf, orig = decode_frames(frames[: len(got)])
    for col in ("status", "src_lo", "dst_lo", "sport", "dport", "proto", "tcp_flags", "ip_len"):
        assert np.array_equal(pk[col], orig[col]), col
    hits = [i for i, p in enumerate(pk) if p["status"] == ST_OK
            and stratum_match(payload(batch.chunk.buf, p), 6)]  # fmt: skip
    expected = [i for i, p in enumerate(orig) if p["status"] == ST_OK
                and stratum_match(payload(obuf, p)[: int(pk[i]["payload_len"])], 6)]  # fmt: skip
    assert hits == expected and len(hits) >= 10


def test_sampled_one_in_four(tmp_path: Path) -> None:
    need_shared()
    capture = MINING / "nesfit__cgminer.s0.pcapng"
    frames = [f.data for f in read_frames(capture)]
    batch, stats = decode(export(tmp_path, capture, rate=4))
    got = headers(batch)
    assert 120 <= len(got) == stats.packets <= 320  # ~855 / 4
    assert (batch.sampled["sampling_rate"] == 4).all()
    at = 0
    for h in got:  # each header is a later frame of the capture than the one before
        while at < len(frames) and not frames[at].startswith(h):
            at += 1
        assert at < len(frames), "a header that is no frame of the capture"
        at += 1
    pool = batch.samples["sample_pool"].astype(np.int64)
    assert (np.diff(pool) > 0).all() and pool[-1] <= len(frames)
