"""Fixtures for the sFlow tests: real frames from the shared captures, read with dpkt (not with
the project's pcap source), and the real sFlow capture in the benign set."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import dpkt
import numpy as np
import pytest
from conftest import (  # tests/conftest.py: pytest puts tests/ on the path
    BENIGN,
    MINING,
    need_shared,
)

from detector.signatures import SIGNATURES
from pipelines.batch import RECORD_DTYPE, U8, Packets
from pipelines.decoders.packet import decode

REAL_SFLOW = BENIGN / "ndpi__sflow.pcap"  # 9 datagrams from a real switch (Alcatel), 2013


@dataclass(frozen=True, slots=True)
class Frame:
    data: bytes
    ts: float


def read_frames(path: Path) -> list[Frame]:
    with path.open("rb") as fh:
        return [Frame(bytes(buf), float(ts)) for ts, buf in dpkt.pcap.UniversalReader(fh)]


def decode_frames(frames: list[bytes], linktype: int = 1) -> tuple[U8, Packets]:
    """The capture path: the frames back to back in one buffer, decoded by the packet decoder."""
    buf = np.frombuffer(bytearray(b"".join(frames)), dtype=np.uint8)
    recs = np.zeros(len(frames), dtype=RECORD_DTYPE)
    recs["caplen"] = recs["wirelen"] = [len(f) for f in frames]
    recs["off"] = np.concatenate([[0], np.cumsum(recs["caplen"][:-1].astype(np.int64))])
    recs["linktype"] = linktype
    return buf, decode(buf, recs)


def payload(buf: U8, pk: np.void) -> bytes:
    off = int(pk["payload_off"])
    return bytes(buf[off : off + int(pk["payload_len"])])


def stratum_match(data: bytes, proto: int) -> bool:
    sig = SIGNATURES["stratum"]
    return any(sig.inspect(data, side, proto).outcome.value == "match" for side in (True, False))


@pytest.fixture(scope="session")
def bitcoin_mining() -> list[Frame]:
    """Stratum v1 between a cgminer-style client and a pool (zeek cryptomining package)."""
    need_shared()
    return read_frames(MINING / "zeek-cryptomining__bitcoin-mining.pcap")


@pytest.fixture(scope="session")
def cgminer() -> list[Frame]:
    need_shared()
    return read_frames(MINING / "nesfit__cgminer.s0.pcapng")


@pytest.fixture(scope="session")
def real_sflow() -> list[tuple[float, bytes]]:
    """UDP payloads of the real sFlow capture, with their capture times."""
    need_shared()
    out = []
    for frame in read_frames(REAL_SFLOW):
        udp = dpkt.ethernet.Ethernet(frame.data).data.data
        assert isinstance(udp, dpkt.udp.UDP) and udp.dport == 6343
        out.append((frame.ts, bytes(udp.data)))
    return out
