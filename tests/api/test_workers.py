"""`minewatch serve --workers 2` as real processes on loopback (`api.workers`): both workers
accept connections (read back from /proc: which process holds the accepted socket), /metrics
sums both workers' counters, SIGTERM
stops everything with status 0, a killed worker is replaced, a port in use — even by another
SO_REUSEPORT server — is refused before anything starts, and a worker that cannot start stops
the service instead of looping."""

from __future__ import annotations

import http.client
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="SO_REUSEPORT balancing: Linux")

CLI = [sys.executable, "-m", "minewatch.cli_serve", "serve"]


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MINEWATCH_")}
    return {**env, "MINEWATCH_ENV": "dev", **extra}


@dataclass
class Served:
    proc: subprocess.Popen[bytes]
    log: Path

    def text(self) -> str:
        return self.log.read_text()

    @property
    def port(self) -> int:
        found = re.search(r"serving http://127\.0\.0\.1:(\d+) with", self.text())
        assert found, self.text()
        return int(found.group(1))

    def ready(self) -> dict[int, int]:
        """Slot -> pid of its latest worker that reported ready."""
        return {int(s): int(p) for s, p in re.findall(r"worker (\d+) ready \[(\d+)\]", self.text())}

    def wait_for(self, pattern: str, seconds: float = 20) -> re.Match[str]:
        deadline = time.monotonic() + seconds
        while (found := re.search(pattern, self.text())) is None:
            assert self.proc.poll() is None, f"serve exited {self.proc.returncode}:\n{self.text()}"
            assert time.monotonic() < deadline, f"no {pattern!r} in:\n{self.text()}"
            time.sleep(0.05)
        return found


def start(tmp_path: Path, **env: str) -> Served:
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([*CLI, "--workers", "2", "--port", "0", "--db",
                                 f"sqlite:///{tmp_path / 'w.db'}"], env=clean_env(**env),
                                stdout=out, stderr=subprocess.STDOUT)  # fmt: skip
    return Served(proc, log)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    s = start(tmp_path)
    try:
        s.wait_for(r"worker 1 ready[\s\S]*worker 2 ready|worker 2 ready[\s\S]*worker 1 ready")
        yield s
    finally:
        if s.proc.poll() is None:
            s.proc.terminate()
            try:
                s.proc.wait(10)
            except subprocess.TimeoutExpired:
                s.proc.kill()
                s.proc.wait()


def connect(port: int, n: int = 32) -> list[http.client.HTTPConnection]:
    """`n` keep-alive connections, each with one answered request (so it has been accepted)."""
    conns = []
    for _ in range(n):
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        c.request("GET", "/v1/healthz")
        response = c.getresponse()
        assert response.status == 200 and response.read()
        conns.append(c)
    return conns


def accepted_by(
    pids: list[int], port: int, conns: list[http.client.HTTPConnection]
) -> Counter[int]:
    """How many of `conns` each pid holds the server end of (/proc/net/tcp: inode by ports;
    /proc/PID/fd: which process has that inode open)."""
    clients = {c.sock.getsockname()[1] for c in conns if c.sock is not None}
    inodes: set[str] = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, remote, inode = fields[1], fields[2], fields[9]
        if int(local.split(":")[1], 16) == port and int(remote.split(":")[1], 16) in clients:
            inodes.add(inode)
    held: Counter[int] = Counter()
    for pid in pids:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.startswith("socket:[") and target[8:-1] in inodes:
                held[pid] += 1
    return held


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_both_workers_accept_connections(served: Served) -> None:
    pids = list(served.ready().values())
    assert len(set(pids)) == 2
    conns = connect(served.port)
    held = accepted_by(pids, served.port, conns)
    assert sum(held.values()) == 32 and all(held[p] > 0 for p in pids), held
    for c in conns:
        c.close()


def test_metrics_sum_every_worker(served: Served) -> None:
    pids = list(served.ready().values())
    conns = connect(served.port)  # 32 healthz requests, on both workers
    try:
        held = accepted_by(pids, served.port, conns)
        assert all(held[p] > 0 for p in pids), held
        conns[0].request("GET", "/v1/metrics")
        text = conns[0].getresponse().read().decode()
    finally:
        for c in conns:
            c.close()
    found = re.search(r'minewatch_api_requests_total\{[^}]*route="/healthz"[^}]*\} (\S+)', text)
    assert found and float(found.group(1)) == 32, text


