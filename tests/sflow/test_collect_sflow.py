"""`minewatch collect` end to end with sFlow: real frames of the shared mining captures reach a
collector process over loopback as sFlow v5 raw-packet-header samples, encoded by the test
(`xdr`, whole frames or 128-byte headers, 1-in-1 or 1-in-10) or exported by a real agent
(pmacct's sfprobe replaying a capture); the hits `minewatch hits` then lists are compared with
`minewatch scan` of the same capture. Also sampled IPv4 records (the flow-record path), the
sampling-rate scaling of the reported counts, the sFlow metrics and an orderly SIGTERM."""

from __future__ import annotations

import ipaddress
import socket
import subprocess
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dpkt
import pytest
from conftest import GROUNDTRUTH, MINING, captures, need_shared  # tests/conftest.py
from flowexport.exporters import free_udp_port
from flowexport.test_collect import Collect, _hits, _metrics, _scan_hits

from . import xdr
from .conftest import read_frames
from .test_pmacct import need_pmacctd

AGENT = "192.0.2.10"
# evidence taken from the packets' bytes (not from lists, ports or state learned earlier)
PAYLOAD = frozenset({"stratum", "http-mining", "sni", "dns", "coin-p2p", "domain-list"})
MAX_DATAGRAM = 1400  # what agents keep their datagrams under (one sample at least)
SFLOW_RX = 'minewatch_datagrams_received_total{listener="sflow"}'
SFLOW_DONE = 'minewatch_datagrams_processed_total{listener="sflow"}'

Key = tuple[str, str, int, str, str]  # client, server, server port, transport, class
Hit = dict[str, Any]  # a JSON hit as `minewatch hits` / `scan` print it


def _mining_captures() -> list[str]:
    return [p.name for p in captures(MINING)] if MINING.is_dir() else ["(shared data missing)"]


def _capture(name: str) -> Path:
    need_shared()
    path = MINING / name
    if not path.exists():
        pytest.skip(f"SKIPPED LOUDLY: shared capture {path} is missing")
    return path


# -- the collector ----------------------------------------------------------------------------


class SflowCollect(Collect):
    """The flowexport tests' `minewatch collect` process, listening for sFlow as well."""

    def __init__(self, tmp: Path, blocklist: Path) -> None:
        self.sflow_port = free_udp_port()
        self.db = f"sqlite:///{tmp / 'hits.db'}"
        super().__init__(tmp, blocklist, self.db,
                         ("--listen", f"sflow://127.0.0.1:{self.sflow_port}"))  # fmt: skip

    def send(self, datagrams: Iterable[bytes]) -> int:
        n = 0
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            for d in datagrams:
                s.sendto(d, ("127.0.0.1", self.sflow_port))
                n += 1
        return n

    def wait_sflow(self, n: int) -> dict[str, float]:
        """Metrics once `n` sFlow datagrams were received (and handed to the decoding loop)."""
        deadline = time.monotonic() + 30
        while True:
            m = _metrics(self.metrics_port)
            if m.get(SFLOW_DONE, 0) >= n:  # decoded, not only received
                return m
            assert time.monotonic() < deadline, f"collector got fewer than {n} datagrams: {m}"
            time.sleep(0.2)

    def wait_quiet(self) -> dict[str, float]:
        """Metrics once the received count stopped growing (an exporter that has exited)."""
        deadline = time.monotonic() + 30
        last = -1.0
        while True:
            time.sleep(0.5)
            m = _metrics(self.metrics_port)
            if m.get(SFLOW_RX, 0) == last > 0 and m.get(SFLOW_DONE, 0) == last:
                return m
            last = m.get(SFLOW_RX, 0)
            assert time.monotonic() < deadline, f"collector still receiving: {m}"

    def finish(self) -> tuple[str, dict[Key, Hit]]:
        """SIGTERM (exit status 0 asserted), then the stored hits summed per key: one row per
        key and report interval, each counting its own interval."""
        err = self.stop()
        total: dict[Key, Hit] = {}
        for h in _hits(self.db):
            k = _key(h)
            if k not in total:
                total[k] = h
                continue
            t, a, b = total[k], _agg(total[k]), _agg(h)
            t["evidence"] = sorted(set(t["evidence"]) | set(h["evidence"]))
            t["packets"] += h["packets"]
            t["bytes"] += h["bytes"]
            for name in ("flow_records", "packets_sampled", "bytes_sampled"):
                a[name] += b[name]
            a["sampling"] = sorted(set(a["sampling"]) | set(b["sampling"]))
        return err, total


