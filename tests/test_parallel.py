"""`scan --workers N`: same hits and counts as one process; shards keep flows and subscribers
together; knowledge crosses workers; a dying worker ends the scan with a clear error."""

from __future__ import annotations

import faulthandler
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from blacklist.matcher import Matcher
from detector.hits import FlowHit
from minewatch.lists import build_matcher
from minewatch.scanrun import collect_hits
from pipelines.batch import PACKET_DTYPE, ST_MALFORMED, ST_OK, PacketBatch, Packets, addr_words
from pipelines.parallel import FlowWorker, ParallelScanner, WorkerError
from pipelines.scan import ScanStats, read_batches
from pipelines.shard import address_shard, higher_port_side, shard_packets
from tests.conftest import MINING, SAMPLES, captures, need_shared

BLOCKLIST = SAMPLES / "blocklist.txt"
EXE = Path(sys.executable).parent / "minewatch"


@pytest.fixture(scope="module")
def matcher() -> Matcher:
    m, _ = build_matcher([BLOCKLIST])
    return m


def sample_files() -> list[Path]:
    return sorted(p for p in SAMPLES.iterdir() if p.name.endswith((".pcap", ".pcapng", ".pcap.gz")))


def summary(stats: ScanStats) -> dict[str, Any]:
    """Everything of the summary except the time."""
    return {
        "files": stats.files, "packets": stats.packets, "bytes": stats.bytes,
        "flows": stats.flows, "hits": stats.hits, "truncated": stats.truncated_files,
        "status": dict(stats.status), "class": dict(stats.by_class),
        "evidence": dict(stats.by_evidence), "variant": dict(stats.by_variant),
        "errors": stats.errors,
    }  # fmt: skip


def as_json(hits: list[FlowHit]) -> list[str]:
    return sorted(json.dumps(h.to_json(), sort_keys=True) for h in hits)


def assert_same(files: list[Path], matcher: Matcher, workers: int, **options: Any) -> list[str]:
    one, one_stats = collect_hits(files, matcher, chunk_bytes=options.get("chunk_bytes", 4 << 20))
    many, many_stats = collect_hits(files, matcher, workers=workers, **options)
    assert as_json(many) == as_json(one)
    assert summary(many_stats) == summary(one_stats)
    return as_json(one)


def server_port_sharder(pk: Packets, n: int) -> npt.NDArray[np.int16]:
    """A flow-stable sharder that splits one subscriber's flows by server (lower) port, so that
    tests can put a subscriber's flows into different workers on purpose."""
    low: npt.NDArray[np.int64] = np.minimum(pk["sport"], pk["dport"]).astype(np.int64)
    out = (low % n).astype(np.int16)
    out[pk["status"] != ST_OK] = -1
    return out


def flow_shards(path: Path, sharder: Any, n: int) -> dict[tuple[int, int], int]:
    """(lower port, higher port) → shard, for every flow of a capture."""
    out: dict[tuple[int, int], int] = {}
    for batch, _now in read_batches(path, ScanStats()):
        pk = batch.packets
        lo = np.minimum(pk["sport"], pk["dport"]).tolist()
        hi = np.maximum(pk["sport"], pk["dport"]).tolist()
        for a, b, s in zip(lo, hi, sharder(pk, n).tolist(), strict=True):
            if s >= 0:
                assert out.setdefault((a, b), s) == s  # a flow never changes shard

    return out


@contextmanager
def hang_guard(seconds: float) -> Iterator[None]:
    """Fail loudly (traceback of every thread, exit) instead of hanging the suite."""
    faulthandler.dump_traceback_later(seconds, exit=True)
    try:
        yield
    finally:
        faulthandler.cancel_dump_traceback_later()


def leftover_shm(pid: int) -> list[str]:
    return [n for n in os.listdir("/dev/shm") if n.startswith(f"minewatch_{pid}_")]


# -- the shard function ---------------------------------------------------------------------

_ADDR = st.one_of(
    st.integers(0, 2**32 - 1).map(lambda v: (0, 0xFFFF_0000_0000 | v)),
    st.tuples(st.integers(0, 2**64 - 1), st.integers(0, 2**64 - 1)),
)
_ENDPOINT = st.tuples(_ADDR, st.integers(0, 65535))