def test_sigterm_stops_everything_with_status_0(served: Served) -> None:
    pids = list(served.ready().values())
    idle = connect(served.port, 4)  # idle keep-alive connections do not hold the shutdown up
    t0 = time.monotonic()
    served.proc.send_signal(signal.SIGTERM)
    assert served.proc.wait(10) == 0, served.text()
    assert time.monotonic() - t0 < 5
    for slot, pid in served.ready().items():
        assert f"worker {slot} stopped [{pid}] (exit status 0)" in served.text()
    assert all(gone(p) for p in pids)
    for c in idle:
        c.close()


def test_a_killed_worker_is_replaced(served: Served) -> None:
    old = served.ready()
    os.kill(old[1], signal.SIGKILL)
    served.wait_for(rf"worker 1 \[{old[1]}\] exited unexpectedly \(killed by SIGKILL\)")
    served.wait_for(rf"worker 1 ready \[(?!{old[1]}\])")
    new = served.ready()[1]
    assert new != old[1] and gone(old[1])
    conns = connect(served.port)
    held = accepted_by([new, old[2]], served.port, conns)
    assert held[new] > 0 and held[old[2]] > 0, held
    for c in conns:
        c.close()


def _stop(s: Served) -> None:
    if s.proc.poll() is None:
        s.proc.terminate()
        s.proc.wait(20)


def test_metrics_directory_of_a_killed_supervisor_is_removed_by_the_next(tmp_path: Path) -> None:
    """SIGKILL gives the supervisor no chance to clean up: its metrics directory stays until the
    next `serve` finds nobody holding its lock. A live supervisor's directory is left alone."""
    tmp, a, b, c = (tmp_path / n for n in ("tmp", "a", "b", "c"))
    for d in (tmp, a, b, c):
        d.mkdir()
    both = r"worker 1 ready[\s\S]*worker 2 ready|worker 2 ready[\s\S]*worker 1 ready"
    first = start(a, TMPDIR=str(tmp))
    try:
        first.wait_for(both)
        workers = list(first.ready().values())
        (left,) = tmp.glob("minewatch-metrics-*")
        first.proc.kill()
        first.proc.wait()
        deadline = time.monotonic() + 20
        while not all(gone(p) for p in workers) and time.monotonic() < deadline:
            time.sleep(0.05)  # the workers follow their supervisor (parent-death signal)
        assert left.is_dir()
        second = start(b, TMPDIR=str(tmp))
        try:
            second.wait_for(both)
            (live,) = tmp.glob("minewatch-metrics-*")
            assert live != left and not left.exists()
            third = start(c, TMPDIR=str(tmp))  # port 0: a port of its own
            try:
                third.wait_for(both)
                assert live.is_dir()  # the second supervisor still holds its lock
                assert len(list(tmp.glob("minewatch-metrics-*"))) == 2
            finally:
                _stop(third)
        finally:
            _stop(second)
        assert not list(tmp.glob("minewatch-metrics-*"))
    finally:
        if first.proc.poll() is None:
            first.proc.kill()


@pytest.mark.parametrize("reuseport", [False, True], ids=["plain", "another-reuseport-server"])
def test_port_in_use_is_refused(tmp_path: Path, reuseport: bool) -> None:
    with socket.socket() as other:
        if reuseport:  # what a second `serve --workers` would join silently without the check
            other.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        proc = subprocess.run([*CLI, "--workers", "2", "--port", str(port), "--db",
                               f"sqlite:///{tmp_path / 'w.db'}"], env=clean_env(),
                              capture_output=True, text=True, timeout=30, check=False)  # fmt: skip
    assert proc.returncode != 0
    assert f"127.0.0.1:{port} is already in use" in proc.stderr
    assert "worker" not in proc.stderr  # refused before starting any
    assert not (tmp_path / "w.db").exists()


def test_a_worker_that_cannot_start_stops_the_service(tmp_path: Path) -> None:
    s = start(tmp_path, MINEWATCH_EVENT_TARGETS="bogus://nowhere")  # fails in the app lifespan
    try:
        assert s.proc.wait(20) == 3
    finally:
        if s.proc.poll() is None:
            s.proc.kill()
    text = s.text()
    assert re.search(r"worker \d \[\d+\] failed to start \(exit status 3\)", text), text
    assert "unknown event target scheme" in text
    assert "restart" not in text
