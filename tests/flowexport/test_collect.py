"""`minewatch collect` end to end: softflowd exports a real capture over loopback, the collector
decodes, matches the block list, aggregates, stores; `minewatch hits` shows what `minewatch scan`
finds by the same list on the same capture. Also SIGTERM, metrics and template persistence."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import GROUNDTRUTH

from pipelines.sources.udp import open_socket

from .exporters import free_tcp_port, free_udp_port, receive_all, softflowd_replay, start_nfcapd
from .test_oracle import nfdump_flows

MINEWATCH = [sys.executable, "-m", "minewatch"]
CAPTURE = "nesfit__cgminer.g0.pcapng"


def _pool_list(tmp: Path) -> Path:
    """The capture's POOL servers (ground truth) as a plain block list."""
    servers = set()
    for line in GROUNDTRUTH.read_text().splitlines()[1:]:
        cols = line.split("\t")
        if cols[0] == CAPTURE and cols[3] == "POOL":
            servers.add(cols[2].rsplit(":", 1)[0])
    path = tmp / "pools.txt"
    path.write_text("".join(f"{s}\n" for s in sorted(servers)))
    return path


def _metrics(port: int) -> dict[str, float]:
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    out: dict[str, float] = {}
    for line in text.splitlines():
        m = re.match(r"^(minewatch_\w+)(\{[^}]*\})? (\S+)$", line)
        if m:
            out[m.group(1) + (m.group(2) or "")] = float(m.group(3))
    return out


class Collect:
    """A `minewatch collect` process on loopback."""

    def __init__(
        self, tmp: Path, blocklist: Path, db: str, extra: tuple[str, ...] = (),
        state: Path | None = None, env: dict[str, str] | None = None,
    ) -> None:  # fmt: skip
        tmp.mkdir(exist_ok=True)
        self.state = state or tmp / "templates.json"
        self.err = tmp / "collect.err"
        for _ in range(5):  # another test may take a port between choosing and binding it
            self.port, self.metrics_port = free_udp_port(), free_tcp_port()
            with (tmp / "collect.jsonl").open("wb") as out, self.err.open("wb") as err:
                self.proc = subprocess.Popen(
                    [*MINEWATCH, "collect", "--listen", f"netflow://127.0.0.1:{self.port}",
                     "--blocklist", str(blocklist), "--db", db, "--state", str(self.state),
                     "--flush", "0.5", "--metrics", f"127.0.0.1:{self.metrics_port}", *extra],
                    stdout=out, stderr=err, env={**os.environ, **(env or {})},
                )  # fmt: skip
            if self._started():
                return
        raise AssertionError(f"collector did not start: {self.err.read_text()}")

    def _started(self) -> bool:
        """Wait for "listening"; False when the process died of a taken port (retry)."""
        deadline = time.monotonic() + 60
        while b"listening" not in self.err.read_bytes():
            if self.proc.poll() is not None:
                if b"Address already in use" in self.err.read_bytes():
                    return False
                raise AssertionError(self.err.read_text())
            assert time.monotonic() < deadline, "collector did not start"
            time.sleep(0.1)
        return True

    def wait_datagrams(self, n: int) -> dict[str, float]:
        deadline = time.monotonic() + 30
        while True:
            m = _metrics(self.metrics_port)
            if m.get('minewatch_datagrams_processed_total{listener="netflow"}', 0) >= n:
                return m
            assert time.monotonic() < deadline, f"collector got fewer than {n} datagrams: {m}"
            time.sleep(0.2)

    def stop(self) -> str:
        self.proc.send_signal(signal.SIGTERM)
        assert self.proc.wait(timeout=60) == 0, self.err.read_text()
        return self.err.read_text()


@pytest.fixture
def pcap(tmp_path: Path, oracle_tools: dict[str, str]) -> Path:
    from conftest import MINING, need_shared

    need_shared()
    out = tmp_path / "g0.pcap"
    subprocess.run([oracle_tools["editcap"], "-F", "pcap", str(MINING / CAPTURE), str(out)],
                   check=True)  # fmt: skip
    return out


