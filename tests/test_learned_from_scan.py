"""Pool addresses learned on the wire enter the `learned` block-list source (issue 3 §6):
Stratum-confirmed servers and DNS answers for pool names, from either scan path."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import SAMPLES

EXE = shutil.which("minewatch", path=str(Path(sys.executable).parent)) or "minewatch"


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "MINEWATCH_DB"}
    return subprocess.run(
        [EXE, *args], capture_output=True, text=True, env=env, timeout=300, check=False
    )


@pytest.mark.parametrize("workers", ["1", "2"])
def test_scan_teaches_the_learned_source(tmp_path: Path, workers: str) -> None:
    db = f"sqlite:///{tmp_path / 'w.db'}"
    before = _run("feeds", "check", "203.0.113.45", "--db", db)
    assert before.returncode == 1, before.stdout + before.stderr
    scan = _run(
        "scan",
        "--db",
        db,
        "--workers",
        workers,
        "--format",
        "jsonl",
        str(SAMPLES / "dns_pool_then_tls.pcap"),
        str(SAMPLES / "xmrig_login.pcap"),
    )
    assert scan.returncode == 0, scan.stderr
    dns = _run("feeds", "check", "203.0.113.45", "--db", db)  # A record of xmr.pool.minergate.com
    assert dns.returncode == 0, dns.stdout + dns.stderr
    assert "learned" in dns.stdout and "minergate" in dns.stdout
    aaaa = _run("feeds", "check", "2001:db8:99::45", "--db", db)
    assert aaaa.returncode == 0, aaaa.stdout
    stratum = _run("feeds", "check", "203.0.113.60", "--db", db)  # XMRig login confirmed it
    assert stratum.returncode == 0 and "stratum" in stratum.stdout, stratum.stdout
    client = _run("feeds", "check", "10.20.21.4", "--db", db)  # the miner is not a pool
    assert client.returncode == 1
