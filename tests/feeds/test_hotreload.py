"""Hot reload with the real scan pipeline, and `minewatch scan --db` using the live list.

The scanner runs in a thread over two copies of `samples/blocklist_only.pcap` (TLS data to pool
addresses that only a block list can name). While it waits after the first capture, the list is
refreshed by the real console script (`minewatch feeds import`); the scanner's own progress hook
(`MatcherProvider.hook`) polls and swaps the new version in through `DetectContext.swap_matcher`
between the two files. Flows of the first copy are not flagged, flows of the second are, with
the new source named on every hit.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
import time
from pathlib import Path

from blacklist.provider import MatcherProvider
from blacklist.versions import head_version
from detector.context import DetectContext
from detector.hits import FlowHit
from pipelines.scan import Scanner

from .support import SAMPLES, Database, minewatch


def import_lab_list(db: Database) -> subprocess.CompletedProcess[str]:
    args = ["--format", "plain", "--source", "lab", "--allow-private", "--confidence", "0.8"]
    return minewatch("feeds", "import", str(SAMPLES / "blocklist.txt"), *args, db=db)


def test_running_scanner_picks_up_a_refreshed_list(db: Database, tmp_path: Path) -> None:
    first, second = tmp_path / "before.pcap", tmp_path / "after.pcap"
    shutil.copy(SAMPLES / "blocklist_only.pcap", first)
    shutil.copy(SAMPLES / "blocklist_only.pcap", second)
    provider = MatcherProvider(db.engine)
    ctx = DetectContext(provider.load())
    start_version = ctx.matcher.version
    hits: list[FlowHit] = []
    scanner = Scanner(ctx, hits.append)
    progress = provider.hook(ctx, every=0.0)  # what a pipeline passes as its progress callback
    first_done, refreshed = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def scan() -> None:
        try:
            scanner.scan_file(first)
            first_done.set()
            assert refreshed.wait(120)
            progress(0)  # between files: the scanner's hook polls and swaps
            scanner.scan_file(second)
        except BaseException as exc:  # surfaced in the main thread
            errors.append(exc)
            first_done.set()

    thread = threading.Thread(target=scan, name="scanner")
    thread.start()
    assert first_done.wait(300)
    assert thread.is_alive() and head_version(db.engine) is None
    res = import_lab_list(db)
    assert res.returncode == 0, res.stderr
    assert "lab: 5 entries, 1 problems: version 1" in res.stdout
    refreshed.set()
    thread.join(300)
    assert not errors, errors
    assert provider.version_id == 1 and ctx.matcher.version != start_version
    assert ctx.allow is provider.allow  # the allowlist index travels with the matcher
    assert [h.source for h in hits] == ["after.pcap"] * 3
    assert sorted((h.server_ip, h.server_port) for h in hits) == [
        ("198.51.100.200", 14444), ("2001:db8:99::c8", 3333), ("203.0.113.99", 5555)
    ]  # fmt: skip
    assert {h.detail["list_source"] for h in hits} == {"lab"}
    assert all("ip-list" in [str(e) for e in h.evidence] for h in hits)


def test_background_compile_swaps_only_finished_matchers(db: Database) -> None:
    class Target:
        def __init__(self) -> None:
            self.swapped: list[int | None] = []

        def swap_matcher(self, matcher: object, allow: object = None) -> bool:
            assert allow is provider.allow_for(provider.matcher)
            self.swapped.append(provider.version_id)
            return True

    provider = MatcherProvider(db.engine, builtin=False)
    provider.load()
    target = Target()
    hook = provider.hook(target, every=0.0, background=True)
    hook(0)  # nothing changed: a compile thread finds nothing to do
    assert res_ok(import_lab_list(db))
    deadline = time.monotonic() + 60
    while not target.swapped and time.monotonic() < deadline:
        hook(0)  # first call starts the compile, a later one swaps the finished matcher
        provider.close()
    assert target.swapped == [1] and len(provider.matcher) == 5
    hook(0)
    provider.close()
    hook(0)
    provider.close()
    assert target.swapped == [1]  # no version change, no swap


def res_ok(res: subprocess.CompletedProcess[str]) -> bool:
    assert res.returncode == 0, res.stderr
    return True


def test_scan_uses_the_database_list(db: Database, tmp_path: Path) -> None:
    cap = str(SAMPLES / "blocklist_only.pcap")
    before = minewatch("scan", "--no-store", "--format", "jsonl", cap, db=db)
    assert before.returncode == 0 and before.stdout == "", before.stderr
    assert res_ok(import_lab_list(db))
    # --db on the command line (no environment) names the list database as well
    after = minewatch("scan", "--no-store", "--format", "jsonl", "--db", db.url, cap)
    assert after.returncode == 0, after.stderr
    hits = [json.loads(x) for x in after.stdout.splitlines()]
    assert len(hits) == 3 and {h["detail"]["list_source"] for h in hits} == {"lab"}
    assert "list version 1 from the database: 5 entries" in after.stderr


def test_scan_without_a_list_database_neither_creates_nor_fails(tmp_path: Path) -> None:
    missing = tmp_path / "nothing-here.db"
    cap = str(SAMPLES / "xmrig_login.pcap")
    res = minewatch("scan", "--no-store", "--db", f"sqlite:///{missing}", cap)
    assert res.returncode == 0, res.stderr
    assert not missing.exists()
    down = minewatch("scan", "--no-store", "--db", "postgresql+psycopg://postgres@127.0.0.1:1/x",
                     "--format", "jsonl", cap)  # fmt: skip
    assert down.returncode == 0, down.stderr
    assert "list database not readable (OperationalError)" in down.stderr
    assert len(down.stdout.splitlines()) == 1  # the stratum hit is still found