def _packets(rows: list[tuple[tuple[int, int], int, tuple[int, int], int, int]]) -> Packets:
    pk = np.zeros(len(rows), dtype=PACKET_DTYPE)
    for i, ((shi, slo), sport, (dhi, dlo), dport, status) in enumerate(rows):
        pk[i]["status"], pk[i]["proto"] = status, 6
        pk[i]["src_hi"], pk[i]["src_lo"], pk[i]["sport"] = shi, slo, sport
        pk[i]["dst_hi"], pk[i]["dst_lo"], pk[i]["dport"] = dhi, dlo, dport
    return pk


@settings(max_examples=300, deadline=None)
@given(
    flows=st.lists(st.tuples(_ENDPOINT, _ENDPOINT), min_size=1, max_size=40),
    n=st.integers(1, 17),
)
def test_shard_is_flow_stable_and_in_range(
    flows: list[tuple[tuple[tuple[int, int], int], tuple[tuple[int, int], int]]], n: int
) -> None:
    rows = []
    for (a, ap), (b, bp) in flows:
        rows += [(a, ap, b, bp, ST_OK), (b, bp, a, ap, ST_OK)]  # both directions
    pk = _packets(rows)
    shards = shard_packets(pk, n)
    assert ((shards >= 0) & (shards < n)).all()
    assert (shards[0::2] == shards[1::2]).all()
    side = higher_port_side(pk)
    same_end = (pk["sport"] == pk["dport"]) & (pk["src_lo"] == pk["dst_lo"])
    same_end &= pk["src_hi"] == pk["dst_hi"]
    assert ((side[0::2] != side[1::2]) | same_end[0::2]).all()  # one side, seen from both ends
    for i, ((a, ap), (b, bp)) in enumerate(flows):
        sub = a if ap > bp else b if bp > ap else min(a, b)
        assert shards[2 * i] == address_shard(*sub, n)  # the subscriber's, whatever the peer


@given(sub=_ADDR, peers=st.lists(_ENDPOINT, min_size=1, max_size=20),
       port=st.integers(1024, 65535), n=st.integers(1, 9))  # fmt: skip
def test_one_subscriber_one_shard(
    sub: tuple[int, int], peers: list[tuple[tuple[int, int], int]], port: int, n: int
) -> None:
    """Every flow of a subscriber on an ephemeral port lands in the same shard."""
    rows = [(sub, port, addr, min(p, port - 1), ST_OK) for addr, p in peers]
    shards = shard_packets(_packets(rows), n)
    assert len(set(shards.tolist())) == 1


def test_shard_skips_undecoded_packets() -> None:
    a, b = addr_words("10.0.0.1"), addr_words("192.0.2.1")
    pk = _packets([(a, 50000, b, 443, ST_OK), (a, 50000, b, 443, ST_MALFORMED)])
    assert shard_packets(pk, 4).tolist()[1] == -1
    with pytest.raises(ValueError):
        shard_packets(pk, 0)


# -- same results as one process --------------------------------------------------------------


@pytest.mark.parametrize("workers", [2, 3])
def test_samples_same_as_one_process(matcher: Matcher, workers: int) -> None:
    got = assert_same(sample_files(), matcher, workers)
    assert len(got) > 20


def test_samples_small_chunks_small_ring(matcher: Matcher) -> None:
    """Many chunks per file: ring slots reused and regrown, knowledge forwarded mid-file."""
    assert_same(sample_files(), matcher, 3, chunk_bytes=1024, ring=2)


def test_broken_files_same_as_one_process(matcher: Matcher, tmp_path: Path) -> None:
    """A capture that breaks part-way keeps the hits read so far; the next file still counts."""
    good = (SAMPLES / "xmrig_login.pcap").read_bytes()
    pos = 24
    for _ in range(6):  # the 7th record header gets an impossible length
        pos += 16 + int.from_bytes(good[pos + 8 : pos + 12], "little")
    bad = bytearray(good)
    bad[pos + 8 : pos + 12] = (0x7FFF_FFFF).to_bytes(4, "little")
    (tmp_path / "a_corrupt.pcap").write_bytes(bytes(bad))
    (tmp_path / "b_notes.pcap").write_text("not a capture\n")
    (tmp_path / "c_killed.pcap").write_bytes(good[: len(good) - 7])  # a cut-off last record
    files = [*sorted(tmp_path.iterdir()), SAMPLES / "pair_cache.pcap"]
    assert_same(files, matcher, 2)
    _, stats = collect_hits(files, matcher, workers=2)
    assert len(stats.errors) == 2 and stats.truncated_files == 1 and stats.files == 4


