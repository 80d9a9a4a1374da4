"""The collector's UDP receive loop, both paths (recvmmsg and recvfrom_into), on loopback."""

from __future__ import annotations

import re
import socket
import struct
import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipelines.sources import mmsg
from pipelines.sources.udp import (
    SLOT,
    SLOTS,
    UdpReceiver,
    kernel_drops,
    open_socket,
    parse_listen,
    slot_buffer,
)


def _send(port: int, payloads: list[bytes], family: int = socket.AF_INET) -> None:
    host = "::1" if family == socket.AF_INET6 else "127.0.0.1"
    with socket.socket(family, socket.SOCK_DGRAM) as s:
        for p in payloads:
            s.sendto(p, (host, port))


def _collect(r: UdpReceiver, n: int) -> list[tuple[bytes, str]]:
    got: list[tuple[bytes, str]] = []
    deadline = time.monotonic() + 10
    while len(got) < n and time.monotonic() < deadline:
        b = r.get(timeout=0.5)
        if b is None:
            continue
        got += [(b.datagram(i), s) for i, s in enumerate(b.senders)]
        b.release()
    return got


@pytest.mark.parametrize("use_mmsg", [True, False])
@pytest.mark.parametrize("family", [socket.AF_INET, socket.AF_INET6])
def test_every_datagram_arrives_whole_in_order_with_its_sender(use_mmsg: bool, family: int) -> None:
    if use_mmsg and not mmsg.available():
        pytest.skip("SKIPPED LOUDLY: recvmmsg is not available on this platform")
    host = "::1" if family == socket.AF_INET6 else "127.0.0.1"
    sock = open_socket(host, 0)
    r = UdpReceiver(sock, use_mmsg=use_mmsg, buffers=2).start()
    try:
        payloads = [bytes([i % 251]) * (1 + (i * 37) % 1400) for i in range(3000)]
        payloads.append(b"J" * 9000)  # jumbo: still whole
        _send(sock.getsockname()[1], payloads, family)
        got = _collect(r, len(payloads))
    finally:
        r.stop()
        sock.close()
    assert [g[0] for g in got] == payloads
    assert {g[1] for g in got} == {host}
    assert r.stats.datagrams == len(payloads) and r.stats.truncated == 0


def test_mmsg_reader_cuts_and_counts_what_exceeds_a_slot() -> None:
    if not mmsg.available():
        pytest.skip("SKIPPED LOUDLY: recvmmsg is not available on this platform")
    sock = open_socket("127.0.0.1", 0)
    buf = np.zeros(3 * 512, dtype=np.uint8)
    reader = mmsg.MmsgReader(sock, buf, 512)
    _send(sock.getsockname()[1], [b"a" * 100, b"b" * 2000, b"c" * 512])
    time.sleep(0.2)
    lengths = reader.receive(0)
    assert lengths.tolist() == [100, 512, 512] and reader.truncated == 1
    assert bytes(buf[512:1024]) == b"b" * 512
    assert reader.receive(3).tolist() == []  # the slots are full: nothing more is read
    index, names = reader.senders(3)
    sock.close()
    assert index.tolist() == [0, 0, 0] and names == ["127.0.0.1"]


def test_mmsg_reader_names_each_sender_of_a_mixed_batch() -> None:
    """Datagrams from three loopback addresses (and two source ports each), interleaved."""
    if not mmsg.available():
        pytest.skip("SKIPPED LOUDLY: recvmmsg is not available on this platform")
    sock = open_socket("127.0.0.1", 0)
    port = sock.getsockname()[1]
    sources = [f"127.0.0.{a}" for a in (3, 1, 2)]
    senders = []
    for host in sources:
        for _ in range(2):
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.bind((host, 0))
            senders.append((s, host))
    expected = []
    for k in range(60):
        s, host = senders[(k * 7) % len(senders)]
        s.sendto(b"%d" % k, ("127.0.0.1", port))
        expected.append(host)
    time.sleep(0.2)
    buf = np.zeros(64 * 2048, dtype=np.uint8)
    reader = mmsg.MmsgReader(sock, buf, 2048)
    assert len(reader.receive(0)) == 60
    index, names = reader.senders(60)
    for s, _ in senders:
        s.close()
    sock.close()
    assert [names[i] for i in index.tolist()] == expected
    assert sorted(names) == sorted(sources)


def _sockaddr(family: int, port: int, extra: int, addr: bytes) -> bytes:
    if family == socket.AF_INET6:  # family (host order), port, flow info, address, scope id
        return struct.pack("<H", family) + struct.pack(">HI", port, extra) + addr + bytes(4)
    return struct.pack("<H", family) + struct.pack(">H", port) + addr + bytes(8)


