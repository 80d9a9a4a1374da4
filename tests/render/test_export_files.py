"""`minewatch export` and `export-scheduler` as real processes on SQLite and PostgreSQL:
atomic writes, untouched files when nothing changed, rewrites on a new version, SIGTERM."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipelines.exporters.files import ExportError, FileJob, jobs_from_config, write_atomic
from tests.conftest import Database

from .support import commit, entries, later, read_txt


def cli(command: str, *args: str) -> list[str]:
    """The click command run as its own process (registered in `minewatch` by the lead)."""
    code = f"from minewatch.cli_export import {command}; {command}()"
    return [sys.executable, "-c", code, *args]


def test_export_writes_atomically_and_keeps_unchanged_files(db: Database, tmp_path: Path) -> None:
    commit(db.engine, "feed-a", entries(["5.9.0.10", "45.9.100.0/24"]))
    (tmp_path / "out").mkdir()
    out = tmp_path / "out" / "mining.txt"
    run = subprocess.run(cli("export_cmd", "--format", "txt", "--out", str(out), "--db", db.url),
                         capture_output=True, text=True, check=False, timeout=120)  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert read_txt(out.read_text()) == {"5.9.0.10", "45.9.100.0/24"}
    sha = hashlib.sha256(out.read_bytes()).hexdigest()
    assert f"sha256 {sha}" in run.stdout and "version 1." in run.stdout
    os.utime(out, (1_000_000, 1_000_000))
    again = subprocess.run(cli("export_cmd", "--format", "txt", "--out", str(out), "--db", db.url),
                           capture_output=True, text=True, check=False, timeout=120)  # fmt: skip
    assert "unchanged" in again.stdout
    assert out.stat().st_mtime == 1_000_000
    assert [p.name for p in out.parent.iterdir()] == ["mining.txt"]  # no temp files left
    bad = subprocess.run(cli("export_cmd", "--format", "edl", "--type", "endpoint", "--out",
                             str(out), "--db", db.url),
                         capture_output=True, text=True, check=False, timeout=120)  # fmt: skip
    assert bad.returncode == 2 and "cannot express type endpoint" in bad.stderr


def test_failed_write_leaves_the_old_file(tmp_path: Path) -> None:
    path = tmp_path / "list.nft"
    path.write_text("old\n")

    def broken() -> Iterator[bytes]:
        yield b"half of a new "
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        write_atomic(path, broken())
    assert path.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["list.nft"]
    assert write_atomic(path, [b"new\n"]) is True
    assert write_atomic(path, [b"new\n"]) is False


def test_job_config_errors_are_clear(tmp_path: Path) -> None:
    ok = jobs_from_config([{"format": "nft", "type": "ip", "out": str(tmp_path / "a.nft")}])
    assert ok == [FileJob("nft", "ip", tmp_path / "a.nft")]
    for items, msg in (
        ([{"format": "pdf", "out": str(tmp_path / "a")}], "unknown format"),
        ([{"format": "edl", "type": "endpoint", "out": str(tmp_path / "a")}], "cannot express"),
        ([{"format": "txt", "out": "/nonexistent/dir/x"}], "does not exist"),
        ([{"format": "txt", "out": str(tmp_path / "a"), "every": 3}], "unknown keys"),
        ([{"format": "txt", "out": str(tmp_path / "a")}] * 2, "same file"),
        (["txt"], "expected a mapping"),
    ):
        with pytest.raises(ExportError, match=msg):
            jobs_from_config(items)  # type: ignore[arg-type]


def _wait(pred: object, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():  # type: ignore[operator]
            return True
        time.sleep(0.1)
    return False


def test_scheduler_rewrites_on_new_version_and_stops_on_sigterm(
    db: Database, tmp_path: Path
) -> None:
    commit(db.engine, "feed-a", entries(["5.9.0.10", "45.10.1.1:3333"]))
    nft, ipset = tmp_path / "ip.nft", tmp_path / "ep.ipset"
    config = tmp_path / "exports.yaml"
    config.write_text(
        f"every: 1\ndb: {db.url}\nexports:\n"
        f"  - {{format: nft, type: ip, out: {nft}}}\n"
        f"  - {{format: ipset, type: endpoint, out: {ipset}}}\n"
    )
    proc = subprocess.Popen(cli("export_scheduler_cmd", "--config", str(config)),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert _wait(lambda: nft.exists() and ipset.exists())
        assert "5.9.0.10" in nft.read_text() and "45.10.1.1,tcp:3333" in ipset.read_text()
        ep_mtime = ipset.stat().st_mtime_ns
        commit(db.engine, "feed-a", entries(["5.9.0.11", "45.10.1.1:3333"]), at=later(1))
        assert _wait(lambda: "5.9.0.11" in nft.read_text())
        time.sleep(1.5)  # another pass: the endpoint list did not change, its file stays
        assert ipset.stat().st_mtime_ns == ep_mtime
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "stopped" in err
    assert out.count(f"{nft}: written") == 2


def test_scheduler_thread_for_a_service_lifespan(db: Database, tmp_path: Path) -> None:
    from pipelines.exporters.scheduler import ExportScheduler

    commit(db.engine, "feed-a", entries(["5.9.0.10"]))
    out = tmp_path / "l.txt"
    lines: list[str] = []
    sched = ExportScheduler(db.engine, jobs_from_config([{"format": "txt", "out": str(out)}]),
                            every=0.2, cache_dir=tmp_path / "c", log=lines.append)  # fmt: skip
    sched.start()
    try:
        assert _wait(lambda: out.exists())
        commit(db.engine, "feed-a", entries(["5.9.0.12"]), at=later(1))
        assert _wait(lambda: "5.9.0.12" in out.read_text())
    finally:
        sched.stop()
    assert sched._thread is None and len([ln for ln in lines if "written" in ln]) == 2
    (tmp_path / "gone").mkdir()
    bad = ExportScheduler(db.engine, [FileJob("txt", "ip", tmp_path / "gone" / "x")],
                          cache_dir=tmp_path / "c2")  # fmt: skip
    (tmp_path / "gone").rmdir()
    report = bad.run_once()  # a failing file is reported, not raised
    assert report.errors and "FileNotFoundError" in report.errors[0]
