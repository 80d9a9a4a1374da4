"""Fixtures for the live-capture tests: a network namespace with a veth pair, a capture process
inside it (`tests.capture.runner`), and tcpreplay feeding the other end.

Everything network-facing happens inside a namespace created here and deleted in the
finalizer; without root, `ip netns` or tcpreplay the tests are skipped loudly.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import select
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

# `.venv/bin/pytest tests/capture` does not put the checkout on sys.path (`python -m pytest`
# does); the shared helpers and the runner are imported as `tests.*` either way.
_CHECKOUT = str(Path(__file__).resolve().parents[2])
if _CHECKOUT not in sys.path:
    sys.path.insert(0, _CHECKOUT)

from tests.conftest import ROOT  # noqa: E402

TX, RX = "mwtx", "mwrx"  # tcpreplay sends on TX; the capture listens on RX
MTU = 9000  # the shared captures hold frames up to ~7.3 kB; veth drops frames above the MTU


def _skip(why: str) -> None:
    pytest.skip(f"SKIPPED LOUDLY: {why}")


def need_netns() -> None:
    if os.geteuid() != 0:
        _skip("live-capture tests need root (network namespaces, AF_PACKET)")
    for tool in ("ip", "tcpreplay"):
        if shutil.which(tool) is None:
            _skip(f"{tool} is not installed (Debian: iproute2, tcpreplay)")


def _run(*cmd: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60)


@dataclass
class Netns:
    name: str

    def cmd(self, *argv: str) -> list[str]:
        return ["ip", "netns", "exec", self.name, *argv]

    def check(self, *argv: str) -> None:
        res = _run(*self.cmd(*argv))
        if res.returncode:
            raise RuntimeError(f"{' '.join(argv)} failed in {self.name}: {res.stderr.strip()}")


@pytest.fixture
def netns() -> Iterator[Netns]:
    """A fresh namespace with a veth pair TX ↔ RX, IPv6 off (no kernel chatter on the link)."""
    need_netns()
    name = f"mwcap-{os.getpid()}-{secrets.token_hex(3)}"
    res = _run("ip", "netns", "add", name)
    if res.returncode:
        _skip(f"cannot create a network namespace: {res.stderr.strip()}")
    try:
        ns = Netns(name)
        ns.check("sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1")
        ns.check("sysctl", "-qw", "net.ipv6.conf.default.disable_ipv6=1")
        ns.check("ip", "link", "add", TX, "mtu", str(MTU), "type", "veth", "peer", "name", RX,
                 "mtu", str(MTU))  # fmt: skip
        ns.check("ip", "link", "set", TX, "up")
        ns.check("ip", "link", "set", RX, "up")
        yield ns
    finally:
        _run("ip", "netns", "del", name)


@dataclass
class Capture:
    """One `tests.capture.runner` process in the namespace (its own session, so the
    finalizer can end it and its workers by process group)."""

    ns: Netns
    out: Path
    args: list[str] = field(default_factory=list)
    proc: subprocess.Popen[str] | None = None
    err: Any = None

    def start(self, timeout: float = 120) -> Capture:
        argv = [sys.executable, "-m", "tests.capture.runner", "--iface", RX,
                "--out", str(self.out), *self.args]  # fmt: skip
        self.err = (self.out.parent / f"{self.out.name}.stderr").open("w")
        self.proc = subprocess.Popen(
            self.ns.cmd(*argv), cwd=ROOT, stdout=subprocess.PIPE, stderr=self.err, text=True,
            start_new_session=True,
        )  # fmt: skip
        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"capture exited {self.proc.returncode}: {self.stderr()}")
            ready, _, _ = select.select([self.proc.stdout], [], [], 0.5)
            if ready and self.proc.stdout.readline().strip() == "READY":
                return self
        raise AssertionError(f"capture not ready after {timeout} s: {self.stderr()}")

    def stderr(self) -> str:
        return (self.out.parent / f"{self.out.name}.stderr").read_text()[-3000:]

    def stats(self, name: str = "stats.json") -> dict[str, Any] | None:
        try:
            return json.loads((self.out / name).read_text())  # type: ignore[no-any-return]
        except FileNotFoundError:
            return None

    def wait_for(self, packets: int, timeout: float = 30) -> dict[str, Any]:
        """Counters once the rings have seen `packets` (captured or dropped) and settled."""
        deadline = time.monotonic() + timeout
        while True:
            st = self.stats()
            if st is not None:
                ring = st["ring"]
                if ring["packets"] + ring["kernel_drops"] >= packets:
                    time.sleep(0.5)  # let the counters settle (late packets would show)
                    return self.stats() or st
            if time.monotonic() > deadline:
                raise AssertionError(f"capture saw {st and st['ring']} of {packets} packets")
            time.sleep(0.1)

    def terminate(self, timeout: float = 60) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)

    def hits(self) -> list[dict[str, Any]]:
        path = self.out / "hits.jsonl"
        return [json.loads(line) for line in path.read_text().splitlines()]

    def kill(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        if self.err is not None:
            self.err.close()


@pytest.fixture
def capture(netns: Netns, tmp_path: Path) -> Iterator[Any]:
    """Factory: `capture(*runner_args)` starts a capture on RX and waits until it is ready."""
    started: list[Capture] = []

    def start(*args: str) -> Capture:
        cap = Capture(netns, tmp_path / f"cap{len(started)}", list(args))
        started.append(cap)
        return cap.start()

    yield start
    for cap in started:
        cap.kill()


@dataclass(frozen=True)
class Replay:
    sent: int
    failed: int
    seconds: float
    pps: float
    output: str


def replay(ns: Netns, files: list[Path], *rate: str, background: bool = False) -> Any:
    """tcpreplay `files` into TX at `rate` (e.g. "--pps", "20000" or "--topspeed")."""
    argv = ns.cmd("tcpreplay", "-i", TX, *rate, *map(str, files))
    if background:
        return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    res = subprocess.run(argv, capture_output=True, text=True, timeout=600)
    if res.returncode:
        raise AssertionError(f"tcpreplay failed: {res.stdout}{res.stderr}")
    return parse_replay(res.stdout + res.stderr)


def parse_replay(text: str) -> Replay:
    actual = re.search(r"Actual: (\d+) packets \(\d+ bytes\) sent in ([\d.]+) seconds", text)
    rated = re.search(r"Rated: [\d.]+ Bps, [\d.]+ Mbps, ([\d.]+) pps", text)
    failed = re.search(r"Failed packets:\s+(\d+)", text)
    if not (actual and rated and failed):
        raise AssertionError(f"unexpected tcpreplay output:\n{text}")
    return Replay(int(actual[1]), int(failed[1]), float(actual[2]), float(rated[1]), text)