def _exported(err: str) -> int:
    m = re.search(r"Flows exported: \d+ \(\d+ records\) in (\d+) packets", err)
    assert m, err
    return int(m.group(1))


def _hits(db: str) -> list[dict[str, object]]:
    out = subprocess.run([*MINEWATCH, "hits", "--db", db, "--format", "jsonl"],
                         capture_output=True, text=True, check=True).stdout  # fmt: skip
    return [json.loads(line) for line in out.splitlines()]


def _scan_hits(path: Path, blocklist: Path) -> list[dict[str, object]]:
    out = subprocess.run(
        [*MINEWATCH, "scan", "--no-store", "--format", "jsonl", "--blocklist", str(blocklist),
         str(path)], capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    return [json.loads(line) for line in out.splitlines()]


@pytest.fixture
def run_dir(tmp_path: Path) -> Iterator[Path]:
    d = tmp_path / "sf"
    d.mkdir()
    yield d
    for f in d.iterdir():
        f.unlink()


@pytest.mark.parametrize("version", [5, 9, 10])
def test_collect_matches_scan_by_list(
    version: int, pcap: Path, tmp_path: Path, run_dir: Path, oracle_tools: dict[str, str]
) -> None:
    pools = _pool_list(tmp_path)
    db = f"sqlite:///{tmp_path / 'hits.db'}"
    c = Collect(tmp_path, pools, db)
    flowdir = tmp_path / "nfcapd"
    flowdir.mkdir()
    nfcapd, nf_port = start_nfcapd(oracle_tools["nfcapd"], flowdir, tmp_path / "nfcapd.log")
    try:
        log = softflowd_replay(oracle_tools["softflowd"], pcap,
                               [f"127.0.0.1:{c.port}", f"127.0.0.1:{nf_port}"], version,
                               run_dir)  # fmt: skip
        m = c.wait_datagrams(_exported(log))
    finally:
        time.sleep(0.3)
        nfcapd.send_signal(signal.SIGTERM)
        nfcapd.wait(timeout=30)
    err = c.stop()
    # the collector decoded as many records as nfcapd stored from the same export
    decoded = sum(v for k, v in m.items() if k.startswith("minewatch_records_decoded_total"))
    assert decoded == len(nfdump_flows(oracle_tools["nfdump"], flowdir)) > 0
    assert "kernel drops 0" in err
    assert m.get('minewatch_decode_malformed_total{format="netflow"}', 0) == 0
    stored = _hits(db)
    assert stored, "no hits stored"
    got = {(h["client_ip"], h["server_ip"], h["server_port"]) for h in stored}
    assert all(h["class"] == "mining" and "ip-list" in h["evidence"] for h in stored)
    listed = set(pools.read_text().split())
    want = {
        (h["client_ip"], h["server_ip"], h["server_port"])
        for h in _scan_hits(pcap, pools)
        if h["server_ip"] in listed and "ip-list" in h["evidence"]
    }
    print(f"\nv{version}: collect {len(got)} subscriber-pool pairs, scan {len(want)}")
    assert got == want
    # one aggregated row per pair per report interval; counts add up to softflowd's records
    for h in stored:
        agg = h["detail"]["aggregate"]
        assert agg["flow_records"] >= 1
        assert h["packets"] == agg["packets_sampled"]  # softflowd announces 1-in-1 sampling
    # the templates were saved at shutdown (v9/IPFIX) and load again
    if version != 5:
        state = json.loads(c.state.read_text())
        assert state["format"] == "minewatch-flow-templates" and state["streams"]


def test_collect_scales_sampled_counts(
    pcap: Path, tmp_path: Path, run_dir: Path, oracle_tools: dict[str, str]
) -> None:
    """softflowd -s 4: records say 1-in-4; hits report 4x the exported packets and bytes."""
    pools = _pool_list(tmp_path)
    db = f"sqlite:///{tmp_path / 'hits.db'}"
    c = Collect(tmp_path, pools, db)
    log = softflowd_replay(oracle_tools["softflowd"], pcap, [f"127.0.0.1:{c.port}"], 9, run_dir,
                           ("-s", "4"))  # fmt: skip
    c.wait_datagrams(_exported(log))
    c.stop()
    stored = _hits(db)
    assert stored
    for h in stored:
        agg = h["detail"]["aggregate"]
        assert agg["sampling"] == [4]
        assert h["packets"] == 4 * agg["packets_sampled"]
        assert h["bytes"] == 4 * agg["bytes_sampled"]


def _template_free(datagram: bytes) -> bool:
    """An IPFIX message that carries no (options) template set."""
    pos = 16
    while pos + 4 <= len(datagram):
        set_id, length = struct.unpack_from(">HH", datagram, pos)
        if set_id in (2, 3) or length < 4:
            return False
        pos += length
    return True


def test_collect_restart_keeps_templates(
    pcap: Path, tmp_path: Path, run_dir: Path, oracle_tools: dict[str, str]
) -> None:
    """A restarted collector decodes data records at once with the templates the first one
    saved: only template-free IPFIX messages are sent to the second one."""
    sock = open_socket("127.0.0.1", 0)  # a large (forced) buffer: softflowd sends in bursts
    try:
        softflowd_replay(oracle_tools["softflowd"], pcap,
                         [f"127.0.0.1:{sock.getsockname()[1]}"], 10, run_dir)  # fmt: skip
        datagrams = receive_all(sock)
    finally:
        sock.close()
    data_only = [d for d in datagrams if _template_free(d)]
    assert datagrams and data_only and len(data_only) < len(datagrams)
    pools = _pool_list(tmp_path)
    first = Collect(tmp_path / "a", pools, f"sqlite:///{tmp_path / 'a.db'}")
    _send(first.port, datagrams)
    first.wait_datagrams(len(datagrams))
    first.stop()
    second = Collect(tmp_path / "b", pools, f"sqlite:///{tmp_path / 'b.db'}", state=first.state)
    _send(second.port, data_only)
    m = second.wait_datagrams(len(data_only))
    second.stop()
    assert m["minewatch_template_misses_total"] == 0
    assert _hits(f"sqlite:///{tmp_path / 'b.db'}"), "no hits from the data-only messages"


def _send(port: int, datagrams: list[bytes]) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for d in datagrams:
            s.sendto(d, ("127.0.0.1", port))


def test_collect_stops_cleanly_on_sigterm_with_no_traffic(tmp_path: Path) -> None:
    pools = tmp_path / "empty.txt"
    pools.write_text("")
    c = Collect(tmp_path, pools, f"sqlite:///{tmp_path / 'hits.db'}")
    m = _metrics(c.metrics_port)
    assert m['minewatch_datagrams_received_total{listener="netflow"}'] == 0
    err = c.stop()
    assert "0 datagrams" in err


def test_collect_metrics_show_the_event_targets(tmp_path: Path) -> None:
    """The settings' webhook is opened with the store; /metrics carries its delivery counters."""
    from tests.hooks import HookServer

    pools = tmp_path / "empty.txt"
    pools.write_text("")
    with HookServer("collect-hook-secret") as hook:
        env = {"MINEWATCH_EVENT_TARGETS": json.dumps([hook.url]),
               "MINEWATCH_WEBHOOK_SECRET": "collect-hook-secret"}  # fmt: skip
        c = Collect(tmp_path, pools, f"sqlite:///{tmp_path / 'hits.db'}", env=env)
        m = _metrics(c.metrics_port)
        c.stop()
    for outcome in ("queued", "sent", "failed", "dropped"):
        assert m[f'minewatch_events_total{{index="0",outcome="{outcome}",target="webhook"}}'] == 0
    assert m['minewatch_event_queue{index="0",target="webhook"}'] == 0


def test_collect_rejects_bad_listen_url(tmp_path: Path) -> None:
    p = subprocess.run([*MINEWATCH, "collect", "--listen", "netflow://nope", "--no-store"],
                       capture_output=True, text=True, env={**os.environ})  # fmt: skip
    assert p.returncode == 2 and "port" in p.stderr
