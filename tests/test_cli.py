"""The `minewatch` command as a user runs it: real process, real files, real database."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import SAMPLES

EXE = shutil.which("minewatch", path=str(Path(sys.executable).parent)) or "minewatch"


def run(*args: str, db: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    if db is not None:
        env["MINEWATCH_DB"] = f"sqlite:///{db}"
    return subprocess.run(
        [EXE, *args], capture_output=True, text=True, env=env, timeout=300, check=False
    )


def test_scan_jsonl_fields_and_store_roundtrip(tmp_path: Path) -> None:
    db = tmp_path / "hits.db"
    res = run(
        "scan",
        "--format",
        "jsonl",
        str(SAMPLES / "xmrig_login.pcap"),
        str(SAMPLES / "benign_jsonrpc_echo.pcap"),
        db=db,
    )
    assert res.returncode == 0, res.stderr
    lines = [json.loads(x) for x in res.stdout.splitlines()]
    assert len(lines) == 1
    hit = lines[0]
    for key in (
        "file",
        "first_ts",
        "last_ts",
        "transport",
        "client_ip",
        "client_port",
        "server_ip",
        "server_port",
        "class",
        "evidence",
        "variant",
        "confidence",
        "detail",
        "packets",
        "bytes",
    ):
        assert key in hit
    assert hit["class"] == "mining" and hit["variant"] == "stratum-cryptonote"
    assert hit["detail"]["agent"].startswith("XMRig/6.21.0")
    assert "scanned 2 file(s)" in res.stderr and "packets/s" in res.stderr
    stored = run("hits", "--format", "jsonl", db=db)
    assert stored.returncode == 0, stored.stderr
    assert [json.loads(x) for x in stored.stdout.splitlines()] == lines
    assert run("hits", "--since", "2099-01-01", "--format", "jsonl", db=db).stdout == ""
    table = run("hits", db=db)
    assert "stratum-cryptonote" in table.stdout


def test_scan_finds_nothing_exits_zero(tmp_path: Path) -> None:
    res = run("scan", "--no-store", str(SAMPLES / "benign_db_result.pcap"))
    assert res.returncode == 0
    assert "no hits" in res.stdout


def test_errors_are_clear_and_nonzero(tmp_path: Path) -> None:
    bogus = tmp_path / "notes.pcap"
    bogus.write_text("these are my notes, not a capture\n")
    res = run("scan", "--no-store", str(bogus), str(SAMPLES / "xmrig_login.pcap"))
    assert res.returncode == 2
    assert "not a pcap or pcapng file" in res.stderr
    assert "stratum-cryptonote" in res.stdout  # the readable file was still scanned
    missing = run("scan", "--no-store", str(tmp_path / "nope.pcap"))
    assert missing.returncode == 2 and "no such file" in missing.stderr
    bad_opt = run("scan", "--format", "xml", str(SAMPLES / "xmrig_login.pcap"))
    assert bad_opt.returncode == 2 and "xml" in bad_opt.stderr
    bad_since = run("hits", "--since", "yesterday-ish", db=tmp_path / "x.db")
    assert bad_since.returncode == 2 and "not a time" in bad_since.stderr


def test_unsupported_link_type_is_an_error(tmp_path: Path) -> None:
    import struct

    f = tmp_path / "wifi.pcap"
    f.write_bytes(
        struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 127)
        + struct.pack("<IIII", 1, 0, 4, 4)
        + b"\x00" * 4
    )
    res = run("scan", "--no-store", str(f))
    assert res.returncode == 2
    assert "unsupported link type 127" in res.stderr


@pytest.mark.parametrize("name", ["stratum_v1_btc.pcap.gz", "multi_if.pcapng"])
def test_directory_and_compressed_inputs(name: str) -> None:
    res = run("scan", "--no-store", "--format", "jsonl", str(SAMPLES / name))
    assert res.returncode == 0, res.stderr
    assert any(json.loads(x)["variant"].startswith("stratum-v1") for x in res.stdout.splitlines())
