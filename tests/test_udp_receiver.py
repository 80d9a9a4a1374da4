"""The collector's UDP receive loop, both paths (recvmmsg and recvfrom_into), on loopback."""

from __future__ import annotations

import socket
import time

import numpy as np
import pytest

from pipelines.sources import mmsg
from pipelines.sources.udp import UdpReceiver, kernel_drops, open_socket, parse_listen


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
