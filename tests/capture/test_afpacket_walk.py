"""The TPACKET_V3 block walker on synthesized blocks: exact on well-formed blocks, and on any
bytes (garbage next offsets, zero offsets, snap lengths beyond the block, lying counts) it never
crashes, never reads or points outside the block, and stops after a bounded number of steps."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from pipelines.batch import RECORD_DTYPE
from pipelines.sources import afpacket_walk as aw

PAGE = 4096


@dataclass(frozen=True)
class Pkt:
    data: bytes
    sec: int
    nsec: int
    wire_extra: int
    pad: int  # extra bytes between the header and the frame (the kernel's sockaddr_ll etc.)


def _align(x: int, a: int = 16) -> int:
    return -(-x // a) * a


def build_block(pkts: list[Pkt], size: int, status: int = aw.TP_STATUS_USER) -> bytearray:
    """A block laid out as the kernel does: descriptor, then packets chained by next offsets."""
    buf = bytearray(size)
    pos = aw.BLOCK_DESC_LEN
    for i, p in enumerate(pkts):
        mac = aw.TP3_HDR_LEN + p.pad
        slot = _align(mac + len(p.data))
        hdr = np.zeros(1, aw.TP3_HDR_DTYPE)
        hdr["tp_next_offset"] = slot if i + 1 < len(pkts) else 0
        hdr["tp_sec"], hdr["tp_nsec"] = p.sec, p.nsec
        hdr["tp_snaplen"], hdr["tp_len"] = len(p.data), len(p.data) + p.wire_extra
        hdr["tp_status"], hdr["tp_mac"] = aw.TP_STATUS_USER, mac
        buf[pos : pos + aw.TP3_HDR_LEN] = hdr.tobytes()
        buf[pos + mac : pos + mac + len(p.data)] = p.data
        pos += slot
    desc = np.zeros(1, aw.BLOCK_DESC_DTYPE)
    desc["version"], desc["block_status"], desc["num_pkts"] = 2, status, len(pkts)
    desc["offset_to_first_pkt"], desc["blk_len"] = aw.BLOCK_DESC_LEN, pos
    buf[: aw.BLOCK_DESC_LEN] = desc.tobytes()
    return buf


def fits(pkts: list[Pkt], size: int) -> bool:
    used = aw.BLOCK_DESC_LEN + sum(_align(aw.TP3_HDR_LEN + p.pad + len(p.data)) for p in pkts)
    return used <= size


def records(n: int) -> np.ndarray:
    return np.zeros(n, dtype=RECORD_DTYPE)


def walk(buf: np.ndarray, base: int, size: int, out: np.ndarray) -> tuple[int, bool]:
    got, ok = aw.walk_block(buf, base, size, 1, 0, out["off"], out["caplen"], out["wirelen"],
                            out["ts"], out["linktype"])  # fmt: skip
    return int(got), bool(ok)


PKT = st.builds(
    Pkt,
    data=st.binary(min_size=0, max_size=300),
    sec=st.integers(0, 2**32 - 1),
    nsec=st.integers(0, 999_999_999),
    wire_extra=st.integers(0, 2000),
    pad=st.integers(0, 64).map(lambda x: 2 * x),
)


@settings(max_examples=300, deadline=None)
@given(pkts=st.lists(PKT, max_size=40), size=st.sampled_from([PAGE, 2 * PAGE, 4 * PAGE]),
       lead=st.integers(0, 3))  # fmt: skip
def test_wellformed_block_exact(pkts: list[Pkt], size: int, lead: int) -> None:
    while pkts and not fits(pkts, size):
        pkts = pkts[:-1]
    ring = np.zeros((lead + 1) * size, dtype=np.uint8)
    base = lead * size
    ring[base : base + size] = np.frombuffer(build_block(pkts, size), dtype=np.uint8)
    out = records(aw.max_packets(size))
    got, ok = walk(ring, base, size, out)
    assert ok and got == len(pkts)
    for r, p in zip(out[:got], pkts, strict=True):
        frame = ring[r["off"] : r["off"] + r["caplen"]].tobytes()
        assert frame == p.data and r["linktype"] == 1
        assert r["wirelen"] == len(p.data) + p.wire_extra
        assert abs(r["ts"] - (p.sec + p.nsec * 1e-9)) < 1e-6


def _check_bounded(buf: np.ndarray, base: int, size: int, got: int, out: np.ndarray) -> None:
    assert 0 <= got <= aw.max_packets(size)
    for r in out[:got]:
        assert base + aw.BLOCK_DESC_LEN + aw.TP3_HDR_LEN <= r["off"]
        assert r["off"] + r["caplen"] <= base + size
        assert r["wirelen"] >= r["caplen"]


U32 = st.one_of(
    st.sampled_from([0, 1, 15, 16, 47, 48, 49, 4095, 4096, 4097, 2**31 - 1, 2**31, 2**32 - 1]),
    st.integers(0, 2**32 - 1),
)


@settings(max_examples=500, deadline=None)
@given(body=st.binary(min_size=0, max_size=2 * PAGE), num=U32, first=U32, blk_len=U32,
       size=st.sampled_from([PAGE, 2 * PAGE]), lead=st.integers(0, 2))  # fmt: skip
def test_garbage_block_bounded(
    body: bytes, num: int, first: int, blk_len: int, size: int, lead: int
) -> None:
    """Random bytes under a descriptor with arbitrary counts and offsets."""
    ring = np.zeros((lead + 2) * size, dtype=np.uint8)  # a block after it: must stay unread
    base = lead * size
    blk = bytearray(body[:size].ljust(size, b"\0"))
    desc = np.zeros(1, aw.BLOCK_DESC_DTYPE)
    desc["block_status"], desc["num_pkts"] = aw.TP_STATUS_USER, num
    desc["offset_to_first_pkt"], desc["blk_len"] = first, blk_len
    blk[: aw.BLOCK_DESC_LEN] = desc.tobytes()
    ring[base : base + size] = np.frombuffer(bytes(blk), dtype=np.uint8)
    ring[base + size :] = 0xFF  # trap: any record pointing here is a bug
    out = records(aw.max_packets(size))
    got, _ok = walk(ring, base, size, out)
    _check_bounded(ring, base, size, got, out)


FIELD = st.sampled_from(["tp_next_offset", "tp_snaplen", "tp_mac", "tp_len"])


@settings(max_examples=400, deadline=None)
@given(pkts=st.lists(PKT, min_size=1, max_size=20), which=st.integers(0, 19), field=FIELD,
       value=U32)  # fmt: skip
def test_corrupted_field_bounded(pkts: list[Pkt], which: int, field: str, value: int) -> None:
    """One header field of a well-formed block replaced by an arbitrary value."""
    size = 2 * PAGE
    while len(pkts) > 1 and not fits(pkts, size):
        pkts = pkts[:-1]
    if not fits(pkts, size):
        return
    blk = build_block(pkts, size)
    pos = aw.BLOCK_DESC_LEN
    for _ in range(min(which, len(pkts) - 1)):
        pos += int.from_bytes(blk[pos : pos + 4], "little")
    off = pos + aw.field_offset(aw.TP3_HDR_DTYPE, field)
    width = aw.TP3_HDR_DTYPE[field].itemsize
    blk[off : off + width] = (value & ((1 << (8 * width)) - 1)).to_bytes(width, "little")
    ring = np.frombuffer(bytes(blk), dtype=np.uint8)
    out = records(aw.max_packets(size))
    got, ok = walk(ring, 0, size, out)
    _check_bounded(ring, 0, size, got, out)
    k = min(which, len(pkts) - 1)
    assert got >= k  # the packets before the broken one are kept
    if field == "tp_next_offset" and value < aw.TP3_HDR_LEN and k + 1 < len(pkts):
        assert not ok and got == k + 1  # a zero/short step ends the block there
    if field == "tp_snaplen" and value > size:
        assert not ok and got == k  # a frame beyond the block is never located


def test_zero_next_offset_before_the_last_packet() -> None:
    pkts = [Pkt(bytes([i]) * 60, 1, 0, 0, 34) for i in range(5)]
    blk = build_block(pkts, PAGE)
    pos = aw.BLOCK_DESC_LEN
    pos += int.from_bytes(blk[pos : pos + 4], "little")
    blk[pos : pos + 4] = b"\0\0\0\0"  # packet 1 says "last" although num_pkts is 5
    out = records(aw.max_packets(PAGE))
    got, ok = walk(np.frombuffer(bytes(blk), dtype=np.uint8), 0, PAGE, out)
    assert (got, ok) == (2, False)


@settings(max_examples=200, deadline=None)
@given(
    blocks=st.lists(st.tuples(st.lists(PKT, max_size=6), st.booleans()), min_size=2, max_size=8),
    first=st.integers(0, 7),
    max_blocks=st.integers(1, 9),
)
def test_walk_ready_takes_the_handed_over_run(
    blocks: list[tuple[list[Pkt], bool]], first: int, max_blocks: int
) -> None:
    """From `first`, consecutive user-owned blocks (wrapping around), at most `max_blocks`;
    a kernel-owned block stops the walk."""
    size = PAGE
    n = len(blocks)
    first %= n
    ring = np.zeros(n * size, dtype=np.uint8)
    for b, (pkts, user) in enumerate(blocks):
        while pkts and not fits(pkts, size):
            pkts = pkts[:-1]
        blocks[b] = (pkts, user)
        status = aw.TP_STATUS_USER if user else aw.TP_STATUS_KERNEL
        ring[b * size : (b + 1) * size] = np.frombuffer(build_block(pkts, size, status), np.uint8)
    out = records(max_blocks * aw.max_packets(size))
    got, taken, bad, _tmo, _losing = aw.walk_ready(
        ring, size, n, first, max_blocks, 1,
        out["off"], out["caplen"], out["wirelen"], out["ts"], out["linktype"],
    )  # fmt: skip
    expect_blocks: list[int] = []
    b = first
    while len(expect_blocks) < min(max_blocks, n) and blocks[b][1]:
        expect_blocks.append(b)
        b = (b + 1) % n
    assert taken == len(expect_blocks) and bad == 0
    frames = [ring[r["off"] : r["off"] + r["caplen"]].tobytes() for r in out[:got]]
    assert frames == [p.data for b in expect_blocks for p in blocks[b][0]]


def test_walk_ready_never_overflows_its_output() -> None:
    """Output room for less than one full block: nothing is taken (the ring sizes it right)."""
    ring = np.frombuffer(build_block([Pkt(b"x" * 60, 0, 0, 0, 34)], PAGE), np.uint8).copy()
    out = records(aw.max_packets(PAGE) - 1)
    got, taken, *_ = aw.walk_ready(ring, PAGE, 1, 0, 4, 1, out["off"], out["caplen"],
                                   out["wirelen"], out["ts"], out["linktype"])  # fmt: skip
    assert (got, taken) == (0, 0)
