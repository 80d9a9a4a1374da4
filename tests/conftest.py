"""Shared fixtures: where the real data lives, and a scan helper over the real pipeline."""

from __future__ import annotations

import csv
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = (ROOT.parent / "shared" / "data").resolve()
SAMPLES = ROOT / "samples"
MINING = SHARED / "pcaps" / "mining"
BENIGN = SHARED / "pcaps" / "benign"
GROUNDTRUTH = SHARED / "groundtruth" / "mining-flows.tsv"


def need_shared() -> Path:
    if not SHARED.is_dir():
        pytest.skip(f"SKIPPED LOUDLY: shared real data not found at {SHARED}")
    return SHARED


def need_tshark() -> str:
    exe = shutil.which("tshark")
    if exe is None:
        pytest.skip(
            "SKIPPED LOUDLY: tshark (the independent oracle) is not installed; .ci/run installs it"
        )
    return exe


def captures(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix in (".pcap", ".pcapng", ".cap"))


def groundtruth() -> Iterator[dict[str, str]]:
    with GROUNDTRUTH.open(newline="") as fh:
        yield from csv.DictReader(fh, delimiter="\t")


@pytest.fixture(scope="session")
def shared() -> Path:
    return need_shared()
