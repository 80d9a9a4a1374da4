"""Benchmark live capture (`pipelines.capture`) on a veth pair fed by tcpreplay.

    .venv/bin/python bench/bench_capture.py [--packets 1000000] [--workers 1 2]

Needs root, `ip` and tcpreplay; everything runs in a network namespace created and deleted here.
The replay file is built from the shared real captures (Ethernet ones, repeated to --packets).

Figures (one line each):

- **worker capacity**: the workers are stopped (SIGSTOP) while tcpreplay fills rings large
  enough for the whole replay, then resumed; packets / seconds until every ring is empty is what
  one worker sustains with zero drops, without sharing the CPUs with the sender. Also per CPU
  second of the worker (wall time includes the parent and the other worker on 2 vCPUs).
- **live**: capture and tcpreplay run at the same time at tcpreplay's top speed; tcpreplay's
  achieved rate, what the capture received, and the kernel's drops.
- **peer**: the file scan (`Scanner`, one process) on the same replay file, packets/s, and the
  ratio worker capacity / file scan (the same decoder and detectors behind both sources).

Timings are best of --runs. Not wired into `make bench`.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import shutil
import signal
import struct
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data" / "pcaps"
OUT = ROOT / "bench" / "out"
TX, RX, MTU = "mwtx", "mwrx", 9000


# -- the capture process (run inside the namespace) ----------------------------------------------


def child(args: argparse.Namespace) -> int:
    from minewatch.lists import build_matcher
    from pipelines.capture import run_capture
    from pipelines.capture_stats import CaptureStats
    from pipelines.sources.afpacket import RingConfig

    status = Path(args.status)

    def write(stats: CaptureStats) -> None:
        tmp = status.with_suffix(".tmp")
        tmp.write_text(json.dumps({**stats.as_dict(), "t": time.monotonic()}))
        os.replace(tmp, status)

    matcher, _ = build_matcher([])
    ring = RingConfig(
        block_size=args.block_kb << 10, block_nr=args.blocks, retire_ms=args.retire_ms
    )
    stats = run_capture(
        args.iface, matcher, lambda hit: None, workers=args.workers[0], ring=ring,
        on_ready=lambda: print("READY", flush=True), on_stats=write, stats_interval=0.02,
    )  # fmt: skip
    write(stats)
    return 0


# -- the driver -------------------------------------------------------------------------------


def build_replay(packets: int) -> tuple[Path, int]:
    """Ethernet frames of the shared captures, repeated to `packets`, as one classic pcap
    (wire length = captured length: tcpreplay sends what was captured)."""
    from pipelines.sources.pcapfile import CaptureError, PcapFileSource

    frames: list[bytes] = []
    for path in sorted(SHARED.glob("*/*")):
        if not path.name.endswith((".pcap", ".pcapng", ".cap")):
            continue
        try:
            for chunk in PcapFileSource(path):
                for r in chunk.records:
                    if r["linktype"] == 1 and 14 <= r["caplen"] <= MTU:
                        frames.append(chunk.buf[r["off"] : r["off"] + r["caplen"]].tobytes())
        except CaptureError:
            continue
    out = OUT / f"capture-replay-{packets}.pcap"
    if not out.exists():
        OUT.mkdir(parents=True, exist_ok=True)
        with out.open("wb") as fh:
            fh.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
            for i in range(packets):
                f = frames[i % len(frames)]
                fh.write(struct.pack("<IIII", 1_700_000_000 + i // 1_000_000, i % 1_000_000,
                                     len(f), len(f)))  # fmt: skip
                fh.write(f)
    return out, packets


def sh(*cmd: str) -> None:
    subprocess.run(cmd, check=True, capture_output=True, text=True)


class Namespace:
    def __init__(self) -> None:
        self.name = f"mwbench-{os.getpid()}-{secrets.token_hex(2)}"

    def __enter__(self) -> Namespace:
        sh("ip", "netns", "add", self.name)
        for cmd in (
            ["sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1"],
            ["sysctl", "-qw", "net.ipv6.conf.default.disable_ipv6=1"],
            ["ip", "link", "add", TX, "mtu", str(MTU), "type", "veth", "peer", "name", RX,
             "mtu", str(MTU)],
            ["ip", "link", "set", TX, "up"],
            ["ip", "link", "set", RX, "up"],
        ):  # fmt: skip
            sh(*self.cmd(*cmd))
        return self

    def __exit__(self, *exc: object) -> None:
        subprocess.run(["ip", "netns", "del", self.name], check=False)

    def cmd(self, *argv: str) -> list[str]:
        return ["ip", "netns", "exec", self.name, *argv]


class Capture:
    def __init__(
        self, ns: Namespace, workers: int, block_kb: int, blocks: int, retire_ms: int = 50
    ) -> None:
        self.status = OUT / f".capture-status-{os.getpid()}.json"
        self.status.unlink(missing_ok=True)
        argv = [sys.executable, str(Path(__file__).resolve()), "--child", "--iface", RX,
                "--workers", str(workers), "--block-kb", str(block_kb), "--blocks", str(blocks),
                "--retire-ms", str(retire_ms), "--status", str(self.status)]  # fmt: skip
        self.proc = subprocess.Popen(ns.cmd(*argv), cwd=ROOT, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        if self.proc.stdout.readline().strip() != "READY":
            raise RuntimeError(f"capture did not start (exit {self.proc.wait()})")
        ready = self.wait(lambda s: all(w["pid"] for w in s["workers"]))
        self.pids = [w["pid"] for w in ready["workers"]]

    def read(self) -> dict[str, Any] | None:
        try:
            return json.loads(self.status.read_text())  # type: ignore[no-any-return]
        except (FileNotFoundError, json.JSONDecodeError):
            return None

    def wait(self, ok: Callable[[dict[str, Any]], bool], timeout: float = 120) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            st = self.read()
            if st is not None and ok(st):
                return st
            time.sleep(0.01)
        raise RuntimeError(f"capture status never satisfied the wait: {self.read()}")

    def settled(
        self, quiet: float = 0.5, timeout: float = 120
    ) -> tuple[dict[str, Any], list[float]]:
        """Status once no worker's packet count has moved for `quiet` seconds, and when each
        worker's count last moved (IP fragments are reassembled by the kernel's fanout defrag,
        so the total can stay below what tcpreplay sent)."""
        deadline = time.monotonic() + timeout
        counts: list[int] = []
        moved: list[float] = []
        st: dict[str, Any] | None = None
        while time.monotonic() < deadline:
            st = self.read()
            if st is not None and st["packets"] > 0:
                now = [w["ring"]["packets"] for w in st["workers"]]
                if now != counts:
                    moved = [st["t"] if c != o else m for c, o, m in
                             zip(now, counts or [-1] * len(now), moved or [0.0] * len(now),
                                 strict=True)]  # fmt: skip
                    counts = now
                elif time.monotonic() - max(moved) > quiet:
                    return st, moved
            time.sleep(0.005)
        raise RuntimeError(f"capture never settled: {st}")

    def signal_workers(self, sig: int) -> None:
        for pid in self.pids:
            os.kill(pid, sig)

    def cpu(self) -> list[float]:
        tick = os.sysconf("SC_CLK_TCK")
        out = []
        for pid in self.pids:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            out.append((int(fields[11]) + int(fields[12])) / tick)
        return out

    def stop(self) -> dict[str, Any]:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(120)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        final = self.read() or {}
        self.status.unlink(missing_ok=True)
        return final


def replay(ns: Namespace, path: Path, *rate: str) -> tuple[int, float, float]:
    """tcpreplay (file preloaded into memory); returns (packets sent, its seconds, its pps)."""
    res = subprocess.run(ns.cmd("tcpreplay", "-i", TX, "--preload-pcap", *rate, str(path)),
                         capture_output=True, text=True, check=True)  # fmt: skip
    sent = re.search(r"Actual: (\d+) packets \(\d+ bytes\) sent in ([\d.]+) seconds", res.stdout)
    pps = re.search(r"([\d.]+) pps", res.stdout)
    if not (sent and pps):
        raise RuntimeError(f"unexpected tcpreplay output: {res.stdout}{res.stderr}")
    return int(sent[1]), float(sent[2]), float(pps[1])


def capacity(ns: Namespace, path: Path, sent_expected: int, workers: int) -> float:
    """Fill stopped workers' rings, resume them, time the drain. Blocks are retired when full
    (a long retire timeout), and the ring has room for twice what a fair share needs."""
    slot = 1024  # bytes of ring per packet, generous (header + frame, 16-aligned)
    blocks = max(64, 2 * sent_expected * slot // workers // (4 << 20) + 16)
    cap = Capture(ns, workers, 4096, blocks, retire_ms=2000)
    try:
        cap.signal_workers(signal.SIGSTOP)
        sent, _, pps = replay(ns, path, "--topspeed")
        time.sleep(2.2)  # the retire timer hands over the last blocks
        cpu0 = cap.cpu()
        t0 = time.monotonic()
        cap.signal_workers(signal.SIGCONT)
        _, moved = cap.settled()
        cpu1 = cap.cpu()
    finally:
        final = cap.stop()
    print(f"tcpreplay into stopped rings: {pps:,.0f} packets/s offered ({sent:,} packets)")
    rates = []
    for w, c0, c1, end in zip(final["workers"], cpu0, cpu1, moved, strict=True):
        n = w["packets"]
        rates.append(n / (end - t0))
        print(f"worker capacity, {workers} worker(s), worker {w['worker']}: "
              f"{rates[-1]:,.0f} packets/s wall, {n / max(c1 - c0, 1e-9):,.0f} packets/CPU-s "
              f"({n:,} packets, drops {w['ring']['kernel_drops']})")  # fmt: skip
    total = final["ring"]
    print(f"worker capacity, {workers} worker(s), all: "
          f"{total['packets'] / (max(moved) - t0):,.0f} packets/s, "
          f"drops {total['kernel_drops']}")  # fmt: skip
    return float(min(rates))


def live(ns: Namespace, path: Path, workers: int, *rate: str) -> None:
    cap = Capture(ns, workers, 1024, 64)
    try:
        sent, seconds, pps = replay(ns, path, *rate)
        cap.settled()
    finally:
        final = cap.stop()
    ring = final["ring"]
    print(f"live {' '.join(rate)}, {workers} worker(s): tcpreplay achieved {pps:,.0f} packets/s; "
          f"captured {ring['packets']:,}/{sent:,} ({ring['packets'] / seconds:,.0f} packets/s, "
          f"{ring['packets'] / seconds / workers:,.0f} per worker), kernel drops "
          f"{ring['kernel_drops']:,}")  # fmt: skip


def file_scan(path: Path, runs: int) -> float:
    from minewatch.lists import build_matcher
    from minewatch.scanrun import collect_hits

    matcher, _ = build_matcher([])
    best = 0.0
    for _ in range(runs + 1):  # the first run loads the compiled kernels
        t = time.perf_counter()
        _, stats = collect_hits([path], matcher)
        best = max(best, stats.packets / (time.perf_counter() - t))
    return best


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--packets", type=int, default=1_000_000)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--runs", type=int, default=2)
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--iface", help=argparse.SUPPRESS)
    ap.add_argument("--status", help=argparse.SUPPRESS)
    ap.add_argument("--block-kb", type=int, default=1024, help=argparse.SUPPRESS)
    ap.add_argument("--blocks", type=int, default=64, help=argparse.SUPPRESS)
    ap.add_argument("--retire-ms", type=int, default=50, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        return child(args)
    missing = [t for t in ("ip", "tcpreplay") if shutil.which(t) is None]
    if os.geteuid() != 0 or missing:
        print(f"bench_capture skipped: needs root, ip and tcpreplay (missing: {missing or 'root'})")
        return 0
    path, n = build_replay(args.packets)
    print(f"replay file: {path.name}, {n:,} packets, {path.stat().st_size / 1e6:,.0f} MB")
    best: dict[int, float] = {}
    with Namespace() as ns:
        for workers in args.workers:
            for _ in range(args.runs):
                best[workers] = max(best.get(workers, 0.0), capacity(ns, path, n, workers))
        for workers in args.workers:
            live(ns, path, workers, "--topspeed")
        live(ns, path, 1, "--pps", "1000000")
    scan = file_scan(path, args.runs)
    print(f"peer: file scan (one process) {scan:,.0f} packets/s")
    for workers, pps in sorted(best.items()):
        print(f"best worker capacity, {workers} worker(s): {pps:,.0f} packets/s per worker "
              f"({pps / scan:.2f}x the file scan; target 1,000,000: "
              f"{'met' if pps >= 1e6 else 'not met'})")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
