"""The parts of live capture that need no network: ring geometry, fanout argument, BPF compile
and attach (on a local socket pair), interface checks, counters, and the errors a user sees."""

from __future__ import annotations

import socket

import pytest

from minewatch.lists import build_matcher
from pipelines.capture import LiveCapture
from pipelines.capture_stats import CaptureStats, WorkerStats
from pipelines.sources import bpf
from pipelines.sources.afpacket import RingConfig, RingError, RingStats, fanout_arg, iface_linktype


def test_fanout_argument() -> None:
    assert fanout_arg(0x1234) == 0x8000_1234  # hash (0) | defrag flag, group id in the low half
    assert fanout_arg(0x12345) == 0x8000_2345


@pytest.mark.parametrize(
    "cfg",
    [
        RingConfig(block_size=1000),
        RingConfig(block_size=4096 * 3, frame_size=4096 * 2),
        RingConfig(frame_size=100),
        RingConfig(block_nr=1),
        RingConfig(retire_ms=0),
        RingConfig(batch_blocks=0),
    ],
)
def test_ring_config_refuses_bad_geometry(cfg: RingConfig) -> None:
    with pytest.raises(ValueError):
        cfg.check()


def test_compile_filter() -> None:
    insns = bpf.compile_filter("tcp port 3333")
    assert 4 < len(insns) < 64 and insns[-1][0] == 0x06  # ends with a return
    with pytest.raises(bpf.FilterError, match="bad filter 'tcp port'"):
        bpf.compile_filter("tcp port")


def _recv(sock: socket.socket) -> bytes | None:
    try:
        return sock.recv(4096)
    except TimeoutError:
        return None


def test_attached_filters_decide_what_arrives() -> None:
    """The same attach path as the ring, on a local datagram pair: drop-all, a compiled
    libpcap program (`greater 100`: frame length >= 100), and detach."""
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    with a, b:
        b.settimeout(0.2)
        bpf.attach(b, bpf.DROP_ALL)
        a.send(b"x" * 200)
        assert _recv(b) is None
        bpf.attach(b, bpf.compile_filter("greater 100"))
        a.send(b"short")
        a.send(b"y" * 150)
        assert _recv(b) == b"y" * 150
        bpf.detach(b)
        a.send(b"short")
        assert _recv(b) == b"short"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as c, pytest.raises(bpf.FilterError):
        bpf.attach(c, ())


def test_interface_checks() -> None:
    assert iface_linktype("lo") == 1
    with pytest.raises(RingError, match="no such network interface"):
        iface_linktype("mw-no-such0")


def test_capture_errors_before_any_worker_starts() -> None:
    matcher, _ = build_matcher([])
    with pytest.raises(RingError, match="no such network interface"):
        LiveCapture("mw-no-such0", matcher, print).run(handle_signals=False)
    with pytest.raises(bpf.FilterError):
        LiveCapture("lo", matcher, print, bpf="port port").run(handle_signals=False)
    with pytest.raises(ValueError):
        LiveCapture("lo", matcher, print, workers=0)


def test_counters_add_up() -> None:
    stats = CaptureStats("eth9")
    for i in range(3):
        ring = RingStats(packets=10 * i, kernel_packets=10 * i + 1, kernel_drops=1)
        stats.workers[i] = WorkerStats(i, ring=ring, packets=10 * i, flows=i, status={"ok": i})
    total = stats.ring_totals()
    assert (total.packets, total.kernel_packets, total.kernel_drops) == (30, 33, 3)
    stats.refresh_summary()
    assert (stats.summary.packets, stats.summary.flows, stats.summary.status["ok"]) == (30, 3, 3)
    d = stats.as_dict()
    assert d["ring"]["kernel_drops"] == 3 and len(d["workers"]) == 3