def test_real_captures_same_as_one_process() -> None:
    need_shared()
    m, _ = build_matcher()
    got = assert_same(captures(MINING), m, 2)
    assert len(got) > 500


def test_real_captures_small_chunks() -> None:
    need_shared()
    m, _ = build_matcher()
    assert_same(captures(MINING), m, 3, chunk_bytes=64 << 10, ring=3)


# -- memories across flows and workers --------------------------------------------------------


def _evidence(hits: list[FlowHit], server_port: int) -> list[str]:
    (hit,) = [h for h in hits if h.server_port == server_port]
    return [str(e) for e in hit.evidence]


@pytest.mark.parametrize("workers", [2, 3])
@pytest.mark.parametrize("split", [False, True], ids=["subscriber-shards", "split-flows"])
def test_pair_cache_across_workers(matcher: Matcher, workers: int, split: bool) -> None:
    path = SAMPLES / "pair_cache.pcap"
    options: dict[str, Any] = {"sharder": server_port_sharder} if split else {}
    sharder = server_port_sharder if split else shard_packets
    shards = flow_shards(path, sharder, workers)
    assert (shards[(3333, 47110)] != shards[(3334, 47124)]) == split
    hits, _ = collect_hits([path], matcher, workers=workers, **options)
    assert "stratum" in _evidence(hits, 3333)
    assert "pair-cache" in _evidence(hits, 3334)


@pytest.mark.parametrize("workers", [2, 3])
@pytest.mark.parametrize("split", [False, True], ids=["subscriber-shards", "split-flows"])
def test_dns_learning_across_workers(matcher: Matcher, workers: int, split: bool) -> None:
    path = SAMPLES / "dns_pool_then_tls.pcap"
    options: dict[str, Any] = {"sharder": server_port_sharder} if split else {}
    sharder = server_port_sharder if split else shard_packets
    shards = flow_shards(path, sharder, workers)
    assert (shards[(53, 41234)] != shards[(45700, 52010)]) == split
    hits, _ = collect_hits([path], matcher, workers=workers, **options)
    assert "dns" in _evidence(hits, 53)
    assert _evidence(hits, 45700)[0] == "dns-learned"


def test_knowledge_moves_between_flow_workers(matcher: Matcher) -> None:
    """The worker core: what A learns from a DNS answer, B knows after absorbing it."""
    a, b = FlowWorker(matcher, 0), FlowWorker(matcher, 1)
    a.begin("dns")
    for batch, now in read_batches(SAMPLES / "dns_pool_then_tls.pcap", ScanStats()):
        keep = batch.packets.copy()
        keep["status"][np.minimum(keep["sport"], keep["dport"]) != 53] = 255  # DNS only
        a.feed(PacketBatch(batch.buf, batch.records, keep), now)
    a.end()
    knowledge = a.take_knowledge()
    assert knowledge is not None
    learned = {addr for addr, _item in knowledge.learned}
    assert addr_words("203.0.113.45") in learned
    assert a.take_knowledge() is None  # taken once
    b.absorb(knowledge)
    item = b.ctx.learned.lookup(addr_words("203.0.113.45"), now)
    assert item is not None and "minergate" in item.why
    assert b.take_knowledge() is None  # absorbed knowledge is not sent on again
    assert a.first_uid != b.first_uid


def test_swap_matcher_reaches_workers() -> None:
    """Workers start with an empty list; the swapped-in built-in list names the SNI's pool."""
    builtin, _ = build_matcher()
    hits: list[FlowHit] = []
    with ParallelScanner(Matcher([]), hits.append, workers=2) as scanner:
        scanner.scan([SAMPLES / "stratum_tls_sni.pcap"])
        assert not hits
    with ParallelScanner(Matcher([]), hits.append, workers=2) as scanner:
        scanner.start()
        scanner.swap_matcher(builtin)
        scanner.scan([SAMPLES / "stratum_tls_sni.pcap"])
    assert [str(h.evidence[0]) for h in hits] == ["sni"]


# -- failures ------------------------------------------------------------------------------------