def _key(h: Hit) -> Key:
    return (str(h["client_ip"]), str(h["server_ip"]), int(h["server_port"]),
            str(h["transport"]), str(h["class"]))  # fmt: skip


def _agg(h: Hit) -> dict[str, Any]:
    agg: dict[str, Any] = h["detail"]["aggregate"]
    return agg


def _unordered(k: Key) -> tuple[tuple[str, str], int, str]:
    """A key without its orientation: with both ends on the same port (Ethereum's 30303) the
    flow table calls the first sender seen the client, and sampling changes who that is."""
    a, b = sorted((k[0], k[1]))
    return (a, b), k[2], k[3]


@pytest.fixture
def collect(tmp_path: Path) -> Iterator[Callable[[Path], SflowCollect]]:
    """Starts collectors; one a failed test left running is killed (never left behind)."""
    started: list[SflowCollect] = []

    def start(blocklist: Path) -> SflowCollect:
        started.append(SflowCollect(tmp_path / f"c{len(started)}", blocklist))
        return started[-1]

    yield start
    for c in started:
        if c.proc.poll() is None:
            c.proc.kill()
            c.proc.wait()


@pytest.fixture
def blocklist(tmp_path: Path) -> Path:
    """A block list naming only a documentation address: every hit comes from the packets."""
    path = tmp_path / "blocklist.txt"
    path.write_text("192.0.2.1\n")
    return path


# -- encoding real frames as sFlow ------------------------------------------------------------


def encode(
    frames: list[bytes], *, rate: int, max_header: int = 1 << 16, agent: str = AGENT
) -> list[bytes]:
    """One flow sample per frame (raw packet header), packed into datagrams of at most
    `MAX_DATAGRAM` bytes; sample and datagram sequences from 1, as one agent's one source."""
    samples = [
        xdr.flow_sample([xdr.sampled_header(f, max_header=max_header)], seq=i + 1, rate=rate)
        for i, f in enumerate(frames)
    ]
    out: list[bytes] = []
    group: list[bytes] = []
    size = 0
    for s in samples:
        if group and size + len(s) > MAX_DATAGRAM - 28:
            out.append(xdr.datagram(group, agent=agent, seq=len(out) + 1))
            group, size = [], 0
        group.append(s)
        size += len(s)
    if group:
        out.append(xdr.datagram(group, agent=agent, seq=len(out) + 1))
    return out


@dataclass
class ScanKey:
    evidence: set[str] = field(default_factory=set)
    packets: int = 0
    flows: int = 0


def scan_by_key(capture: Path, blocklist: Path) -> dict[Key, ScanKey]:
    """`minewatch scan` of the capture, per-flow hits summed per collector key."""
    out: dict[Key, ScanKey] = defaultdict(ScanKey)
    hits: list[Hit] = _scan_hits(capture, blocklist)
    for h in hits:
        k = out[_key(h)]
        k.evidence |= set(h["evidence"])
        k.packets += int(h["packets"])
        k.flows += 1
    return dict(out)


def payload_keys(hits: dict[Key, Hit] | dict[Key, ScanKey]) -> set[Key]:
    return {
        k
        for k, h in hits.items()
        if PAYLOAD & (h.evidence if isinstance(h, ScanKey) else set(h["evidence"]))
    }


