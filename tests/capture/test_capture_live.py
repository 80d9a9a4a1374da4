"""Live capture on a veth pair in a private network namespace, fed by tcpreplay with the shared
real captures: the same hits as `minewatch scan` on the files, with 1 and 2 fanout workers;
SIGTERM mid-capture still delivers the final flush; kernel drops are reported, never hidden.

What may legitimately differ from the scan, and is therefore not compared:

- times: the capture stamps packets when they arrive, so `first_ts`/`last_ts` and the hit's
  `file` (the interface) differ;
- flow boundaries that depend on time or files: the scan ends every flow at the end of its file
  and on idle gaps in the capture's own clock; the replay squeezes hours into a second and
  sends the files back to back (so the flow count may differ a little);
- the variant of a hit that has memory evidence (pair-cache, dns-learned). Which confirmation a
  pair-cache entry cites, and whether it is already known when a flow starts, depends on batch
  boundaries and, with several workers, on when another worker's knowledge arrives. A flow that
  starts with pair-cache evidence also keeps no provisional payload evidence (an HTTP POST whose
  body never came), so its variant names the pair's confirmation instead (`Engine.finish`). The
  hit itself (endpoints, transport, class) must be the same; only then may its variant differ.
"""

from __future__ import annotations

import os
import signal
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from minewatch.lists import build_matcher
from minewatch.scanrun import collect_hits
from tests.capture.conftest import RX, Netns, replay
from tests.conftest import BENIGN, MINING, captures, need_shared

MEMORY = {"pair-cache", "dns-learned"}
WEAK = {"port-only"}
RATE = ("--pps", "20000")  # far below what one worker takes: no drops expected


def mining_files() -> list[Path]:
    need_shared()
    return captures(MINING)


def endpoints(hit: dict[str, Any]) -> tuple[Any, ...]:
    return (hit["client_ip"], hit["client_port"], hit["server_ip"], hit["server_port"],
            hit["transport"], hit["class"])  # fmt: skip


def assert_same_hits(got: list[dict[str, Any]], expected: list[dict[str, Any]]) -> int:
    """The same hits (endpoints, transport, class); the same variant unless the capture's hit
    rests on memory evidence (see the module docstring). Returns how many variants differ."""
    assert Counter(map(endpoints, got)) == Counter(map(endpoints, expected))
    variants: dict[tuple[Any, ...], set[str]] = {}
    for h in expected:
        variants.setdefault(endpoints(h), set()).add(h["variant"])
    differ = [h for h in got if h["variant"] not in variants[endpoints(h)]]
    unexplained = [h for h in differ if not set(h["evidence"]) & MEMORY]
    assert not unexplained, unexplained
    return len(differ)


def memory_only(hit: dict[str, Any]) -> bool:
    ev = set(hit["evidence"])
    return bool(ev & MEMORY) and ev <= MEMORY | WEAK


def scan_hits(files: list[Path]) -> list[dict[str, Any]]:
    matcher, _ = build_matcher([])
    hits, _ = collect_hits(files, matcher)
    return [h.to_json() for h in hits]


