"""The capture source: formats, chunk boundaries, truncation, bounded memory, clear errors."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipelines.sources.pcapfile import CaptureError, PcapFileSource
from tests.conftest import MINING, need_shared


def _pcap(records: list[bytes], linktype: int = 1, ns: bool = False) -> bytes:
    magic = 0xA1B23C4D if ns else 0xA1B2C3D4
    out = [struct.pack("<IHHiIII", magic, 2, 4, 0, 0, 65535, linktype)]
    for i, rec in enumerate(records):
        out.append(struct.pack("<IIII", 1_700_000_000 + i, 500, len(rec), len(rec)))
        out.append(rec)
    return b"".join(out)


def _read_all(path: Path, chunk: int = 1 << 20) -> tuple[list[bytes], list[float]]:
    src = PcapFileSource(path, chunk_bytes=chunk)
    frames, ts = [], []
    for ch in src:
        for r in ch.records:
            frames.append(ch.buf[r["off"] : r["off"] + r["caplen"]].tobytes())
            ts.append(float(r["ts"]))
    return frames, ts


def test_pcap_records_and_timestamps(tmp_path: Path) -> None:
    recs = [bytes([i]) * (i + 1) for i in range(50)]
    f = tmp_path / "a.pcap"
    f.write_bytes(_pcap(recs))
    frames, ts = _read_all(f)
    assert frames == recs
    assert ts[0] == pytest.approx(1_700_000_000.0005)


def test_nanosecond_magic(tmp_path: Path) -> None:
    f = tmp_path / "ns.pcap"
    f.write_bytes(_pcap([b"x" * 20], ns=True))
    _, ts = _read_all(f)
    assert ts[0] == pytest.approx(1_700_000_000 + 500e-9)


@pytest.mark.parametrize("chunk", [64, 100, 1000])
def test_tiny_chunks_split_records_anywhere(tmp_path: Path, chunk: int) -> None:
    """Records cut by chunk boundaries (and larger than a chunk) come out whole."""
    recs = [bytes([i % 256]) * ((i * 37) % 300 + 1) for i in range(200)]
    f = tmp_path / "b.pcap"
    f.write_bytes(_pcap(recs))
    frames, _ = _read_all(f, chunk=chunk)
    assert frames == recs


def test_gzip_equals_plain(tmp_path: Path) -> None:
    recs = [bytes([i]) * 60 for i in range(30)]
    plain = tmp_path / "c.pcap"
    plain.write_bytes(_pcap(recs))
    gz = tmp_path / "c.pcap.gz"
    gz.write_bytes(gzip.compress(plain.read_bytes()))
    assert _read_all(gz) == _read_all(plain)


def test_truncated_tail_is_counted_not_fatal(tmp_path: Path) -> None:
    data = _pcap([b"a" * 100, b"b" * 100])
    f = tmp_path / "t.pcap"
    f.write_bytes(data[:-30])
    src = PcapFileSource(f)
    n = sum(len(ch.records) for ch in src)
    assert n == 1
    assert src.stats.truncated_tail == 1


def test_not_a_capture_is_a_clear_error(tmp_path: Path) -> None:
    f = tmp_path / "x.pcap"
    f.write_bytes(b"hello world, not a capture")
    with pytest.raises(CaptureError, match="not a pcap or pcapng"):
        list(PcapFileSource(f))


def test_corrupt_record_length_is_a_clear_error(tmp_path: Path) -> None:
    data = bytearray(_pcap([b"a" * 10, b"b" * 10]))
    struct.pack_into("<I", data, 24 + 16 + 10 + 8, 0x7FFF_FFFF)
    f = tmp_path / "bad.pcap"
    f.write_bytes(bytes(data))
    with pytest.raises(CaptureError, match="corrupt record"):
        list(PcapFileSource(f))


def test_real_captures_match_dpkt_record_count() -> None:
    """Every real capture: same number of records as dpkt's reader (an independent parser)."""
    import dpkt

    need_shared()
    for path in sorted(MINING.iterdir()):
        with path.open("rb") as fh:
            reader = dpkt.pcapng.Reader(fh) if path.suffix == ".pcapng" else dpkt.pcap.Reader(fh)
            expected = sum(1 for _ in reader)
        got = sum(len(ch.records) for ch in PcapFileSource(path, chunk_bytes=1 << 16))
        assert got == expected, path.name


@settings(
    max_examples=300, deadline=2000, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.binary(max_size=4000), cut=st.integers(min_value=0, max_value=4000))
def test_fuzz_source_never_crashes(tmp_path: Path, data: bytes, cut: int) -> None:
    """Random bytes after a valid header, or a truncated valid file: records or CaptureError."""
    for blob in (
        _pcap([b"x"])[:24] + data,
        _pcap([data[:200], data[200:400]])[:cut],
        b"\x0a\x0d\x0d\x0a" + data,
    ):
        f = tmp_path / "f.pcap"
        f.write_bytes(blob)
        try:
            for ch in PcapFileSource(f, chunk_bytes=256):
                assert (ch.records["off"] + ch.records["caplen"] <= len(ch.buf)).all()
        except CaptureError:
            pass


def test_memory_is_bounded_by_chunk(tmp_path: Path) -> None:
    """A 40 MB capture is read with one chunk-sized buffer alive, not the whole file."""
    rec = b"z" * 1400
    f = tmp_path / "big.pcap"
    with f.open("wb") as fh:
        fh.write(_pcap([])[:24])
        hdr = struct.pack("<IIII", 1, 0, len(rec), len(rec))
        for _ in range(30_000):
            fh.write(hdr + rec)
    sizes, count = set(), 0
    for ch in PcapFileSource(f, chunk_bytes=1 << 20):
        sizes.add(ch.buf.nbytes)
        count += len(ch.records)
    assert count == 30_000
    assert max(sizes) <= 1 << 20