def pool_servers(capture: str) -> set[tuple[str, int]]:
    """The ground truth's pool endpoints (POOL and failed ATTEMPT rows) for the capture."""
    out = set()
    for line in GROUNDTRUTH.read_text().splitlines()[1:]:
        cols = line.split("\t")
        if cols[0] == capture and cols[3] in ("POOL", "ATTEMPT"):
            host, port = cols[2].rsplit(":", 1)
            out.add((host.strip("[]"), int(port)))
    return out


def sent_packets(frames: list[bytes], key: Key) -> int:
    """How many of the frames belong to the key's connections (either direction)."""
    ends = {ipaddress.ip_address(key[0]), ipaddress.ip_address(key[1])}
    proto = {"tcp": 6, "udp": 17}[key[3]]
    n = 0
    for f in frames:
        ip = dpkt.ethernet.Ethernet(f).data
        if not isinstance(ip, dpkt.ip.IP | dpkt.ip6.IP6) or ip.p != proto:
            continue
        l4 = ip.data
        src, dst = ipaddress.ip_address(ip.src), ipaddress.ip_address(ip.dst)
        if {src, dst} == ends and key[2] in (getattr(l4, "sport", -1), getattr(l4, "dport", -1)):
            n += 1
    return n


def _clean(m: dict[str, float], err: str) -> None:
    assert "kernel drops 0" in err, err
    assert m.get('minewatch_decode_malformed_total{format="sflow"}', 0) == 0
    assert m.get("minewatch_sflow_lost_samples_total", 0) == 0
    assert m.get("minewatch_processing_errors_total", 0) == 0


# -- the tests ---------------------------------------------------------------------------------


@pytest.mark.parametrize("capture", _mining_captures())
def test_whole_frames_one_in_one_match_scan(
    capture: str, collect: Callable[[Path], SflowCollect], blocklist: Path
) -> None:
    """Every frame as a 1-in-1 sample with the whole frame: per (client, pool endpoint) the
    collector reports what the scan finds in the capture — same keys, same evidence, same
    packet and flow counts."""
    path = _capture(capture)
    frames = [f.data for f in read_frames(path)]
    datagrams = encode(frames, rate=1)
    c = collect(blocklist)
    m = c.wait_sflow(c.send(datagrams))
    err, got = c.finish()
    _clean(m, err)
    assert m["minewatch_sflow_packets_total"] == len(frames)
    assert m['minewatch_sflow_samples_total{kind="flow"}'] == len(frames)
    assert m[SFLOW_RX] == len(datagrams)
    want = scan_by_key(path, blocklist)
    print(f"\n{capture}: {len(frames)} frames in {len(datagrams)} datagrams; collect "
          f"{len(got)} keys ({len(payload_keys(got))} with payload evidence), scan "
          f"{len(want)} ({len(payload_keys(want))})")  # fmt: skip
    assert payload_keys(got) == payload_keys(want) != set()
    assert {k: (set(h["evidence"]), h["packets"], _agg(h)["flow_records"])
            for k, h in got.items()} == {
        k: (s.evidence, s.packets, s.flows) for k, s in want.items()
    }  # fmt: skip
    for h in got.values():
        agg = _agg(h)
        assert agg["sampling"] == [1] and h["packets"] == agg["packets_sampled"]
        assert all(src.startswith("sflow") for src in agg["sources"])
    # Stratum fires on the capture's pool connections only
    pools = pool_servers(capture)
    stratum = {(k[1], k[2]) for k, h in got.items() if "stratum" in h["evidence"]}
    assert stratum <= pools, stratum - pools