_V4 = st.sampled_from([bytes([10, 0, 0, i]) for i in range(4)] + [bytes(4), b"\xff" * 4])
_V6 = st.sampled_from(
    [
        socket.inet_pton(socket.AF_INET6, a)
        for a in ("::1", "2001:db8::1", "2001:db8::1:0:0:1", "::ffff:10.0.0.1", "::")
    ]
)
_SENDER = st.one_of(
    st.tuples(st.just(socket.AF_INET), st.integers(0, 65535), st.just(0), _V4),
    st.tuples(st.just(socket.AF_INET6), st.integers(0, 65535), st.integers(0, 2**20 - 1), _V6),
)


_Row = tuple[int, int, int, bytes]


@settings(max_examples=300, deadline=None)
@given(st.lists(_SENDER, min_size=1, max_size=40))
def test_senders_agree_with_reading_each_address_alone(rows: list[_Row]) -> None:
    """Oracle: the address text of each slot, one slot at a time (ports and flow labels vary
    and must not split an exporter)."""
    if not mmsg.available():
        pytest.skip("SKIPPED LOUDLY: recvmmsg is not available on this platform")
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    reader = mmsg.MmsgReader(sock, np.zeros(64 * 64, dtype=np.uint8), 64)
    sock.close()
    for i, (fam, port, extra, addr) in enumerate(rows):
        raw = _sockaddr(fam, port, extra, addr)
        reader.names[i, : len(raw)] = np.frombuffer(raw, dtype=np.uint8)
    index, names = reader.senders(len(rows))
    want = [socket.inet_ntop(fam, addr) for fam, _, _, addr in rows]
    assert [names[i] for i in index.tolist()] == want
    assert len(names) == len(set(want))  # one name per distinct exporter


def test_a_quiet_socket_hands_over_a_small_batch_within_the_flush_time() -> None:
    sock = open_socket("127.0.0.1", 0)
    r = UdpReceiver(sock, flush_after=0.05).start()
    try:
        _send(sock.getsockname()[1], [b"one"])
        t0 = time.monotonic()
        b = r.get(timeout=2)
        assert b is not None and len(b) == 1 and time.monotonic() - t0 < 1
        b.release()
    finally:
        r.stop()
        sock.close()


def test_kernel_drops_are_read_for_this_socket() -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # tiny: overflow on purpose
    sock.bind(("127.0.0.1", 0))
    _send(sock.getsockname()[1], [b"x" * 1000] * 200)
    assert kernel_drops(sock) > 0
    sock.close()


def test_listen_urls() -> None:
    assert parse_listen("netflow://127.0.0.1:2055") == ("netflow", "127.0.0.1", 2055)
    assert parse_listen("ipfix://[::1]:4739") == ("netflow", "::1", 4739)
    assert parse_listen("sflow://:6343") == ("sflow", "0.0.0.0", 6343)
    for bad in ("netflow://host", "tcp://1.2.3.4:5", "netflow://1.2.3.4:70000", "x"):
        with pytest.raises(ValueError):
            parse_listen(bad)


def _mapping_rss_kb(addr: int) -> int | None:
    """Resident kB of the mapping that holds `addr` (/proc/self/smaps), None if unreadable."""
    try:
        with open("/proc/self/smaps") as fh:
            text = fh.read()
    except OSError:
        return None
    inside = False
    for line in text.splitlines():
        m = re.match(r"([0-9a-f]+)-([0-9a-f]+) ", line)
        if m:
            inside = int(m.group(1), 16) <= addr < int(m.group(2), 16)
        elif inside and line.startswith("Rss:"):
            return int(line.split()[1])
    return None


def test_a_receive_buffer_keeps_only_the_written_pages() -> None:
    """One 1464-byte datagram in each of the 1024 slots: ~4 MiB resident, not the 64 MiB a
    numpy array gets once numpy asked for transparent huge pages."""
    buf = slot_buffer(SLOT * SLOTS)
    for i in range(SLOTS):
        buf[i * SLOT : i * SLOT + 1464] = 7
    rss = _mapping_rss_kb(buf.ctypes.data + len(buf) // 2)
    if rss is None:
        pytest.skip("SKIPPED LOUDLY: /proc/self/smaps is not readable here")
    assert rss <= 2 * SLOTS * 4096 // 1024  # at most two pages per slot
    assert buf.flags.writeable and len(buf) == SLOT * SLOTS and bool((buf[:1464] == 7).all())
