"""`minewatch capture` as an operator runs it: the real command in a network namespace, real
packets from tcpreplay, hits in the store and in `minewatch hits`, Prometheus metrics, SIGTERM."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from conftest import MINING, need_shared

from .conftest import RX, Netns, replay

MINEWATCH = [sys.executable, "-m", "minewatch"]
FILES = ["nesfit__cgminer.s0.pcapng", "zeek-cryptomining__bitcoin-mining.pcap"]


def _metrics(ns: Netns, port: int) -> dict[str, float]:
    """Scrape /metrics inside the namespace (its loopback is not ours)."""
    out = subprocess.run(
        ns.cmd(sys.executable, "-c", "import sys, urllib.request; sys.stdout.write(urllib.request"
               f".urlopen('http://127.0.0.1:{port}/metrics', timeout=5).read().decode())"),
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    values: dict[str, float] = {}
    for line in out.splitlines():
        m = re.match(r"^(minewatch_\w+)(\{[^}]*\})? (\S+)$", line)
        if m:
            values[m.group(1) + (m.group(2) or "")] = float(m.group(3))
    return values


def _key(h: dict[str, object]) -> tuple[object, ...]:
    return (h["transport"], h["client_ip"], h["client_port"], h["server_ip"], h["server_port"],
            h["class"])  # fmt: skip


def test_capture_command_stores_what_scan_finds(netns: Netns, tmp_path: Path) -> None:
    need_shared()
    files = [MINING / f for f in FILES]
    db = f"sqlite:///{tmp_path / 'hits.db'}"
    netns.check("ip", "link", "set", "lo", "up")  # the metrics endpoint listens there
    port = 9100 + int(time.time()) % 500  # inside the private namespace: no clash possible
    err = (tmp_path / "capture.err").open("w")
    proc = subprocess.Popen(
        netns.cmd(*MINEWATCH, "capture", "--iface", RX, "--workers", "2", "--db", db,
                  "--format", "jsonl", "--metrics", f"127.0.0.1:{port}"),
        stdout=subprocess.PIPE, stderr=err, text=True, start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while "worker(s)" not in (tmp_path / "capture.err").read_text():
            assert proc.poll() is None, (tmp_path / "capture.err").read_text()
            assert time.monotonic() < deadline, "capture did not start"
            time.sleep(0.2)
        sent = replay(netns, files, "--pps", "20000")
        deadline = time.monotonic() + 30
        while True:
            m = _metrics(netns, port)
            received = sum(
                v for k, v in m.items()
                if k.startswith("minewatch_capture_packets_total") and 'state="received"' in k
            )  # fmt: skip
            if received >= sent.sent * 0.97:  # the kernel reassembles IP fragments (fewer)
                break
            assert time.monotonic() < deadline, f"capture saw {received} of {sent.sent}: {m}"
            time.sleep(0.3)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0, (tmp_path / "capture.err").read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        assert proc.stdout is not None
        printed = proc.stdout.read()
        proc.stdout.close()
        err.close()
    summary = (tmp_path / "capture.err").read_text()
    assert "kernel drops 0" in summary, summary
    dropped = [v for k, v in m.items() if k.startswith("minewatch_capture_dropped_total")]
    assert dropped and sum(dropped) == 0
    done = subprocess.run([*MINEWATCH, "hits", "--db", db, "--format", "jsonl"],
                          capture_output=True, text=True, check=False)  # fmt: skip
    assert done.returncode == 0, f"minewatch hits exited {done.returncode}: {done.stderr}"
    stored = done.stdout
    got = {_key(json.loads(line)) for line in stored.splitlines()}
    assert got == {_key(json.loads(line)) for line in printed.splitlines()}
    scanned = subprocess.run([*MINEWATCH, "scan", "--no-store", "--format", "jsonl",
                              *map(str, files)], capture_output=True, text=True,
                             check=True).stdout  # fmt: skip
    want = {_key(json.loads(line)) for line in scanned.splitlines()}
    print(f"\ncapture: {len(got)} hits stored, scan {len(want)}")
    assert got == want


def test_capture_command_refuses_a_missing_interface(netns: Netns) -> None:
    res = subprocess.run(netns.cmd(*MINEWATCH, "capture", "--iface", "nope0", "--no-store"),
                         capture_output=True, text=True, timeout=120)  # fmt: skip
    assert res.returncode != 0 and "nope0" in res.stderr


def test_capture_command_rejects_a_bad_filter(netns: Netns) -> None:
    res = subprocess.run(
        netns.cmd(*MINEWATCH, "capture", "--iface", RX, "--bpf", "port port", "--no-store"),
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert res.returncode == 2 and "--bpf" in res.stderr