@pytest.mark.parametrize(
    ("capture", "all_found"),
    [
        ("zeek-cryptomining__bitcoin-mining.pcap", True),
        ("nesfit__cgminer.s0.pcapng", True),
        # Stratum/eth-proxy lines of 80-300 bytes: 128-byte headers leave 74 payload bytes
        # (Ethernet/IPv4/TCP), no line is complete; the scan finds 4 keys, collect fewer
        ("ndpi__mining.pcapng", False),
    ],
)
def test_128_byte_headers_one_in_one(
    capture: str, all_found: bool, collect: Callable[[Path], SflowCollect], blocklist: Path
) -> None:
    """A switch's 128-byte headers of every frame: the payload keys are the scan's when the
    Stratum lines are short enough to fit; never a key the scan does not have."""
    path = _capture(capture)
    frames = [f.data for f in read_frames(path)]
    c = collect(blocklist)
    m = c.wait_sflow(c.send(encode(frames, rate=1, max_header=128)))
    err, got = c.finish()
    _clean(m, err)
    want = scan_by_key(path, blocklist)
    print(f"\n{capture}, 128-byte headers: {len(payload_keys(got))} of the scan's "
          f"{len(payload_keys(want))} payload keys")  # fmt: skip
    assert set(got) <= set(want)
    assert payload_keys(got) <= payload_keys(want)
    if all_found:
        assert payload_keys(got) == payload_keys(want)


@pytest.mark.parametrize(
    ("capture", "max_header", "least"),
    [
        ("ndpi__mining.pcapng", 1 << 16, 4),  # Stratum lines of 80–300 bytes: whole frames
        ("nesfit__cgminer.s0.pcapng", 128, 3),  # short Stratum lines fit a switch's 128 bytes
    ],
)
def test_one_in_ten_scales_counts(
    capture: str,
    max_header: int,
    least: int,
    collect: Callable[[Path], SflowCollect],
    blocklist: Path,
) -> None:
    """Every tenth frame, announced as 1-in-10: payload hits still fire, and each reports
    10x the packets and bytes it saw (`packets == 10 * packets_sampled`), the sampled count
    being exactly the frames of that connection that were sent."""
    path = _capture(capture)
    frames = [f.data for f in read_frames(path)][::10]
    c = collect(blocklist)
    m = c.wait_sflow(c.send(encode(frames, rate=10, max_header=max_header)))
    err, got = c.finish()
    _clean(m, err)
    assert m["minewatch_sflow_packets_total"] == len(frames)
    stratum = {k for k, h in got.items() if "stratum" in h["evidence"]}
    print(f"\n{capture} 1-in-10, {max_header}-byte headers: {len(frames)} samples, "
          f"{len(got)} keys, {len(stratum)} with Stratum")  # fmt: skip
    assert len(stratum) >= least
    want = scan_by_key(path, blocklist)
    assert {_unordered(k) for k in got} <= {_unordered(k) for k in want}
    assert {(k[1], k[2]) for k in stratum} <= pool_servers(capture)
    for k, h in got.items():
        agg = _agg(h)
        assert agg["sampling"] == [10]
        assert h["packets"] == 10 * agg["packets_sampled"]
        assert h["bytes"] == 10 * agg["bytes_sampled"]
        assert agg["packets_sampled"] == sent_packets(frames, k)


def pmacct_export(exe: str, tmp: Path, capture: Path, port: int, rate: int) -> None:
    """pmacctd replays the capture through its sfprobe plugin to the collector, then exits."""
    conf = tmp / "pmacctd.conf"
    conf.write_text(
        "daemonize: false\n"
        f"pcap_savefile: {capture}\n"
        "plugins: sfprobe\n"
        f"sfprobe_receiver: 127.0.0.1:{port}\n"
        "sfprobe_agentip: 192.0.2.77\n"
        f"sampling_rate: {rate}\n"
    )
    p = subprocess.run([exe, "-f", str(conf)], capture_output=True, text=True, timeout=120,
                       check=False)  # fmt: skip
    # not its exit status: pmacctd 1.7 at the end of a savefile sometimes exits 1 when its
    # plugin stops first ("connection lost to 'default_sfprobe-sfprobe'"), all sent anyway
    assert f"Exporting flows to [127.0.0.1]:{port}" in p.stderr + p.stdout, p.stderr[-500:]