def test_killed_worker_fails_the_scan_cleanly(matcher: Matcher) -> None:
    files = sample_files() * 20
    scanner = ParallelScanner(matcher, lambda hit: None, workers=2, chunk_bytes=1024, ring=2)
    calls = 0

    def progress(_n: int) -> None:
        nonlocal calls
        calls += 1
        if calls == 5:
            os.kill(scanner.worker_pids[1], signal.SIGKILL)

    scanner.progress = progress
    with hang_guard(120), pytest.raises(WorkerError, match=r"worker 1 .*killed by SIGKILL"):
        scanner.scan(files)
    assert calls >= 5
    assert not scanner.worker_pids  # all joined
    assert not leftover_shm(os.getpid())


def test_stuck_worker_is_an_error_not_a_hang(matcher: Matcher) -> None:
    scanner = ParallelScanner(
        matcher, lambda hit: None, workers=2, chunk_bytes=1024, ring=2, stall_timeout=3
    )
    calls = 0

    def progress(_n: int) -> None:
        nonlocal calls
        calls += 1
        if calls == 3:
            os.kill(scanner.worker_pids[0], signal.SIGSTOP)

    scanner.progress = progress
    with hang_guard(120), pytest.raises(WorkerError, match="sent nothing for 3 s"):
        scanner.scan(sample_files() * 5)
    assert not scanner.worker_pids
    assert not leftover_shm(os.getpid())


class ExplodingMatcher(Matcher):
    """Raises inside the worker, on the first flow it is asked about."""

    def lookup(self, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("matcher exploded")

    def match_domain(self, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("matcher exploded")


def test_worker_exception_is_reported_with_its_traceback() -> None:
    bad = ExplodingMatcher([])
    with hang_guard(120), pytest.raises(WorkerError) as info:
        collect_hits([SAMPLES / "xmrig_login.pcap"], bad, workers=2)
    text = str(info.value)
    assert "failed while scanning" in text and "xmrig_login.pcap" in text
    assert "RuntimeError: matcher exploded" in text
    assert not leftover_shm(os.getpid())


def test_constructor_checks() -> None:
    with pytest.raises(ValueError):
        ParallelScanner(Matcher([]), lambda hit: None, workers=0)
    with pytest.raises(ValueError):
        ParallelScanner(Matcher([]), lambda hit: None, workers=2, ring=0)


# -- the command ---------------------------------------------------------------------------------


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(EXE), "scan", "--no-store", "--no-progress", "--format", "jsonl", *args],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip


def _summary_lines(stderr: str) -> list[str]:
    lines = [x for x in stderr.splitlines() if x.strip()]
    return [x.split(" in ")[0] if x.startswith("scanned") else x for x in lines]


def test_cli_workers_same_output() -> None:
    args = ("--blocklist", str(BLOCKLIST), str(SAMPLES))
    one, two, auto = _cli(*args), _cli("--workers", "2", *args), _cli("--workers", "0", *args)
    for res in (one, two, auto):
        assert res.returncode == 0, res.stderr
    assert sorted(two.stdout.splitlines()) == sorted(one.stdout.splitlines())
    assert _summary_lines(two.stderr) == _summary_lines(one.stderr)
    assert sorted(auto.stdout.splitlines()) == sorted(one.stdout.splitlines())


def _descendants(pid: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(entry))
    out: set[int] = set()
    todo = [pid]
    while todo:
        for c in children.get(todo.pop(), []):
            out.add(c)
            todo.append(c)
    return out


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_cli_interrupt_leaves_nothing_behind(sig: signal.Signals) -> None:
    files = [str(p) for p in sample_files()] * 400  # a long scan
    proc = subprocess.Popen(
        [str(EXE), "scan", "--no-store", "--no-progress", "--workers", "2", "--format", "jsonl",
         *files],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        family: set[int] = set()
        while time.monotonic() < deadline and len(family) < 3:  # forkserver + 2 workers
            family |= _descendants(proc.pid)
            time.sleep(0.05)
        assert len(family) >= 3, "workers did not start"
        time.sleep(0.5)
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode != 0
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(Path(f"/proc/{p}").exists() for p in family):
        time.sleep(0.05)
    alive = [p for p in family if Path(f"/proc/{p}").exists()]
    assert not alive, f"orphaned processes {alive}: {err[-2000:]}"
    assert not leftover_shm(proc.pid)
