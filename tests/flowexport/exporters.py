"""Real flow exporters for the tests: softflowd replaying a capture, nfcapd collecting."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def free_tcp_port() -> int:
    """A TCP port free right now (the metrics server listens on TCP: a free UDP number says
    nothing about it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_nfcapd(nfcapd: str, flowdir: Path, log: Path) -> tuple[subprocess.Popen[bytes], int]:
    """nfcapd on a free loopback port; retried if another process takes the port first."""
    for _ in range(5):
        port = free_udp_port()
        with log.open("wb") as fh:
            proc = subprocess.Popen(
                [nfcapd, "-b", "127.0.0.1", "-p", str(port), "-w", str(flowdir), "-t", "3600"],
                stdout=fh,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and proc.poll() is None:
            if b"Startup" in log.read_bytes():
                return proc, port
            time.sleep(0.05)
        proc.kill()
        proc.wait()
    pytest.fail(f"nfcapd did not start: {log.read_text(errors='replace')[-500:]}")


def receive_all(sock: socket.socket, quiet: float = 0.5) -> list[bytes]:
    out = []
    sock.settimeout(quiet)
    try:
        while True:
            out.append(sock.recv(65535))
    except TimeoutError:
        return out


def softflowd_replay(
    exe: str, pcap: Path, dests: list[str], version: int, cwd: Path, extra: tuple[str, ...] = ()
) -> str:
    """Replay the capture through softflowd (offline: it exits at the end of the file).

    softflowd 1.1.0 in -r mode can block in accept() on its control socket instead of exiting
    when that socket's path is longer than a few characters, so it gets a one-letter name in
    its own directory (cwd); `softflowctl shutdown` is the fallback if it still does not exit.
    """
    cmd = [
        exe,
        "-r",
        str(pcap),
        "-n",
        ",".join(dests),
        "-v",
        str(version),
        "-T",
        "full",
        "-a",
        *extra,
    ]
    proc = subprocess.Popen(
        [*cmd, "-p", "p", "-c", "c"], cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        out, _ = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        ctl = shutil.which("softflowctl")
        if ctl:
            subprocess.run([ctl, "-c", "c", "shutdown"], cwd=cwd, timeout=30, check=False)
        try:
            out, _ = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate()
            pytest.fail(f"softflowd did not exit: {out.decode(errors='replace')[-500:]}")
    assert proc.returncode == 0, out.decode(errors="replace")[-500:]
    return out.decode(errors="replace")