@pytest.mark.parametrize("rate", [1, 4])
def test_pmacct_sfprobe_to_collect(
    rate: int, tmp_path: Path, collect: Callable[[Path], SflowCollect], blocklist: Path
) -> None:
    """A real agent: pmacct samples the cgminer capture 1-in-`rate` and sends 128-byte headers
    straight to `minewatch collect`. At 1-in-1 the Stratum connections found are the scan's
    (its Stratum lines are short enough for 128 bytes); at 1-in-4 a subset, counts x4."""
    exe = need_pmacctd()
    name = "nesfit__cgminer.s0.pcapng"
    path = _capture(name)
    c = collect(blocklist)
    pmacct_export(exe, tmp_path, path, c.sflow_port, rate)
    m = c.wait_quiet()
    err, got = c.finish()
    _clean(m, err)
    packets = m["minewatch_sflow_packets_total"]
    assert m['minewatch_sflow_samples_total{kind="flow"}'] == packets > 0
    want = payload_keys(scan_by_key(path, blocklist))
    found = payload_keys(got)
    print(f"\npmacct 1-in-{rate}: {m[SFLOW_RX]:.0f} datagrams, {packets:.0f} sampled packets; "
          f"{len(found)} of the scan's {len(want)} payload keys")  # fmt: skip
    if rate == 1:
        assert 855 - 16 <= packets <= 855  # pmacct may drop its last, unfilled datagram
        assert found == want
    else:
        assert 120 <= packets <= 320 and found and found <= want
    for h in got.values():
        agg = _agg(h)
        assert agg["sampling"] == [rate] and h["packets"] == rate * agg["packets_sampled"]


def test_sampled_ipv4_records_and_counters(
    tmp_path: Path, collect: Callable[[Path], SflowCollect]
) -> None:
    """Flow samples that carry a sampled IPv4 record and no header take the flow-record path:
    block-list hits labelled with the agent, counts scaled by the rate; counter samples are
    counted in the metrics."""
    client, pool, rate = "198.51.100.7", "203.0.113.9", 100
    listed = tmp_path / "pools.txt"
    listed.write_text(f"{pool}\n")
    samples = [
        xdr.flow_sample([xdr.sampled_ipv4(client, pool, 40000 + i % 2, 3333, length=120)],
                        seq=i + 1, rate=rate)
        for i in range(6)
    ]  # fmt: skip
    samples += [xdr.flow_sample([xdr.sampled_ipv4(client, "192.0.2.200", 40002, 443)], seq=7,
                                rate=rate)]  # fmt: skip
    counters = [xdr.counter_sample([xdr.generic_interface_counters()], seq=i + 1) for i in range(3)]
    datagrams = [xdr.datagram(samples[:4] + counters[:1], agent=AGENT, seq=1),
                 xdr.datagram(samples[4:] + counters[1:], agent=AGENT, seq=2)]  # fmt: skip
    c = collect(listed)
    m = c.wait_sflow(c.send(datagrams))
    err, got = c.finish()
    _clean(m, err)
    assert m['minewatch_sflow_samples_total{kind="flow"}'] == 7
    assert m['minewatch_sflow_samples_total{kind="counters"}'] == 3
    assert m["minewatch_sflow_packets_total"] == 0  # no raw headers
    assert list(got) == [(client, pool, 3333, "tcp", "mining")]
    h = got[(client, pool, 3333, "tcp", "mining")]
    agg = _agg(h)
    assert "ip-list" in h["evidence"]
    assert agg["sources"] == [f"sflow:{AGENT}"] and agg["sampling"] == [rate]
    assert agg["flow_records"] == 6 and agg["packets_sampled"] == 6
    assert h["packets"] == 6 * rate and h["bytes"] == 6 * 120 * rate
    assert agg["client_ports"] == [40000, 40001]