def no_leftovers(pgid: int, timeout: float = 10) -> bool:
    """True once no process of the capture's session is left (workers, fork server)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        alive = []
        for pid in os.listdir("/proc"):
            if pid.isdigit():
                try:
                    if os.getsid(int(pid)) == pgid:
                        alive.append(pid)
                except ProcessLookupError:
                    pass
        if not alive:
            return True
        time.sleep(0.2)
    return False


@pytest.mark.parametrize("workers", [1, 2])
def test_same_hits_as_scan(netns: Netns, capture: Any, workers: int) -> None:
    files = mining_files()
    expected = scan_hits(files)
    cap = capture("--workers", str(workers))
    sent = replay(netns, files, *RATE)
    assert sent.failed == 0
    before = cap.wait_for(sent.sent)
    assert cap.terminate() == 0, cap.stderr()
    final = cap.stats("final.json")
    assert final is not None
    ring = final["ring"]
    assert ring["kernel_drops"] == 0 and ring["blocks_bad"] == 0
    assert ring["packets"] == ring["kernel_packets"] == sent.sent == final["packets"]
    assert len(final["workers"]) == workers
    if workers > 1:  # the fanout spread the traffic
        assert all(w["packets"] > 0 for w in final["workers"]), final["workers"]
    got = cap.hits()
    assert len(got) == final["hits"]
    assert before["hits"] < final["hits"]  # most hits come from flows ended by the final flush
    differ = assert_same_hits(got, expected)
    assert len(got) > 500 and differ <= 5


def test_sigterm_mid_capture_flushes(netns: Netns, capture: Any) -> None:
    """SIGTERM while packets still arrive: exit 0, the ring processed to the end, every open
    flow decided and delivered, no process left behind."""
    files = mining_files()
    cap = capture("--workers", "2")
    feeder = replay(netns, files, "--pps", "3000", background=True)  # ~5 s of traffic
    try:
        cap.wait_for(3000)
        st = cap.stats()
        assert st is not None
        assert cap.terminate(timeout=60) == 0, cap.stderr()
    finally:
        feeder.wait(60)
        assert feeder.stdout is not None
        feeder.stdout.close()
    final = cap.stats("final.json")
    assert final is not None and not final["errors"]
    ring = final["ring"]
    assert 3000 <= ring["packets"] < 14_000  # stopped part-way
    assert ring["packets"] + ring["kernel_drops"] == ring["kernel_packets"]
    hits = cap.hits()
    assert len(hits) == final["hits"] > st["hits"]
    assert no_leftovers(cap.proc.pid)


def test_kernel_drops_are_reported(netns: Netns, capture: Any) -> None:
    """A tiny ring under a topspeed replay overflows: the drops show in the counters, and every
    packet that reached the socket is either processed or counted as dropped."""
    files = mining_files()
    cap = capture("--block-size", "4096", "--block-nr", "2", "--retire-ms", "100",
                  "--batch-blocks", "1")  # fmt: skip
    sent = replay(netns, files, "--topspeed", "--loop", "5")
    st = cap.wait_for(sent.sent)
    assert cap.terminate() == 0, cap.stderr()
    final = cap.stats("final.json")
    assert final is not None
    ring = final["ring"]
    assert ring["kernel_drops"] > 0, (ring, st)
    assert ring["packets"] + ring["kernel_drops"] == ring["kernel_packets"] == sent.sent
    assert final["packets"] == ring["packets"]


def test_bpf_filter(netns: Netns, capture: Any) -> None:
    """Only what the filter passes reaches the ring (and the detectors)."""
    files = mining_files()
    cap = capture("--bpf", "udp")
    sent = replay(netns, files, *RATE)
    cap.wait_for(1)
    time.sleep(1)
    assert cap.terminate() == 0, cap.stderr()
    final = cap.stats("final.json")
    assert final is not None
    assert 0 < final["ring"]["packets"] < sent.sent
    assert final["ring"]["kernel_drops"] == 0
    hits = cap.hits()
    assert hits and all(h["transport"] == "udp" for h in hits)
    udp = [h for h in scan_hits(files) if h["transport"] == "udp"]
    assert_same_hits(
        [h for h in hits if not memory_only(h)], [h for h in udp if not memory_only(h)]
    )


def test_dead_worker_stops_the_capture_loudly(netns: Netns, capture: Any) -> None:
    """A worker killed mid-capture: the other one still stops in order, and the run ends with
    an error naming the dead worker (exit 3 in the runner), not with silently missing traffic."""
    cap = capture("--workers", "2")
    replay(netns, mining_files()[:2], *RATE)
    st = cap.wait_for(1)
    victim = st["workers"][1]["pid"]
    assert victim and victim != cap.proc.pid
    os.kill(victim, signal.SIGKILL)
    assert cap.proc.wait(60) == 3
    assert "capture worker 1" in cap.stderr() and "SIGKILL" in cap.stderr()
    assert no_leftovers(cap.proc.pid)


def test_block_list_swapped_while_capturing(netns: Netns, capture: Any, tmp_path: Path) -> None:
    """A newer block list reaches running workers without a restart (SIGUSR1 in the runner
    calls `LiveCapture.swap_matcher`): flows that start afterwards are judged by it."""
    need_shared()
    git = BENIGN / "ndpi__443-git.pcap"
    listed = tmp_path / "list.txt"
    listed.write_text("140.82.114.4\n")
    assert scan_hits([git]) == []  # the built-in list alone says nothing about it
    cap = capture("--workers", "2", "--swap-blocklist", str(listed))
    cap.proc.send_signal(signal.SIGUSR1)
    assert cap.proc.stdout.readline().strip() == "SWAPPED"
    time.sleep(1)  # the parent forwards it within 0.2 s, workers apply it before their next batch
    replay(netns, [git], *RATE)
    cap.wait_for(1)
    assert cap.terminate() == 0, cap.stderr()
    hits = cap.hits()
    assert [(h["server_ip"], h["evidence"]) for h in hits] == [("140.82.114.4", ["ip-list"])]


def test_link_down_and_up(netns: Netns, capture: Any) -> None:
    """The interface going down is counted and survived (no busy loop on the socket error);
    when it is up again the same rings and fanout group capture again."""
    files = mining_files()[:1]
    cap = capture("--workers", "2")
    netns.check("ip", "link", "set", RX, "down")
    time.sleep(1)
    netns.check("ip", "link", "set", RX, "up")
    time.sleep(0.5)
    sent = replay(netns, files, *RATE)
    st = cap.wait_for(sent.sent)
    assert st["ring"]["packets"] == sent.sent
    assert sum(w["link_errors"] for w in st["workers"]) >= 1
    assert all(w["ticks"] < 10 for w in st["workers"])  # about one per quiet second, no spin
    assert cap.terminate() == 0, cap.stderr()


def test_interface_removed(netns: Netns, capture: Any) -> None:
    """The interface vanishing ends the capture with an error (exit 3), after the others
    stopped in order, instead of capturing nothing forever."""
    cap = capture("--workers", "2")
    netns.check("ip", "link", "del", RX)
    assert cap.proc.wait(60) == 3
    assert "the interface is gone" in cap.stderr()
    assert no_leftovers(cap.proc.pid)


@pytest.mark.slow
def test_quiet_link_expires_flows_on_wall_clock(netns: Netns, capture: Any) -> None:
    """With no packets at all after the replay, closed flows still end (30 s after their last
    packet, checked every few seconds) and their hits arrive while the capture runs."""
    files = [f for f in mining_files() if "xmr-eu1" in f.name]
    cap = capture()
    replay(netns, files, *RATE)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not cap.hits():
        time.sleep(0.5)
    hits = cap.hits()
    st = cap.stats()
    assert cap.terminate() == 0
    assert hits, "no hit before the stop: flows did not expire on the wall clock"
    assert st is not None and st["workers"][0]["ticks"] > 0
