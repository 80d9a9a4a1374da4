"""`python -m pipelines.warmup` (run by `make install`) leaves nothing for a real scan to compile.

A cold first scan compiles the kernels for ~15 s at ~340 MB resident; the warm-up exists so
that no user scan does. The check runs the warm-up in a fresh numba cache, then scans every
shared capture with the real CLI and requires the cache to be exactly as the warm-up left it
(a compile adds a `.nbc` file and rewrites the function's `.nbi` index). It fails when a new
kernel reaches the scan path without reaching the warm-up.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import BENIGN, MINING, need_shared

BIN = Path(sys.executable).parent


def _cache(root: Path) -> dict[str, tuple[int, int]]:
    return {
        str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in root.rglob("*")
        if p.is_file()
    }


@pytest.mark.slow
def test_scan_after_warm_up_compiles_nothing(tmp_path: Path) -> None:
    need_shared()
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "numba")}
    warm = subprocess.run(
        [sys.executable, "-m", "pipelines.warmup"], env=env, capture_output=True, text=True,
        timeout=600, check=False,
    )  # fmt: skip
    assert warm.returncode == 0, warm.stderr
    assert "sample captures scanned" in warm.stdout
    before = _cache(tmp_path / "numba")
    assert any(name.endswith(".nbc") for name in before), "the warm-up cached nothing"
    scan = subprocess.run(
        [str(BIN / "minewatch"), "scan", "--no-store", "--no-progress", "--format", "jsonl",
         str(MINING), str(BENIGN)],
        env=env, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert scan.returncode == 0, scan.stderr
    assert scan.stdout.count("\n") > 500  # the scan did reach the detectors
    after = _cache(tmp_path / "numba")
    new = sorted(set(after) - set(before))
    changed = sorted(k for k in before if k in after and after[k] != before[k])
    assert not new and not changed, f"compiled by the scan, not the warm-up: {new + changed}"


def test_warm_up_needs_captures(tmp_path: Path) -> None:
    """An empty samples folder is an error, not a silent cold cache."""
    proc = subprocess.run(
        [sys.executable, "-m", "pipelines.warmup", str(tmp_path)], capture_output=True,
        text=True, timeout=300, check=False,
    )  # fmt: skip
    assert proc.returncode == 1
    assert "no captures" in proc.stderr
